"""The fast sampler (native partial selection) against the dense reference it replaced."""

from __future__ import annotations

import numpy as np
import pytest

from bitnet_studio.engine.sampling import (
    Sampler,
    SamplingParams,
    filter_probs,
    softmax,
    survivors,
    top_indices,
)

SETTINGS = [
    (40, 0.95, 0.05),
    (40, 1.0, 0.0),
    (0, 0.9, 0.0),
    (0, 0.5, 0.0),
    (0, 1.0, 0.1),
    (5, 0.3, 0.0),
    (0, 0.999, 0.0),
]


def _dense_token(logits: np.ndarray, prm: SamplingParams, u: float) -> int:
    """The sampler as it was: dense softmax + filter_probs + a CDF over the whole vocabulary."""
    probs = filter_probs(softmax(logits / prm.temperature), prm.top_k, prm.top_p, prm.min_p)
    cdf = np.cumsum(probs)
    tok = min(int(np.searchsorted(cdf, u * cdf[-1], side="right")), len(probs) - 1)
    while probs[tok] == 0.0:
        tok -= 1
    return tok


@pytest.mark.parametrize(("top_k", "top_p", "min_p"), SETTINGS)
def test_survivors_match_the_dense_filter(top_k: int, top_p: float, min_p: float) -> None:
    rng = np.random.default_rng(top_k + int(100 * top_p))
    for scale in (0.5, 3.0, 10.0):
        z = (rng.standard_normal(5000) * scale).astype(np.float32)
        dense = filter_probs(softmax(z), top_k, top_p, min_p)
        ids, probs = survivors(z, top_k, top_p, min_p)
        np.testing.assert_array_equal(ids, np.flatnonzero(dense))
        np.testing.assert_allclose(probs, dense[ids], rtol=1e-6)


@pytest.mark.parametrize(("top_k", "top_p", "min_p"), SETTINGS)
def test_same_tokens_as_the_dense_sampler(top_k: int, top_p: float, min_p: float) -> None:
    prm = SamplingParams(temperature=0.8, top_k=top_k, top_p=top_p, min_p=min_p, seed=11)
    rng = np.random.default_rng(5)
    fast = Sampler(prm)
    draws = np.random.default_rng(prm.seed)  # the same stream the sampler draws from
    for _ in range(60):
        logits = (rng.standard_normal(3000) * 2).astype(np.float32)
        assert fast.sample(logits).id == _dense_token(logits, prm, draws.random())


def test_logprob_and_alternatives_are_the_raw_softmax() -> None:
    logits = (np.random.default_rng(2).standard_normal(128256) * 3).astype(np.float32)
    s = Sampler(SamplingParams(greedy=True, n_top=5)).sample(logits)
    p = softmax(logits)
    assert s.id == int(np.argmax(logits))
    assert s.logprob == pytest.approx(np.log(p[s.id]), abs=1e-5)
    want = np.argsort(-p, kind="stable")[:5]
    assert [i for i, _ in s.top] == [int(i) for i in want]
    np.testing.assert_allclose([q for _, q in s.top], p[want], rtol=1e-5)


def test_native_top_k_orders_ties_by_id_and_skips_nan() -> None:
    v = np.array([1, 3, 3, np.nan, 2, 3, 0], dtype=np.float32)
    np.testing.assert_array_equal(top_indices(v, 4), [1, 2, 5, 4])
    np.testing.assert_array_equal(top_indices(v, 20), [1, 2, 5, 4, 0, 6])
    rng = np.random.default_rng(0)
    for k in (1, 7, 300):
        w = rng.integers(0, 50, size=20000).astype(np.float32)
        np.testing.assert_array_equal(top_indices(w, k), np.argsort(-w, kind="stable")[:k])
