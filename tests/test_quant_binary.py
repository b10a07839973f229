"""The original BitNet's binarization (quant/binary.py) and BinaryTensor."""

from __future__ import annotations

import numpy as np

from bitnet_studio.models.weights import BinaryTensor
from bitnet_studio.quant.binary import binarize, binary_linear_reference, dequantize_binary


def test_binarize_centres_then_signs_with_sign_zero_negative() -> None:
    w = np.array([[1.0, 2.0, 3.0], [2.0, 0.5, 3.5]], np.float32)  # mean 2.0
    signs, beta = binarize(w)
    assert signs.dtype == np.int8
    # W - alpha = [[-1, 0, 1], [0, -1.5, 1.5]]: Sign(0) = -1
    assert signs.tolist() == [[-1, -1, 1], [-1, -1, 1]]
    assert beta == np.float32(np.mean(np.abs(w)))


def test_binarize_has_no_zero_code_and_dequantizes_to_two_values() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(0.3, 1.0, (64, 96)).astype(np.float32)
    signs, beta = binarize(w)
    assert set(np.unique(signs).tolist()) == {-1, 1}
    assert set(np.unique(dequantize_binary(signs, beta)).tolist()) == {-beta, beta}


def test_reference_linear_is_the_integer_dot_scaled() -> None:
    rng = np.random.default_rng(1)
    signs = np.where(rng.random((5, 40)) < 0.5, -1, 1).astype(np.int8)
    x = rng.normal(size=(3, 40)).astype(np.float32)
    dots, y = binary_linear_reference(signs, 0.25, x)
    amax = np.abs(x).max(axis=1, keepdims=True)
    xq = np.clip(np.round(x * (127 / amax)), -128, 127).astype(np.int32)
    assert np.array_equal(dots, xq @ signs.astype(np.int32).T)
    np.testing.assert_allclose(y, dots * 0.25 * amax / 127, rtol=1e-6)


def test_binary_tensor_per_block_scales_cover_each_128_columns() -> None:
    signs = np.ones((2, 200), np.int8)
    signs[1, 150] = -1
    scale = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    t = BinaryTensor(signs, scale)
    w = t.dequantize()
    assert t.shape == (2, 200)
    assert w[0, 0] == 1.0 and w[0, 127] == 1.0 and w[0, 128] == 2.0 and w[0, 199] == 2.0
    assert w[1, 150] == -4.0
    assert BinaryTensor(signs, np.array([0.5], np.float32)).dequantize()[1, 150] == -0.5
