"""GGUF Q2_0 (Ternary Bonsai): spec bytes, round trips, llama.cpp's quantizer byte for byte."""

from __future__ import annotations

import numpy as np
import pytest

from bitnet_studio.quant import q2_0
from tests import ggml_ref

needs_ggml = pytest.mark.skipif(ggml_ref.lib() is None, reason="llama_cpp is not installed")


def test_spec_vector_one_block() -> None:
    # element j is bits 2 * (j % 4) of qs[j / 4]; code = w + 1; d fp16 at byte 0
    codes = np.zeros((1, 64), np.int8)
    codes[0, :4] = [-1, 0, 1, 0]  # fields 0, 1, 2, 1 -> 0b01_10_01_00
    raw = q2_0.pack(codes, 2.0)
    assert raw.tobytes()[:3] == bytes([0x00, 0x40, 0b01100100])  # fp16 2.0 = 0x4000
    assert raw.tobytes()[3:] == bytes([0x55] * 15)  # all zeros: field 1 everywhere
    assert q2_0.dequantize(raw, 64)[0, :4].tolist() == [-2.0, 0.0, 2.0, 0.0]


@pytest.mark.parametrize(("rows", "cols"), [(1, 64), (3, 128), (7, 640)])
def test_round_trip_exact(rows: int, cols: int) -> None:
    rng = np.random.default_rng(rows * cols)
    codes = rng.integers(-1, 2, (rows, cols), dtype=np.int8)
    d = rng.uniform(0.01, 2, (rows, cols // 64)).astype(np.float16).astype(np.float32)
    raw = q2_0.pack(codes, d)
    assert raw.shape == (rows, cols // 64 * 18)
    back, d_back = q2_0.unpack_ternary(raw, cols)
    np.testing.assert_array_equal(back, codes)
    np.testing.assert_array_equal(d_back, d)
    np.testing.assert_array_equal(q2_0.dequantize(raw, cols), codes * np.repeat(d, 64, axis=1))


@needs_ggml
@pytest.mark.parametrize(("rows", "cols"), [(1, 64), (4, 192), (9, 1024)])
def test_quantize_matches_llama_cpp(rows: int, cols: int) -> None:
    rng = np.random.default_rng(rows + cols)
    w = (rng.standard_t(3, (rows, cols)) * 0.7).astype(np.float32)
    w[0, :64] = 0.0  # d = 0
    w[-1, -4:] = [1.0, 0.5, -0.5, 0.49999997]  # halves round away from zero
    ours = q2_0.quantize(w)
    np.testing.assert_array_equal(ours, ggml_ref.quantize(q2_0.GGML_TYPE, w))
    np.testing.assert_array_equal(
        q2_0.dequantize(ours, cols), ggml_ref.dequantize(q2_0.GGML_TYPE, ours, cols)
    )


def test_code_three_is_refused_as_not_ternary() -> None:
    raw = q2_0.pack(np.zeros((2, 64), np.int8), 1.0)
    raw[1, 5] |= 0b11 << 4  # element (5 - 2) * 4 + 2 = 14 of row 1 -> +2
    assert q2_0.dequantize(raw, 64)[1, 14] == 2.0  # llama.cpp's value for it
    with pytest.raises(ValueError, match="code 3 \\(\\+2\\) at row 1, column 14"):
        q2_0.unpack_ternary(raw, 64)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: q2_0.pack(np.ones((2, 100), np.int8), 1.0), "multiple of 64"),
        (lambda: q2_0.pack(np.full((2, 64), 2, np.int8), 1.0), "ternary"),
        (lambda: q2_0.unpack(np.zeros((2, 19), np.uint8), 64), "need 18 bytes"),
        (lambda: q2_0.quantize(np.ones(64, np.float32)), "2-D"),
    ],
)
def test_bad_input_raises_value_error(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()
