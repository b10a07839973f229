"""GGUF Q1_0: spec bytes, exact round trips, and llama.cpp's own quantizer byte for byte."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from bitnet_studio.models.weights import BinaryTensor
from bitnet_studio.quant import q1_0
from tests import ggml_ref

ROWS = [1, 3, 17]
COLS = [128, 256, 1152]
needs_ggml = pytest.mark.skipif(ggml_ref.lib() is None, reason="llama_cpp is not installed")


def _signs(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return np.where(rng.random((rows, cols)) < 0.5, -1, 1).astype(np.int8)


def test_gguf_knows_the_id_and_block_size() -> None:
    assert GGMLQuantizationType.Q1_0 == q1_0.GGML_TYPE
    assert GGML_QUANT_SIZES[GGMLQuantizationType.Q1_0] == (q1_0.QK, q1_0.BLOCK_BYTES)


def test_spec_vector_one_block() -> None:
    # element j is bit j % 8 of qs[j / 8], LSB first; d is fp16 at byte 0
    signs = -np.ones((1, 128), np.int8)
    signs[0, [0, 9, 127]] = 1
    raw = q1_0.pack(signs, 0.5)
    expected = bytes([0x00, 0x38, 0x01, 0x02] + [0] * 13 + [0x80])  # fp16 0.5 = 0x3800
    assert raw.tobytes() == expected
    assert q1_0.dequantize(raw, 128)[0, [0, 1, 9, 127]].tolist() == [0.5, -0.5, 0.5, 0.5]


def test_quantize_rule_zero_is_plus_and_d_is_mean_abs() -> None:
    w = np.zeros((1, 128), np.float32)
    w[0, :4] = [-0.0, 0.0, -2.0, 2.0]
    signs, d = q1_0.unpack(q1_0.quantize(w), 128)
    assert signs[0, :4].tolist() == [1, 1, -1, 1]  # llama.cpp: bit set when x >= 0
    assert d[0, 0] == np.float32(np.float16(4.0 / 128))


@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("cols", COLS)
def test_pack_unpack_exact(rows: int, cols: int) -> None:
    rng = np.random.default_rng(rows * cols)
    signs = _signs(rng, rows, cols)
    d = rng.uniform(0.01, 2.0, (rows, cols // 128)).astype(np.float16).astype(np.float32)
    raw = q1_0.pack(signs, d)
    assert raw.dtype == np.uint8 and raw.shape == (rows, cols // 128 * 18)
    back, d_back = q1_0.unpack(raw, cols)
    np.testing.assert_array_equal(back, signs)
    np.testing.assert_array_equal(d_back, d)
    np.testing.assert_array_equal(q1_0.dequantize(raw, cols), signs * np.repeat(d, 128, axis=1))
    # signs times their block scale quantize back to the same bytes
    np.testing.assert_array_equal(q1_0.quantize(q1_0.dequantize(raw, cols)), raw)


@needs_ggml
@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("cols", COLS)
def test_quantize_matches_llama_cpp(rows: int, cols: int) -> None:
    rng = np.random.default_rng(rows + cols)
    w = (rng.standard_t(3, (rows, cols)) * rng.uniform(0.001, 50)).astype(np.float32)
    w[0, :128] = 0.0  # an all-zero block: d = 0, every bit set
    w[-1, 5] = -0.0
    ours = q1_0.quantize(w)
    np.testing.assert_array_equal(ours, ggml_ref.quantize(q1_0.GGML_TYPE, w))
    np.testing.assert_array_equal(
        q1_0.dequantize(ours, cols), ggml_ref.dequantize(q1_0.GGML_TYPE, ours, cols)
    )


def test_gguf_py_quants_if_it_implements_q1_0() -> None:
    from gguf.quants import quantize as gguf_quantize

    w = np.random.default_rng(3).normal(size=(4, 256)).astype(np.float32)
    try:
        theirs = gguf_quantize(w, GGMLQuantizationType.Q1_0)
    except NotImplementedError:
        pytest.skip("gguf-py implements no Q1_0 quantizer (0.19.0); llama.cpp is the judge")
    np.testing.assert_array_equal(q1_0.quantize(w), theirs)


def test_binary_tensor_per_tensor_and_per_block() -> None:
    rng = np.random.default_rng(7)
    signs = _signs(rng, 4, 256)
    one = BinaryTensor(signs=signs, scale=np.array([0.25], np.float32))
    t = q1_0.to_binary(q1_0.from_binary(one), 256)
    assert t.scale.shape == (1,) and t.scale[0] == 0.25 and t.source_type == "Q1_0"
    np.testing.assert_array_equal(t.signs, signs)
    d = rng.uniform(0.1, 1.0, (4, 2)).astype(np.float16).astype(np.float32)
    blk = q1_0.to_binary(q1_0.from_binary(BinaryTensor(signs=signs, scale=d)), 256)
    np.testing.assert_array_equal(blk.scale, d)
    np.testing.assert_array_equal(blk.dequantize(), q1_0.dequantize(q1_0.pack(signs, d), 256))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: q1_0.pack(np.ones((2, 100), np.int8), 1.0), "multiple of 128"),
        (lambda: q1_0.pack(np.zeros((2, 128), np.int8), 1.0), "-1 or \\+1"),
        (lambda: q1_0.pack(np.ones(128, np.int8), 1.0), "2-D"),
        (lambda: q1_0.pack(np.ones((2, 128), np.int8), np.ones((3, 1))), "d must be"),
        (lambda: q1_0.unpack(np.zeros((2, 17), np.uint8), 128), "need 18 bytes"),
        (lambda: q1_0.unpack(np.zeros((2, 18), np.int8), 128), "uint8"),
        (lambda: q1_0.quantize(np.ones((2, 130), np.float32)), "multiple of 128"),
    ],
)
def test_bad_input_raises_value_error(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()
