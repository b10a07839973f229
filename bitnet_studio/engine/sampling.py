"""Sampling: logits -> next token, reproducible from a seed.

The order of the transforms (what a user's settings mean):
  1. repetition penalty over the last ``repeat_last_n`` tokens (CTRL rule, as HF and llama.cpp:
     a positive logit is divided by the penalty, a negative one multiplied);
  2. greedy (``greedy`` or ``temperature <= 0``): the arg-max, ties to the lowest id;
  3. temperature, then top-k, top-p (smallest set whose mass reaches p), min-p (drop tokens
     whose probability is below ``min_p`` times the best one's);
  4. one draw from the renormalised survivors with the sampler's own ``numpy`` Generator.
Reported log-probabilities and alternatives are the model's own (softmax of the raw logits),
not the reshaped distribution, so both panes of a comparison speak of the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

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


class Sampler:
    """Picks tokens; same params and seed on the same backend -> the same tokens."""

    def __init__(self, params: SamplingParams) -> None:
        self.params = params
        self.rng = np.random.default_rng(params.seed)

    def sample(self, logits: np.ndarray, history: Sequence[int] = ()) -> Sample:
        prm = self.params
        raw = np.asarray(logits, dtype=np.float32).reshape(-1)
        if not np.isfinite(raw).all():
            # generate() reports where this happened; a direct caller still gets a clear error
            raise StudioError(None, "cannot sample from non-finite logits (NaN/Inf)")
        raw_p = softmax(raw)
        top = top_indices(raw_p, prm.n_top)
        alternatives = [(int(i), float(raw_p[i])) for i in top]

        recent = history[-prm.repeat_last_n :] if prm.repeat_last_n > 0 else history
        x = apply_repetition_penalty(raw, recent, prm.repetition_penalty)
        if prm.is_greedy:
            tok = int(np.argmax(x))
        else:
            probs = filter_probs(softmax(x / prm.temperature), prm.top_k, prm.top_p, prm.min_p)
            # Inverse CDF with one uniform draw: fixed cost per token, easy to reproduce.
            cdf = np.cumsum(probs)
            tok = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"))
            tok = min(tok, len(probs) - 1)
            while probs[tok] == 0.0:  # float edge at the top of the CDF
                tok -= 1
        return Sample(tok, float(np.log(max(raw_p[tok], 1e-300))), alternatives)
