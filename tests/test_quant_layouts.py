"""External ternary layouts: exact round trips, llama.cpp bytes via gguf-py, HF scale rules."""

from __future__ import annotations

import numpy as np
import pytest
from gguf import GGMLQuantizationType
from gguf.quants import dequantize as gguf_dequantize
from gguf.quants import quantize as gguf_quantize

from bitnet_studio.quant import hf_packed, i2_s, tq1_0, tq2_0
from bitnet_studio.quant import kernel_layouts as kl

TQ = {"TQ1_0": (tq1_0, 54), "TQ2_0": (tq2_0, 66)}
ROWS = [1, 3, 8, 100]
TQ_COLS = [256, 512, 2560]


def _codes(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)


def _fill(kind: str, rows: int, cols: int, seed: int) -> np.ndarray:
    if kind == "random":
        return _codes(np.random.default_rng(seed), rows, cols)
    return np.full((rows, cols), {"zero": 0, "neg": -1, "pos": 1}[kind], dtype=np.int8)


KINDS = ["random", "zero", "neg", "pos"]


# ---------------------------------------------------------------- TQ1_0 / TQ2_0


@pytest.mark.parametrize("name", sorted(TQ))
@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("cols", TQ_COLS)
@pytest.mark.parametrize("kind", KINDS)
def test_tq_round_trip_exact(name: str, rows: int, cols: int, kind: str) -> None:
    mod, block_bytes = TQ[name]
    codes = _fill(kind, rows, cols, seed=rows * cols)
    rng = np.random.default_rng(cols)
    d = rng.uniform(0.01, 2.0, size=(rows, cols // 256)).astype(np.float16).astype(np.float32)
    raw = mod.pack(codes, d)
    assert raw.dtype == np.uint8 and raw.shape == (rows, cols // 256 * block_bytes)
    back, d_back = mod.unpack(raw, cols)
    np.testing.assert_array_equal(back, codes)
    np.testing.assert_array_equal(d_back, d)
    assert back.dtype == np.int8 and d_back.dtype == np.float32
    deq = mod.dequantize(raw, cols)
    np.testing.assert_array_equal(deq, codes * np.repeat(d, 256, axis=1))


@pytest.mark.parametrize("name", sorted(TQ))
def test_tq_scalar_scale(name: str) -> None:
    mod, _ = TQ[name]
    codes = _codes(np.random.default_rng(1), 3, 512)
    back, d = mod.unpack(mod.pack(codes, 0.5), 512)
    np.testing.assert_array_equal(back, codes)
    assert d.shape == (3, 2) and np.all(d == 0.5)


@pytest.mark.parametrize("name", sorted(TQ))
@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("cols", TQ_COLS)
def test_tq_pack_matches_gguf_for_ternary_times_scale(name: str, rows: int, cols: int) -> None:
    mod, _ = TQ[name]
    rng = np.random.default_rng(rows + cols)
    codes = _codes(rng, rows, cols)
    codes[0, :256] = 0  # one all-zero block: llama.cpp stores d = 0 there
    nb = cols // 256
    d = rng.uniform(0.001, 3.0, size=(rows, nb)).astype(np.float16).astype(np.float32)
    blocks = codes.reshape(rows, nb, 256)
    d = np.where(np.abs(blocks).max(axis=-1) == 0, np.float32(0), d)
    w = (blocks * d[..., None]).reshape(rows, cols).astype(np.float32)
    ours = mod.pack(codes, d)
    qtype = getattr(GGMLQuantizationType, name)
    np.testing.assert_array_equal(ours, gguf_quantize(w, qtype))
    np.testing.assert_array_equal(mod.quantize(w), ours)
    np.testing.assert_array_equal(gguf_dequantize(ours, qtype), mod.dequantize(ours, cols))
    np.testing.assert_array_equal(mod.dequantize(ours, cols), w)


@pytest.mark.parametrize("name", sorted(TQ))
def test_tq_quantize_matches_gguf_on_real_valued_weights(name: str) -> None:
    """Rounding rule (half away from zero, x * (1/d)) and fp16 d agree with llama.cpp."""
    mod, _ = TQ[name]
    rng = np.random.default_rng(7)
    w = rng.standard_normal((16, 1024)).astype(np.float32)
    w[3, 5] = w[3].max() * 0.5  # exact ties at 0.5 * d
    w[4, :256] = np.float32(0.49999997)
    w[4, 0] = 1.0
    qtype = getattr(GGMLQuantizationType, name)
    raw = mod.quantize(w)
    np.testing.assert_array_equal(raw, gguf_quantize(w, qtype))
    np.testing.assert_array_equal(mod.dequantize(raw, 1024), gguf_dequantize(raw, qtype))


@pytest.mark.parametrize("name", sorted(TQ))
def test_tq_bad_shapes_raise(name: str) -> None:
    mod, block_bytes = TQ[name]
    with pytest.raises(ValueError, match="multiple of 256"):
        mod.pack(np.zeros((2, 576), np.int8), 1.0)
    with pytest.raises(ValueError, match="multiple of 256"):
        mod.quantize(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="multiple of 256"):
        mod.unpack(np.zeros((2, block_bytes), np.uint8), 300)
    with pytest.raises(ValueError, match="bytes per row"):
        mod.unpack(np.zeros((2, block_bytes), np.uint8), 512)
    with pytest.raises(ValueError, match="ternary"):
        mod.pack(np.full((1, 256), 2, np.int8), 1.0)
    with pytest.raises(ValueError, match="shape"):
        mod.pack(np.zeros((2, 512), np.int8), np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        mod.pack(np.zeros(256, np.int8), 1.0)


def test_tq2_0_byte_layout_by_hand() -> None:
    codes = np.zeros((1, 256), np.int8)
    codes[0, 32] = 1  # element 32 = byte 0, n = 1 -> bits 3:2 = 2
    codes[0, 128 + 96 + 5] = -1  # half 1, n = 3, m = 5 -> byte 37, bits 7:6 = 0
    raw = tq2_0.pack(codes, 1.0)
    assert raw[0, 0] == 0b01011001
    assert raw[0, 37] == 0b00010101
    assert raw[0, 64:66].tobytes() == np.float16(1.0).tobytes()


def test_tq2_0_rejects_field_three() -> None:
    raw = tq2_0.pack(np.zeros((1, 256), np.int8), 1.0)
    raw[0, 10] = 0xFF
    with pytest.raises(ValueError, match="field value 3"):
        tq2_0.unpack(raw, 256)


# ---------------------------------------------------------------- I2_S

I2S_COLS = {"x86": [128, 256, 2560], "arm": [64, 192, 2560]}


@pytest.mark.parametrize("layout", ["x86", "arm"])
@pytest.mark.parametrize("rows", ROWS)
@pytest.mark.parametrize("kind", KINDS)
def test_i2s_round_trip_exact(layout: str, rows: int, kind: str) -> None:
    for cols in I2S_COLS[layout]:
        codes = _fill(kind, rows, cols, seed=rows + cols)
        raw = i2_s.pack(codes, 0.8125, layout)
        assert raw.dtype == np.uint8 and raw.shape == (i2_s.tensor_nbytes(rows, cols),)
        assert raw.size == rows * cols // 4 + 32
        back, scale = i2_s.unpack(raw, rows, cols, layout)
        np.testing.assert_array_equal(back, codes)
        assert scale == np.float32(0.8125) and isinstance(scale, np.float32)
        assert not raw[rows * cols // 4 + 4 :].any()
        np.testing.assert_array_equal(i2_s.dequantize(raw, rows, cols, layout), codes * 0.8125)


def test_i2s_byte_layout_by_hand() -> None:
    codes = np.zeros((1, 128), np.int8)
    codes[0, 0] = 1  # byte 0 bits 7:6 = 2
    codes[0, 96 + 3] = -1  # byte 3 bits 1:0 = 0
    raw = i2_s.pack(codes, 2.0)
    assert raw[0] == 0b10010101 and raw[3] == 0b01010100 and raw[1] == 0b01010101
    assert raw[32:36].tobytes() == np.float32(2.0).tobytes()
    arm = i2_s.pack(codes, 2.0, "arm")  # 64-blocks of 16 bytes: element 99 = block 1, j 35
    assert arm[0] == 0b10010101 and arm[16 + 3] == 0b01010001


def test_i2s_quantize_follows_bitnet_cpp_rule() -> None:
    rng = np.random.default_rng(3)
    codes = _codes(rng, 4, 256)
    w = codes.astype(np.float32) * np.float32(0.37)
    w[0, 0] = 5e-7  # below bitnet.cpp's 1e-6 zero threshold
    expect = codes.copy()
    expect[0, 0] = 0
    back, scale = i2_s.unpack(i2_s.quantize(w), 4, 256)
    np.testing.assert_array_equal(back, expect)
    assert scale == np.float32(0.37)


def test_i2s_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="multiple of 128"):
        i2_s.pack(np.zeros((2, 200), np.int8), 1.0)
    with pytest.raises(ValueError, match="multiple of 64"):
        i2_s.pack(np.zeros((2, 96), np.int8), 1.0, "arm")
    with pytest.raises(ValueError, match="multiple of 128"):
        i2_s.unpack(np.zeros(82, np.uint8), 1, 200)
    with pytest.raises(ValueError, match="takes 96 bytes"):
        i2_s.unpack(np.zeros(95, np.uint8), 2, 128)
    with pytest.raises(ValueError, match="unknown layout"):
        i2_s.pack(np.zeros((1, 128), np.int8), 1.0, "riscv")
    with pytest.raises(ValueError, match="ternary"):
        i2_s.pack(np.full((1, 128), -2, np.int8), 1.0)


def test_i2s_matches_our_kernel_layout() -> None:
    """Same codes after unpacking; x86 I2_S bytes are our i2 bytes with the fields reversed."""
    rng = np.random.default_rng(11)
    codes = _codes(rng, 6, 640)
    ours = kl.pack(codes, "i2")
    ext = i2_s.pack(codes, 1.0)
    back, _ = i2_s.unpack(ext, 6, 640)
    np.testing.assert_array_equal(back, kl.unpack(ours, 640, "i2"))
    f = [(ours >> s) & 3 for s in (0, 2, 4, 6)]
    swapped = (f[0] << 6) | (f[1] << 4) | (f[2] << 2) | f[3]
    np.testing.assert_array_equal(ext[: 6 * 640 // 4], swapped.reshape(-1))


# ---------------------------------------------------------------- Hugging Face packed


@pytest.mark.parametrize("out_f", [4, 8, 12, 100, 2560])
@pytest.mark.parametrize("kind", KINDS)
def test_hf_round_trip_exact(out_f: int, kind: str) -> None:
    codes = _fill(kind, out_f, 64, seed=out_f)
    packed = hf_packed.pack(codes)
    assert packed.dtype == np.uint8 and packed.shape == (out_f // 4, 64)
    np.testing.assert_array_equal(hf_packed.unpack(packed), codes)
    np.testing.assert_array_equal(hf_packed.unpack(packed, out_f), codes)


def test_hf_byte_layout_and_padding() -> None:
    codes = np.zeros((8, 1), np.int8)
    codes[1, 0], codes[3, 0], codes[5, 0], codes[7, 0] = 1, -1, 1, -1
    # byte r holds rows r, r+2, r+4, r+6 in bits 1:0, 3:2, 5:4, 7:6
    np.testing.assert_array_equal(hf_packed.pack(codes)[:, 0], [0b01010101, 0b00100010])
    odd = np.random.default_rng(5).integers(-1, 2, size=(10, 7), dtype=np.int8)
    p = hf_packed.pack(odd)  # ceil(10/4) = 3 rows; missing rows keep field 0 (HF pack_weights)
    assert p.shape == (3, 7) and not ((p >> 6) & 3)[1:].any()
    np.testing.assert_array_equal(hf_packed.unpack(p, 10), odd)


def test_hf_bad_shapes_raise() -> None:
    with pytest.raises(ValueError, match="pack into 2 rows"):
        hf_packed.unpack(np.zeros((3, 4), np.uint8), out_features=8)
    with pytest.raises(ValueError, match="2-D uint8"):
        hf_packed.unpack(np.zeros((3, 4), np.int8))
    with pytest.raises(ValueError, match="2-D"):
        hf_packed.pack(np.zeros(8, np.int8))
    with pytest.raises(ValueError, match="field value 3"):
        hf_packed.unpack(np.full((1, 1), 0xFF, np.uint8))


def test_hf_scale_conventions_both_ways() -> None:
    gamma = 0.0625
    ws_bit = hf_packed.gamma_to_weight_scale(gamma)  # bitlinear is the default
    assert ws_bit == pytest.approx(16.0)
    assert hf_packed.weight_scale_to_gamma(ws_bit) == pytest.approx(gamma)
    assert hf_packed.weight_scale_to_gamma(16.0, "bitlinear", "online") == pytest.approx(gamma)
    ws_auto = hf_packed.gamma_to_weight_scale(gamma, "autobitlinear", "offline")
    assert ws_auto == gamma
    assert hf_packed.weight_scale_to_gamma(ws_auto, "autobitlinear", None) == gamma
    assert hf_packed.gamma_to_weight_scale(0.0) == pytest.approx(1e5)  # clamp(mean, 1e-5)
    assert hf_packed.gamma_to_weight_scale(0.0, "autobitlinear", "offline") == 0.0
    with pytest.raises(ValueError, match="unknown linear_class"):
        hf_packed.weight_scale_to_gamma(1.0, "ternarylinear")
    with pytest.raises(ValueError, match="unknown quantization_mode"):
        hf_packed.weight_scale_to_gamma(1.0, "autobitlinear", "lazy")
    with pytest.raises(ValueError, match="no weight_scale"):
        hf_packed.weight_scale_to_gamma(1.0, "autobitlinear", "online")
    with pytest.raises(ValueError, match="nonzero"):
        hf_packed.weight_scale_to_gamma(0.0, "bitlinear")


def test_hf_dequantized_linear_matches_both_conventions() -> None:
    """y from each HF forward rule equals codes * gamma applied to the quantized input."""
    rng = np.random.default_rng(9)
    codes = _codes(rng, 8, 16)
    x_q = rng.integers(-128, 128, size=(2, 16)).astype(np.float64)
    s_x, gamma = 3.5, 0.0421
    dots = x_q @ codes.T.astype(np.float64)
    ref = dots * gamma / s_x
    ws = hf_packed.gamma_to_weight_scale(gamma, "bitlinear")
    np.testing.assert_allclose(dots / (s_x * ws), ref, rtol=1e-12)  # BitLinear.forward
    ws = hf_packed.gamma_to_weight_scale(gamma, "autobitlinear", "offline")
    np.testing.assert_allclose(dots / s_x * ws, ref, rtol=1e-12)  # AutoBitLinear.forward
