"""Generation: prompt ids in, a stream of token events out, one plain loop.

    prefill the prompt (in chunks, checking ``cancel`` between them)
    repeat: sample a token from the last logits -> report it -> stop? -> decode it

``cancel`` is checked before every decode step, so a stop takes effect within one token.
With ``reuse=True`` a session that keeps its token history (``tokens`` and ``truncate``, as the
native one does) is not emptied: the prompt is compared with what its KV cache holds, the cache
is cut to the common prefix and only the rest is prefilled -- the next turn of a chat costs its
new tokens, not the whole conversation again. Where the chat template re-renders earlier turns
differently the common prefix is simply shorter (nothing is assumed).
Generation ends at an end-of-generation id (not shown), a stop string (not shown), the token
budget, the model's context, or cancel. Text is streamed only once it is complete: never
half a UTF-8 character, never the beginning of what may turn out to be a stop string.
The concatenated ``TokenEvent.text`` always equals ``DoneEvent.text``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from bitnet_studio.engine.backend import Session
from bitnet_studio.engine.metrics import rss_mb, tokens_per_s
from bitnet_studio.engine.sampling import Sampler, SamplingParams
from bitnet_studio.errors import StudioError
from bitnet_studio.models.tokenizer import Tokenizer


@dataclass
class TokenEvent:
    id: int
    text: str  # newly complete text (may be "" while held back)
    logprob: float  # model's log p(id)
    top: list[tuple[int, float]]  # most likely alternatives (id, p), for the UI
    index: int = 0  # 0-based position among generated tokens
    # p of ``id`` and of each ``top`` id at the sampling temperature (None when greedy)
    tempered: tuple[float, list[float]] | None = None


@dataclass
class DoneEvent:
    prompt_ids: list[int]
    ids: list[int]  # every sampled token, a final end-of-generation id included
    text: str
    ttft_ms: float  # start of generate() to the first sampled token
    prefill_tps: float
    decode_tps: float  # tokens after the first, over the time since the first
    rss_mb: float
    stop_reason: str  # "eos" | "stop" | "length" | "context" | "cancel"
    logits: np.ndarray | None = field(default=None, repr=False)  # (len(ids), vocab) if recorded
    reused_tokens: int = 0  # prompt tokens found in the KV cache (not prefilled again)


GenerationEvent = TokenEvent | DoneEvent


class _StopStrings:
    """Finds stop strings in the growing text and says how much is safe to show."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]

    def find(self, text: str, start: int) -> int:
        """Index of the earliest stop string beginning at or after ``start``, or -1."""
        hits = [i for s in self.stops if (i := text.find(s, start)) >= 0]
        return min(hits) if hits else -1

    def safe_end(self, text: str) -> int:
        """Length of ``text`` minus its longest suffix that begins some stop string."""
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(text)), hold, -1):
                if text.endswith(s[:k]):
                    hold = k
                    break
        return len(text) - hold


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def prepare_context(session: Session, prompt: Sequence[int], reuse: bool) -> int:
    """Empties the session, or (``reuse``) keeps the longest cached prefix of ``prompt``:
    returns how many prompt tokens are already in the cache. At least the last prompt token
    is always left to prefill (its logits start the answer)."""
    cached = getattr(session, "tokens", None)
    if reuse and cached is not None and hasattr(session, "truncate"):
        keep = min(_common_prefix(cached, prompt), len(prompt) - 1)
        session.truncate(keep)
        return keep
    session.reset()
    return 0


def _last_logits_only(session: Session) -> bool:
    """Whether the session can skip the head for every prompt token but the last."""
    try:
        return "all_logits" in inspect.signature(session.prefill).parameters
    except (TypeError, ValueError):
        return False


