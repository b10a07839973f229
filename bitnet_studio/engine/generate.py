"""Generation: prompt ids in, a stream of token events out, one plain loop.

    prefill the prompt (in chunks, checking ``cancel`` between them)
    repeat: sample a token from the last logits -> report it -> stop? -> decode it

``cancel`` is checked before every decode step, so a stop takes effect within one token.
Generation ends at an end-of-generation id (not shown), a stop string (not shown), the token
budget, the model's context, or cancel. Text is streamed only once it is complete: never
half a UTF-8 character, never the beginning of what may turn out to be a stop string.
The concatenated ``TokenEvent.text`` always equals ``DoneEvent.text``.
"""

from __future__ import annotations

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
) -> Iterator[GenerationEvent]:
    """Yields a ``TokenEvent`` per sampled token, then one ``DoneEvent``.

    ``reset`` empties the session's KV cache first; False appends the prompt to what the
    session holds (a caller continuing a conversation). ``on_event`` sees every event too.
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
    if reset:
        session.reset()
    if session.n_past + len(prompt) >= limit:
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
    for i in range(0, len(prompt), chunk):
        if is_cancelled():
            logits = None
            break
        logits = session.prefill(prompt[i : i + chunk])[-1]
        _check_finite(
            session, logits, f"prefill (prompt tokens {i}..{min(i + chunk, len(prompt)) - 1})"
        )
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
        yield emit(TokenEvent(s.id, text[shown:end], s.logprob, s.top, len(ids) - 1))
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
        prefill_tps=tokens_per_s(len(prompt), t_prefill) if ids else 0.0,
        decode_tps=tokens_per_s(n_dec, (t_last or 0.0) - (t_first or 0.0)),
        rss_mb=rss_mb(),
        stop_reason=reason,
        logits=np.stack(steps) if record_logits and steps else None,
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
