"""Fitting a conversation into a model's context: the oldest turns go first.

A chat front end renders the whole conversation through the chat template each turn. Once
that no longer fits the context (with room left for the answer), we drop the oldest
user/assistant exchanges -- never the system prompt, never the new message -- and say how
many went. When the new message alone does not fit, the error says so and what to do; the
caller keeps that message out of the history so the next one is not refused as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitnet_studio.errors import StudioError

Message = dict[str, str]


@dataclass
class FittedPrompt:
    ids: list[int]
    messages: list[Message]  # what was rendered: system (if any), kept turns, the new message
    dropped_turns: int  # user/assistant exchanges left out, oldest first
    limit: int  # the context it was fitted to
    reserve: int  # tokens kept free for the answer


def context_limit(session: Any) -> int:
    """Tokens a session can hold: the model's positions, or its KV cache if that is smaller."""
    limit = int(session.config.max_position)
    n_ctx = getattr(session, "n_ctx", None)
    return min(limit, int(n_ctx)) if n_ctx else limit


def answer_reserve(limit: int, max_tokens: int) -> int:
    """Tokens kept free for the answer: the budget, but at most a quarter of the context
    (a 256-token budget must not make a 256-token context unusable)."""
    return max(1, min(max_tokens, limit // 4))


def fit_conversation(
    messages: Sequence[Message],
    encode: Callable[[list[Message]], list[int]],
    limit: int,
    reserve: int,
    source: str | Path | None = None,
) -> FittedPrompt:
    """The longest suffix of the conversation whose rendering leaves ``reserve`` tokens free.

    ``messages``: an optional leading system message, then user/assistant turns ending with
    the new user message. ``encode`` renders and tokenizes a message list. Raises
    StudioError (naming ``source``) when the system prompt and the new message alone do not
    fit.
    """
    msgs = list(messages)
    system = msgs[:1] if msgs and msgs[0].get("role") == "system" else []
    turns = msgs[len(system) :]
    if not turns or turns[-1].get("role") != "user":
        raise ValueError("the conversation must end with the new user message")
    history, new = turns[:-1], turns[-1]
    budget = limit - reserve
    # Exchanges start at a user message; drop whole exchanges so roles keep alternating.
    starts = [i for i, m in enumerate(history) if m.get("role") == "user"] + [len(history)]
    if not starts or starts[0] != 0:
        starts = [0, *starts]

    def attempt(k: int) -> tuple[list[Message], list[int]]:
        kept = system + history[starts[k] :] + [new]
        return kept, encode(kept)

    kept, ids = attempt(0)
    if len(ids) <= budget:
        return FittedPrompt(ids, kept, 0, limit, reserve)
    last_kept, last_ids = attempt(len(starts) - 1)
    if len(last_ids) > budget:
        alone = len(last_ids)
        what = "this message and the system prompt" if system else "this message"
        raise StudioError(
            source,
            f"the prompt ({alone} tokens: {what}) does not fit the {limit}-token context with "
            f"{reserve} tokens left for the answer: shorten it"
            + (" or the system prompt" if system else "")
            + ", or lower the answer's token budget",
        )
    # Fewer turns never render longer: bisect for the fewest exchanges to drop (a long
    # conversation costs a few renders, not one per turn).
    lo, hi, best = 0, len(starts) - 1, (last_kept, last_ids)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        kept, ids = attempt(mid)
        if len(ids) <= budget:
            hi, best = mid, (kept, ids)
        else:
            lo = mid
    return FittedPrompt(best[1], best[0], hi, limit, reserve)
