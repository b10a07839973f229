"""Sampling: logits -> next token, reproducible from a seed.

The order of the transforms (what a user's settings mean):
  1. repetition penalty over the last ``repeat_last_n`` tokens (CTRL rule, as HF and llama.cpp:
     a positive logit is divided by the penalty, a negative one multiplied);
  2. greedy (``greedy`` or ``temperature <= 0``): the arg-max, ties to the lowest id;
  3. temperature, then top-k, top-p (smallest set whose mass reaches p), min-p (drop tokens
     whose probability is below ``min_p`` times the best one's);
  4. one draw from the renormalised survivors with the sampler's own ``numpy`` Generator.
Reported log-probabilities and alternatives are the model's own (softmax of the raw logits),
not the reshaped distribution, so both panes of a comparison speak of the same thing. Beside
them ``Sample.tempered`` gives the same tokens' probabilities at the temperature the draw
used (after the repetition penalty, before top-k/top-p/min-p): what the UI shows a user who
asked for that temperature. Greedy decoding has no temperature: ``tempered`` is then None.

Cost: a token touches the whole vocabulary only in O(n) passes (max, exp-sums in float32,
one native partial selection, ``_kernels.top_k``); only the few survivors of top-k / top-p /
min-p are sorted. ``filter_probs`` is the dense reference the fast path is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bitnet_studio import _kernels as _k
from bitnet_studio.errors import StudioError


@dataclass
class SamplingParams:
    temperature: float = 0.7
    greedy: bool = False
    top_k: int = 40  # 0: off
    top_p: float = 0.95  # 1.0: off
    min_p: float = 0.05  # 0.0: off
    repetition_penalty: float = 1.0  # 1.0: off
    repeat_last_n: int = 64  # tokens the penalty looks back over (0: the whole history)
    seed: int | None = 0  # None: a fresh seed per generation
    max_tokens: int = 256
    stop: list[str] = field(default_factory=list)  # stop strings (not emitted)
    n_top: int = 5  # alternatives reported per token for the UI

    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature <= 0.0


@dataclass
class Sample:
    id: int
    logprob: float  # log p(id) under the model's raw distribution
    top: list[tuple[int, float]]  # (id, p) of the n_top most likely tokens, raw distribution
    # p at the sampling temperature of the sampled token, then of each ``top`` id (same order)
    tempered: tuple[float, list[float]] | None = None


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - np.max(logits)
    p = np.exp(z)
    return p / p.sum()


def apply_repetition_penalty(
    logits: np.ndarray, history: Sequence[int], penalty: float
) -> np.ndarray:
    if penalty == 1.0 or not len(history):
        return logits
    out = logits.copy()
    ids = np.unique(np.asarray(history, dtype=np.int64))
    ids = ids[(ids >= 0) & (ids < out.shape[0])]
    v = out[ids]
    out[ids] = np.where(v > 0, v / penalty, v * penalty)
    return out


def top_indices(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest values, largest first, ties by lower id (as a stable
    sort of the whole array would give), without sorting a 128k vocabulary per token."""
    n = min(n, values.size)
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    if values.dtype == np.float32 and values.ndim == 1 and values.flags.c_contiguous:
        out = np.empty(n, dtype=np.int64)  # one native pass, no full-vocabulary temporaries
        return out[: _k.top_k(values, n, out)]
    if n < values.size:
        kth = values[np.argpartition(-values, n - 1)[n - 1]]
        cand = np.flatnonzero(values >= kth)  # every tie of the n-th value competes by id
    else:
        cand = np.arange(values.size)
    return cand[np.lexsort((cand, -values[cand]))][:n]


def filter_probs(probs: np.ndarray, top_k: int, top_p: float, min_p: float) -> np.ndarray:
    """Zeroes the tokens top-k, top-p and min-p remove (in that order); renormalises."""
    # most likely first, ties by id; with top-k only the k best need ordering
    order = top_indices(probs, top_k) if top_k > 0 else np.argsort(-probs, kind="stable")
    p = probs[order]
    keep = np.ones_like(p, dtype=bool)
    if top_p < 1.0:
        q = p / p.sum()
        # Keep every token whose preceding mass is still below top_p (always the first).
        before = np.cumsum(q) - q
        keep &= before < top_p
    if min_p > 0.0:
        keep &= p >= min_p * p[0]
    out = np.zeros_like(probs)
    out[order[keep]] = p[keep]
    return out / out.sum()