def generate(
    session: Session,
    tokenizer: Tokenizer,
    prompt_ids: Sequence[int],
    params: SamplingParams,
    *,
    cancel: Callable[[], bool] | None = None,
    on_event: Callable[[GenerationEvent], None] | None = None,
    prefill_chunk: int = 64,
    record_logits: bool = False,
    reset: bool = True,
    reuse: bool = False,
) -> Iterator[GenerationEvent]:
    """Yields a ``TokenEvent`` per sampled token, then one ``DoneEvent``.

    ``reset`` empties the session's KV cache first; False appends the prompt to what the
    session holds (a caller continuing a conversation). ``reuse`` (which wins over ``reset``)
    keeps the cached prefix the prompt shares and prefills only the rest (module docstring).
    ``on_event`` sees every event too.
    """
    prompt = [int(t) for t in prompt_ids]
    if not prompt:
        raise ValueError("generate needs at least one prompt token")
    vocab = session.config.vocab_size
    if any(not 0 <= t < vocab for t in prompt):
        bad = next(t for t in prompt if not 0 <= t < vocab)
        raise StudioError(
            None,
            f"the tokenizer made token id {bad}, outside the model's "
            f"{vocab}-token vocabulary (tokenizer and weights do not match)",
        )
    is_cancelled = cancel or (lambda: False)
    limit = session.config.max_position
    eos = set(tokenizer.eos_ids) | set(session.config.eos_token_ids)
    sampler = Sampler(params)
    stream = tokenizer.stream()
    stops = _StopStrings(params.stop)
    t0 = time.perf_counter()
    reused = 0
    if reuse:
        reused = prepare_context(session, prompt, True)
    elif reset:
        session.reset()
    todo = prompt[reused:]
    if session.n_past + len(todo) >= limit:
        raise StudioError(
            getattr(session, "source", None),
            f"the prompt ({len(prompt)} tokens) fills the {limit}-token context",
        )

    ids: list[int] = []
    text, shown = "", 0  # all complete text so far; how much of it has been emitted
    steps: list[np.ndarray] = []
    t_first = t_last = None
    reason = "cancel"

    def emit(event: GenerationEvent) -> GenerationEvent:
        if on_event is not None:
            on_event(event)
        return event

    # 1. prefill, chunk by chunk
    logits: np.ndarray | None = None
    chunk = max(1, prefill_chunk)
    # Only the last prompt token's logits are used: skip the head for the others if we can.
    last_only = {"all_logits": False} if _last_logits_only(session) else {}
    for i in range(0, len(todo), chunk):
        if is_cancelled():
            logits = None
            break
        logits = session.prefill(todo[i : i + chunk], **last_only)[-1]
        first, last = reused + i, reused + min(i + chunk, len(todo)) - 1
        _check_finite(session, logits, f"prefill (prompt tokens {first}..{last})")
    t_prefill = time.perf_counter() - t0

    # 2. decode, token by token
    while logits is not None:
        s = sampler.sample(logits, prompt + ids)
        ids.append(s.id)
        t_last = time.perf_counter()
        t_first = t_first or t_last
        if record_logits:
            steps.append(np.asarray(logits, dtype=np.float32).copy())

        # What ends here, if anything: the token itself, a stop string, the budget, the context.
        if s.id in eos:
            reason = "eos"
        else:
            text += stream.push(s.id)
            hit = stops.find(text, max(0, shown - max((len(x) for x in stops.stops), default=0)))
            if hit >= 0:
                reason, text = "stop", text[:hit]
            elif len(ids) >= params.max_tokens:
                reason = "length"
            elif session.n_past >= limit:
                reason = "context"
            else:
                reason = ""
        if reason in ("eos", "length", "context"):
            text += stream.flush()  # the end: show what was held back
        end = len(text) if reason else max(shown, stops.safe_end(text))
        yield emit(TokenEvent(s.id, text[shown:end], s.logprob, s.top, len(ids) - 1, s.tempered))
        shown = end
        if reason:
            break
        if is_cancelled():
            reason = "cancel"
            break
        logits = session.decode(s.id)
        _check_finite(session, logits, f"decode step {len(ids)}")

    n_dec = max(0, len(ids) - 1)
    done = DoneEvent(
        prompt_ids=prompt,
        ids=ids,
        text=text[:shown],
        ttft_ms=1000.0 * ((t_first or time.perf_counter()) - t0),
        prefill_tps=tokens_per_s(len(todo), t_prefill) if ids else 0.0,
        decode_tps=tokens_per_s(n_dec, (t_last or 0.0) - (t_first or 0.0)),
        rss_mb=rss_mb(),
        stop_reason=reason,
        logits=np.stack(steps) if record_logits and steps else None,
        reused_tokens=reused,
    )
    yield emit(done)


def _check_finite(session: Session, logits: np.ndarray, step: str) -> None:
    """Non-finite logits mean broken weights (or an overflow): say so, never sample them."""
    if np.isfinite(logits).all():
        return
    nan, inf = int(np.isnan(logits).sum()), int(np.isinf(logits).sum())
    where = ""
    layer = getattr(session, "first_nonfinite_layer", None)
    if callable(layer) and (li := layer()) is not None:
        where = f"; the first non-finite output is layer {li}'s"
    raise StudioError(
        getattr(session, "source", None),
        f"the model's logits are not finite at {step} ({nan} NaN and {inf} Inf of "
        f"{logits.size}){where}: its weights are likely corrupt "
        "(`bitnet-studio inspect` flags non-finite weights)",
    )


def generate_all(*args: object, **kwargs: object) -> DoneEvent:
    """Runs ``generate`` to the end; returns its DoneEvent."""
    events = list(generate(*args, **kwargs))  # type: ignore[arg-type]
    done = events[-1]
    assert isinstance(done, DoneEvent)
    return done
