"""Per-token scoring of one token stream by several models at once.

Models that share the reference's tokenizer run in lockstep with it: each chunk of the same
window goes through the reference and then through every model, so the KL divergence
KL(ref || model) and top-1 agreement are computed from both full distributions while they
are in memory (chunk x vocab floats each), never stored. Each model keeps, per scored token,
its loss (nats), its top-k tokens and, against the reference, KL and top-1 agreement.

Runs on any session with ``reset()`` and ``prefill(tokens, all_logits=...)`` returning float32
logits (native, torch, llama.cpp opened with ``logits_all``); checks ``cancel()`` before every
chunk and reports ``progress(done, total)`` after it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bitnet_studio.evaluate.windows import plan_windows

CHUNK = 64  # tokens per prefill call: the unit of progress and cancellation
TOP_K = 5


@dataclass
class TokenScores:
    """One model's scores on one stream; arrays are aligned by scored target."""

    name: str
    positions: np.ndarray  # int64: stream position of each target
    targets: np.ndarray  # int64: the target token ids
    nll: np.ndarray  # float64: -log p(target), nats
    top_ids: np.ndarray  # int32 (n, TOP_K): the model's most likely tokens there
    top_p: np.ndarray  # float32 (n, TOP_K): their probabilities
    kl: np.ndarray | None = None  # float64: KL(ref || model), nats, when a reference ran
    agree: np.ndarray | None = None  # bool: same top-1 as the reference
    seconds: float = 0.0  # time spent in this model's forward passes

    @property
    def tokens(self) -> int:
        return int(self.nll.size)

    @property
    def loss(self) -> float:
        return float(self.nll.mean()) if self.nll.size else math.nan

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss) if self.nll.size else math.nan


@dataclass
class _Acc:
    positions: list[np.ndarray] = field(default_factory=list)
    nll: list[np.ndarray] = field(default_factory=list)
    top_ids: list[np.ndarray] = field(default_factory=list)
    top_p: list[np.ndarray] = field(default_factory=list)
    kl: list[np.ndarray] = field(default_factory=list)
    agree: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64."""
    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def kl_divergence(ref_logp: np.ndarray, logp: np.ndarray) -> np.ndarray:
    """KL(ref || model) per row, nats, from log-probabilities (exactly 0 for equal rows)."""
    kl = (np.exp(ref_logp) * (ref_logp - logp)).sum(axis=-1)
    return np.maximum(kl, 0.0)


def top_k(logp: np.ndarray, k: int = TOP_K) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, logp.shape[-1])
    idx = np.argpartition(-logp, k - 1, axis=-1)[:, :k]
    vals = np.take_along_axis(logp, idx, axis=-1)
    order = np.argsort(-vals, axis=-1)
    idx = np.take_along_axis(idx, order, axis=-1)
    return idx.astype(np.int32), np.exp(np.take_along_axis(vals, order, axis=-1)).astype(np.float32)


def _prefill(session: Any, tokens: np.ndarray, all_logits: bool) -> np.ndarray:
    return np.asarray(session.prefill(tokens, all_logits=all_logits))


def score_stream(
    sessions: Mapping[str, Any],
    stream: Sequence[int] | np.ndarray,
    window: int,
    stride: int,
    reference: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    chunk: int = CHUNK,
) -> tuple[dict[str, TokenScores], bool]:
    """Scores ``stream`` with every session (name -> session); KL and agreement against
    ``reference`` (one of the names) when given. Returns (scores by name, cancelled)."""
    if reference is not None and reference not in sessions:
        raise ValueError(f"reference {reference!r} is not among the models scored")
    ids = np.asarray(stream, dtype=np.int64)
    plan = plan_windows(int(ids.size), window, stride)
    total = sum(w.scored for w in plan)
    order = ([reference] if reference else []) + [n for n in sessions if n != reference]
    acc = {n: _Acc() for n in order}
    done, cancelled = 0, False
    for win in plan:
        if cancelled:
            break
        for name in order:
            s = sessions[name]
            t0 = time.perf_counter()
            s.reset()
            if win.context > 0:  # context the previous window already scored: no logits
                _prefill(s, ids[win.begin : win.score_from - 1], False)
            acc[name].seconds += time.perf_counter() - t0
        for lo in range(win.score_from - 1, win.end - 1, chunk):
            if cancel is not None and cancel():
                cancelled = True
                break
            hi = min(lo + chunk, win.end - 1)
            targets = ids[lo + 1 : hi + 1]
            ref_logp: np.ndarray | None = None
            for name in order:
                t0 = time.perf_counter()
                logits = _prefill(sessions[name], ids[lo:hi], True)
                a = acc[name]
                a.seconds += time.perf_counter() - t0
                logp = log_softmax(logits[-(hi - lo) :])
                a.positions.append(np.arange(lo + 1, hi + 1, dtype=np.int64))
                a.nll.append(-logp[np.arange(hi - lo), targets])
                ti, tp = top_k(logp)
                a.top_ids.append(ti)
                a.top_p.append(tp)
                if name == reference:
                    ref_logp = logp
                    ref_top = ti[:, 0]
                elif ref_logp is not None:
                    a.kl.append(kl_divergence(ref_logp, logp))
                    a.agree.append(ti[:, 0] == ref_top)
            done += hi - lo
            if progress is not None:
                progress(done, total)
    out = {}
    for name in order:
        a = acc[name]
        pos = _cat(a.positions, np.int64)
        with_ref = reference is not None
        out[name] = TokenScores(
            name=name,
            positions=pos,
            targets=ids[pos],
            nll=_cat(a.nll, np.float64),
            top_ids=_cat(a.top_ids, np.int32, (0, TOP_K)),
            top_p=_cat(a.top_p, np.float32, (0, TOP_K)),
            kl=_cat(a.kl, np.float64) if with_ref and name != reference else None,
            agree=_cat(a.agree, np.bool_) if with_ref and name != reference else None,
            seconds=a.seconds,
        )
        if with_ref and name == reference:  # against itself: exactly 0 and full agreement
            out[name].kl = np.zeros(pos.size)
            out[name].agree = np.ones(pos.size, dtype=bool)
    return out, cancelled


def _cat(parts: list[np.ndarray], dtype: Any, empty: tuple[int, ...] = (0,)) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(empty, dtype=dtype)
