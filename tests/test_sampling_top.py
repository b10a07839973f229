"""top_indices: the partial sort the sampler uses must order like a full stable sort."""

from __future__ import annotations

import numpy as np
import pytest

from bitnet_studio.engine.sampling import top_indices


@pytest.mark.parametrize("n", [0, 1, 5, 40, 1000])
def test_matches_stable_argsort_with_ties(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(20):
        v = rng.integers(0, 30, size=1000).astype(np.float64)  # many ties
        np.testing.assert_array_equal(top_indices(v, n), np.argsort(-v, kind="stable")[:n])
