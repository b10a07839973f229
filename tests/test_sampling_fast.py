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


def _hard_logits(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Distributions that stress the native nucleus: nearly flat (most of the vocabulary
    survives), exactly uniform (ranking by id alone), many ties across the cut, both signs
    around zero, and one dominant token. (Logits so close that their probabilities round to
    one value are left out: the dense filter ranks those by id, the sampler by logit.)"""
    peak = np.full(n, -5.0, np.float32)
    peak[n // 3] = 8.0
    return {
        "flat": rng.normal(0, 0.01, n).astype(np.float32),
        "uniform": np.zeros(n, np.float32),
        "ties": rng.integers(0, 7, n).astype(np.float32),
        "signs": rng.normal(0, 1, n).astype(np.float32),
        "peak": peak,
    }


def _assert_same_nucleus(ids: np.ndarray, dense: np.ndarray, z: np.ndarray, top_p: float) -> None:
    """ids keeps what the dense filter keeps, except a token whose preceding mass is top_p
    up to float rounding (uniform logits put the cut exactly there; summation order decides)."""
    want = np.flatnonzero(dense)
    differ = np.setxor1d(ids, want)
    if differ.size:
        order = np.argsort(-z, kind="stable")
        p = softmax(z)[order]
        before = np.empty(z.size)
        before[order] = np.cumsum(p) - p
        assert np.all(np.abs(before[differ] - top_p) < 1e-9), (differ, before[differ])


@pytest.mark.parametrize("top_p", [0.05, 0.5, 0.9, 0.95, 0.999])
@pytest.mark.parametrize("min_p", [0.0, 0.5])
def test_nucleus_matches_the_dense_filter_on_hard_distributions(top_p: float, min_p: float) -> None:
    rng = np.random.default_rng(int(top_p * 1000))
    for z in _hard_logits(rng, 4000).values():
        dense = filter_probs(softmax(z), 0, top_p, min_p)
        ids, probs = survivors(z, 0, top_p, min_p)
        _assert_same_nucleus(ids, dense, z, top_p)
        both = np.isin(ids, np.flatnonzero(dense))
        renorm = dense[ids[both]] / dense[ids[both]].sum()
        np.testing.assert_allclose(probs[both] / probs[both].sum(), renorm, rtol=1e-6)


def test_nucleus_on_a_flat_128k_vocabulary_keeps_the_ranked_prefix() -> None:
    """128256 nearly equal logits: ~95% survive, exactly the best-ranked ones (ties by id)."""
    z = np.random.default_rng(3).normal(0, 0.01, 128256).astype(np.float32)
    ids, _ = survivors(z, 0, 0.95, 0.0)
    order = np.argsort(-z, kind="stable")
    p = np.exp(z[order].astype(np.float64) - float(z.max()))
    before = np.cumsum(p) - p
    want = np.sort(order[before / p.sum() < 0.95])
    np.testing.assert_array_equal(ids, want)
    assert 0.9 * z.size < ids.size < z.size


@pytest.mark.parametrize("top_p", [0.3, 0.95])
def test_native_draw_gives_the_dense_samplers_tokens_on_hard_distributions(top_p: float) -> None:
    prm = SamplingParams(temperature=1.0, top_k=0, top_p=top_p, min_p=0.0, seed=4)
    rng = np.random.default_rng(9)
    for name, z in _hard_logits(rng, 3000).items():
        if name == "uniform":  # where the cut falls is a float rounding there (test above)
            continue
        fast = Sampler(prm)
        draws = np.random.default_rng(prm.seed)
        for _ in range(25):
            assert fast.sample(z).id == _dense_token(z, prm, draws.random()), name


def test_min_p_above_one_is_a_clear_error() -> None:
    from bitnet_studio.errors import StudioError

    s = Sampler(SamplingParams(top_k=0, top_p=0.9, min_p=1.5))
    with pytest.raises(StudioError, match="min-p"):
        s.sample(np.zeros(10, np.float32))
