"""The NumPy reference: absmean / absmax math and our kernel layouts' round trips."""

from __future__ import annotations

import numpy as np
import pytest

from bitnet_studio.quant import kernel_layouts as kl
from bitnet_studio.quant import quantize_activations, ternarize


def test_ternarize_absmean_rule() -> None:
    w = np.array([[0.5, -0.5, 0.1, -2.0], [0.0, 0.3, -0.29, 1.0]], np.float32)
    q, gamma = ternarize(w)
    assert gamma == pytest.approx(np.abs(w).mean(), rel=1e-6)
    expected = np.clip(np.round(w / (gamma + 1e-5)), -1, 1)
    np.testing.assert_array_equal(q, expected)
    assert q.dtype == np.int8 and set(np.unique(q)) <= {-1, 0, 1}


def test_activation_quant_rounds_half_to_even_and_clamps() -> None:
    x = np.array([[127.0, 0.5, 1.5, -2.5, -127.0]], np.float32)
    q, s = quantize_activations(x)
    assert s[0] == pytest.approx(1.0)
    np.testing.assert_array_equal(q[0], [127, 0, 2, -2, -127])
    q0, s0 = quantize_activations(np.zeros((2, 8), np.float32))
    assert not q0.any() and np.all(np.isfinite(s0))


@pytest.mark.parametrize("layout", ["i2", "b3"])
@pytest.mark.parametrize("shape", [(1, 1), (3, 127), (5, 128), (2, 161), (4, 576), (0, 10)])
def test_kernel_layout_round_trip(layout: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    w = rng.integers(-1, 2, size=shape, dtype=np.int8)
    packed = kl.pack(w, layout)
    assert packed.shape == (shape[0], kl.row_bytes(layout, shape[1]))
    np.testing.assert_array_equal(kl.unpack(packed, shape[1], layout), w)


@pytest.mark.parametrize("layout", ["i2", "b3"])
def test_kernel_layout_matches_compiled_packer(layout: str) -> None:
    from bitnet_studio import kernels

    rng = np.random.default_rng(2)
    w = rng.integers(-1, 2, size=(37, 333), dtype=np.int8)
    np.testing.assert_array_equal(kernels.pack_ternary(w, 1.0, layout).data, kl.pack(w, layout))