def survivors(
    z: np.ndarray, top_k: int, top_p: float, min_p: float
) -> tuple[np.ndarray, np.ndarray]:
    """The tokens ``filter_probs(softmax(z), ...)`` keeps, as (ids ascending, probabilities
    renormalised), without a dense pass beyond one exp-sum (and none at all with top-k)."""
    if top_k <= 0:
        # The nucleus in three native passes (no sort of the vocabulary): a flat distribution
        # keeps most of a 128k vocabulary, which the widening top-k loop this replaced sorted.
        zc = np.ascontiguousarray(z, dtype=np.float32)
        e = np.exp(zc - np.float32(zc.max()))
        total = float(e.sum(dtype=np.float64))
        ids = np.empty(zc.size, dtype=np.int64)
        ids = ids[: _k.top_p_keep(zc, e, total, float(top_p), float(min_p), ids)]
        ps = e[ids].astype(np.float64)
        return ids, ps / ps.sum()
    idx = top_indices(z, top_k)
    p = np.exp(z[idx].astype(np.float64) - float(z[idx[0]]))
    total = float(p.sum())  # filter_probs renormalises within the k best
    keep = np.ones(p.size, dtype=bool)
    if top_p < 1.0:
        q = p / total
        keep &= (np.cumsum(q) - q) < top_p  # the preceding mass is still below top_p
    if min_p > 0.0:
        keep &= p >= min_p * p[0]
    ids, ps = idx[keep], p[keep]
    order = np.argsort(ids)
    ps = ps[order]
    return ids[order], ps / ps.sum()


class Sampler:
    """Picks tokens; same params and seed on the same backend -> the same tokens."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self.rng = np.random.default_rng(params.seed)

    def sample(self, logits: np.ndarray, history: Sequence[int] = ()) -> Sample:
        prm = self.params
        raw = np.ascontiguousarray(logits, dtype=np.float32).reshape(-1)
        if not np.isfinite(raw).all():
            # generate() reports where this happened; a direct caller still gets a clear error
            raise StudioError(None, "cannot sample from non-finite logits (NaN/Inf)")
        m = float(raw.max())
        # log Z of the raw distribution: one float32 exp pass, summed in float64
        log_z = m + float(np.log(np.exp(raw - np.float32(m)).sum(dtype=np.float64)))
        alternatives = [
            (int(i), float(np.exp(float(raw[i]) - log_z))) for i in top_indices(raw, prm.n_top)
        ]

        recent = history[-prm.repeat_last_n :] if prm.repeat_last_n > 0 else history
        x = apply_repetition_penalty(raw, recent, prm.repetition_penalty)
        tempered: tuple[float, list[float]] | None = None
        if prm.is_greedy:
            tok = int(np.argmax(x))
        else:
            z = np.ascontiguousarray(x / np.float32(prm.temperature), dtype=np.float32)
            mz = float(z.max())
            e = np.exp(z - np.float32(mz))  # one exp pass: the nucleus and log Z at temperature
            total = float(e.sum(dtype=np.float64))
            tok = self._draw(z, e, total)
            log_zt = mz + float(np.log(total))
            tempered = (
                float(np.exp(float(z[tok]) - log_zt)),
                [float(np.exp(float(z[i]) - log_zt)) for i, _ in alternatives],
            )
        return Sample(tok, float(raw[tok]) - log_z, alternatives, tempered)

    def _draw(self, z: np.ndarray, e: np.ndarray, total: float) -> int:
        """One token from what top-k / top-p / min-p leave of softmax(z) (e = exp(z - max z),
        total its sum): inverse CDF in id order with one uniform draw (the same draw the dense
        filter_probs + cumsum over the whole vocabulary makes)."""
        prm = self.params
        u = self.rng.random()
        if prm.top_k <= 0:  # the nucleus natively: no vocabulary-sized arrays per token
            tok = _k.top_p_draw(z, e, total, prm.top_p, prm.min_p, u)
            if tok < 0:
                raise StudioError(None, f"min-p {prm.min_p} leaves no token to sample (use 0-1)")
            return int(tok)
        ids, probs = survivors(z, prm.top_k, prm.top_p, prm.min_p)
        cdf = np.cumsum(probs)
        j = min(int(np.searchsorted(cdf, u * cdf[-1], side="right")), len(probs) - 1)
        while probs[j] == 0.0 and j > 0:  # float edge at the top of the CDF
            j -= 1
        return int(ids[j])
