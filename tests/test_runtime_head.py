"""The runtime's own SIMD kernels (kernels/head_*.cpp) on every path this CPU runs: the
int8 and 4-bit heads against the NumPy reference, fp16 conversion against NumPy, and the
fp16 KV cache against the float32 one."""

from __future__ import annotations

import numpy as np
import pytest

from bitnet_studio import _kernels as _k
from bitnet_studio import kernels
from bitnet_studio.engine.head_quant import (
    q4_cols,
    q4_reference,
    quantize_i8_rows,
    quantize_q4,
    unpack_q4,
)
from bitnet_studio.engine.native_backend import NativeBackend
from bitnet_studio.models.random_model import random_model, tiny_config

PATHS = kernels.available_paths()
SHAPES = [(1, 32), (17, 64), (40, 96), (33, 200), (70, 576), (16, 2560)]


def _activations(rng: np.random.Generator, batch: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    width = q4_cols(cols) + 64  # a stride wider than the row, padding zero-filled
    xq = np.zeros((batch, width), dtype=np.int8)
    xq[:, :cols] = rng.integers(-127, 128, size=(batch, cols))
    return xq, (rng.random(batch) * 3 + 0.5).astype(np.float32)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("rows", "cols"), SHAPES)
def test_int8_head_is_exact(path: str, rows: int, cols: int) -> None:
    rng = np.random.default_rng(rows * cols)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    q, scale = quantize_i8_rows(w)
    for batch in (1, 3):
        xq, s_x = _activations(rng, batch, cols)
        y = np.empty((batch, rows), dtype=np.float32)
        _k.head_rows("i8", q, scale, cols, xq, s_x, y, path)
        acc = xq[:, :cols].astype(np.int64) @ q.astype(np.int64).T  # exact integer products
        want = acc.astype(np.float32) * (scale[None, :] * (np.float32(1) / s_x[:, None]))
        np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("rows", "cols"), SHAPES)
def test_q4_head_matches_the_reference(path: str, rows: int, cols: int) -> None:
    rng = np.random.default_rng(rows + cols)
    w = rng.standard_normal((rows, cols)).astype(np.float32)
    packed, scales = quantize_q4(w)
    for batch in (1, 2):
        xq, s_x = _activations(rng, batch, cols)
        y = np.empty((batch, rows), dtype=np.float32)
        _k.head_rows("q4", packed, scales, cols, xq, s_x, y, path)
        want = q4_reference(packed, scales, cols, xq, s_x)
        # integer block sums are exact; only the float sum over blocks is reordered
        scale = np.abs(want).max() + 1e-6
        assert np.max(np.abs(y - want)) / scale < 2e-6
        # a token alone (one row at a time) sums exactly as its row of the batch (two rows)
        for t in range(batch):
            alone = np.empty((1, rows), dtype=np.float32)
            _k.head_rows("q4", packed, scales, cols, xq[t : t + 1], s_x[t : t + 1], alone, path)
            np.testing.assert_array_equal(alone[0], y[t])


def test_q4_quantization_round_trips_within_a_step() -> None:
    w = np.random.default_rng(0).standard_normal((8, 100)).astype(np.float32)
    packed, scales = quantize_q4(w)
    q = unpack_q4(packed, 100).astype(np.float32)
    d = np.repeat(scales.view(np.float16).astype(np.float32), 32, axis=1)[:, :100]
    assert np.all(np.abs(q * d - w) <= d * 0.5 + 1e-6)
    assert packed.shape == (8, 64) and scales.shape == (8, 4)


@pytest.mark.parametrize("path", PATHS)
def test_to_f16_rounds_like_numpy(path: str) -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            rng.standard_normal(1000).astype(np.float32) * 10.0 ** rng.integers(-9, 6, 1000),
            np.array([0.0, -0.0, 65504, 65519, 65520, 1e9, -1e9, 6e-8, 3e-8, np.inf], np.float32),
        ]
    ).astype(np.float32)
    out = np.empty(x.size, dtype=np.uint16)
    _k.to_f16(x, out, path)
    with np.errstate(over="ignore"):  # 65520 and up become infinity on both sides
        want = x.astype(np.float16).view(np.uint16)
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("arch", ["llama", "bitnet-b1.58"])
def test_fp16_kv_cache_is_close_to_float32(path: str, arch: str) -> None:
    model = random_model(tiny_config(arch), seed=7)
    before = kernels.active_path()
    kernels.set_path(path)
    try:
        f32 = NativeBackend().load(model, threads=2)
        f16 = NativeBackend(kv_f16=True).load(model, threads=2)
        prompt = [3, 9, 27, 81, 5, 25, 125, 7, 49]
        a, b = f32.prefill(prompt), f16.prefill(prompt)
        for t in (11, 13, 17):
            a = np.vstack([a, f32.decode(t)])
            b = np.vstack([b, f16.decode(t)])
        assert f16.memory()["kv_cache"] * 2 == f32.memory()["kv_cache"]
    finally:
        kernels.set_path(before)
    err = np.max(np.abs(a - b)) / np.max(np.abs(a))
    # fp16 keys/values: ~1e-3 relative for float linears; a ternary model requantizes its
    # activations to int8 after attention, where a rounding flip moves a logit by a step
    assert 0 < err < (5e-3 if arch == "llama" else 5e-2)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9999


@pytest.mark.parametrize("head", ["i8", "q4"])
def test_quantized_heads_track_the_f16_head(head: str) -> None:
    model = random_model(tiny_config("llama"), seed=3)
    ref = NativeBackend().load(model, threads=1)
    q = NativeBackend(head_dtype=head).load(model, threads=1)
    prompt = [4, 8, 15, 16, 23, 42]
    a, b = ref.prefill(prompt), q.prefill(prompt)
    corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert corr > (0.999 if head == "i8" else 0.98)
    mem = q.memory()
    cfg = model.config
    bits = 8 if head == "i8" else 4.5  # 4-bit codes + one fp16 scale per 32
    assert mem["head"] <= cfg.vocab_size * q4_cols(cfg.hidden_size) * bits / 8 + 4 * cfg.vocab_size


def _kv_rows(
    rng: np.random.Generator, length: int, hd: int, f16: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """K and V rows as float32 values (the fp16-rounded ones for an fp16 cache) and as the
    arrays the kernel reads (uint16 fp16 bits, or the float32 rows themselves)."""
    k = rng.standard_normal((length, hd)).astype(np.float32)
    v = rng.standard_normal((length, hd)).astype(np.float32)
    if not f16:
        return k, v, k, v
    k16, v16 = k.astype(np.float16), v.astype(np.float16)
    return k16.astype(np.float32), v16.astype(np.float32), k16.view(np.uint16), v16.view(np.uint16)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("hd", [64, 72, 80, 128])
@pytest.mark.parametrize("f16", [False, True])
def test_attention_kernels_match_numpy(path: str, hd: int, f16: bool) -> None:
    """Scores (four positions per reduction) and the register-resident weighted sum of
    V, for lengths around every unroll boundary; 72 takes the plain loops on AVX-512."""
    rng = np.random.default_rng(hd + int(f16))
    # 33 .. 301 cross the weighted sum's blocks (16 KiB of V rows: 32-128 rows here)
    for length in (1, 2, 3, 4, 5, 7, 8, 9, 33, 65, 130, 301):
        q = rng.standard_normal(hd).astype(np.float32)
        k, v, k_arr, v_arr = _kv_rows(rng, length, hd, f16)
        scores = np.full(length + 3, np.nan, dtype=np.float32)
        out = np.full(hd, np.nan, dtype=np.float32)
        mx = _k.attn_head(q, k_arr, v_arr, 0.125, scores, out, path)
        want = (k.astype(np.float64) @ q) * 0.125
        np.testing.assert_allclose(scores[:length], want, rtol=1e-5, atol=1e-5)
        assert mx == scores[:length].max()
        want_out = scores[:length].astype(np.float64) @ v
        np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", PATHS)
def test_exp_and_silu_kernels_match_numpy(path: str) -> None:
    """The vector exp (softmax numerators, SiLU) within a few ulp of float64, on lengths
    around the vector widths, extreme inputs included; NaN stays NaN."""
    rng = np.random.default_rng(7)
    for n in (1, 7, 8, 15, 16, 17, 33, 100, 1000):
        x = (rng.standard_normal(n) * 30).astype(np.float32)
        x[: min(n, 3)] = [-200.0, 80.0, -87.0][: min(n, 3)]
        mx = np.float32(x.max())
        got = x.copy()
        total = _k.exp_sum(got, float(mx), path)
        want = np.exp((x - mx).astype(np.float64))  # the difference is taken in float32
        np.testing.assert_allclose(got, want, rtol=5e-7, atol=1e-36)
        assert abs(total - want.sum()) <= 1e-6 * want.sum()
        g = (rng.standard_normal(n) * 8).astype(np.float32)
        g[: min(n, 2)] = [-120.0, 95.0][: min(n, 2)]
        u = rng.standard_normal(n).astype(np.float32)
        gd = g.astype(np.float64)
        want_g = gd / (1.0 + np.exp(-gd)) * u
        _k.silu_mul(g, u, path)
        np.testing.assert_allclose(g, want_g, rtol=1e-6, atol=1e-30)
    nan = np.array([np.nan] * 17, dtype=np.float32)
    _k.exp_sum(nan, 0.0, path)
    assert np.isnan(nan).all()


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("hd", [64, 72, 128])
@pytest.mark.parametrize("f16", [False, True])
def test_four_query_attention_kernels_match_numpy(path: str, hd: int, f16: bool) -> None:
    """The prefill kernels: four queries share each K / V row read."""
    rng = np.random.default_rng(hd * 3 + int(f16))
    for length in (1, 3, 4, 9, 40, 65, 130, 301):
        q = rng.standard_normal((4, hd)).astype(np.float32)
        k, v, k_arr, v_arr = _kv_rows(rng, length, hd, f16)
        scores = np.full((4, length + 5), np.nan, dtype=np.float32)
        out = np.full((4, hd), np.nan, dtype=np.float32)
        _k.attn_head4(q, k_arr, v_arr, 0.25, scores, out, path)
        want = (q.astype(np.float64) @ k.T) * 0.25
        np.testing.assert_allclose(scores[:, :length], want, rtol=1e-5, atol=1e-5)
        want_out = scores[:, :length].astype(np.float64) @ v
        np.testing.assert_allclose(out, want_out, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("hd", [64, 128])
@pytest.mark.parametrize("f16", [False, True])
def test_four_query_attention_is_bit_identical_to_one_query(path: str, hd: int, f16: bool) -> None:
    """Prefill's four-query kernels and decode's one-query kernels must agree to the bit
    (a prompt's logits do not depend on how it was split), also over many blocks of the
    weighted sum, whose partial sums wait in memory between blocks."""
    rng = np.random.default_rng(hd + 11 * int(f16))
    for length in (31, 64, 97, 300, 1001):
        q = rng.standard_normal((4, hd)).astype(np.float32)
        _, _, k_arr, v_arr = _kv_rows(rng, length, hd, f16)
        scores4 = np.full((4, length + 5), np.nan, dtype=np.float32)
        out4 = np.full((4, hd), np.nan, dtype=np.float32)
        _k.attn_head4(q, k_arr, v_arr, 0.25, scores4, out4, path)
        for g in range(4):
            scores = np.full(length + 3, np.nan, dtype=np.float32)
            out = np.full(hd, np.nan, dtype=np.float32)
            _k.attn_head(q[g], k_arr, v_arr, 0.25, scores, out, path)
            np.testing.assert_array_equal(scores[:length], scores4[g, :length])
            np.testing.assert_array_equal(out, out4[g])


def test_row_max_finds_the_largest_score_anywhere() -> None:
    # softmax subtracts it: a maximum missed (say in a tail after the 8-wide part) lets
    # exp overflow on large scores
    rng = np.random.default_rng(7)
    for n in (1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 301):
        for where in range(n):
            s = rng.standard_normal(n).astype(np.float32)
            s[where] = 1000.0
            assert _k.row_max(s) == 1000.0, (n, where)
        s = rng.standard_normal(n).astype(np.float32)
        s[:: max(1, n // 3)] = np.nan  # NaNs are skipped, as std::max(mx, s) skips them
        finite = s[~np.isnan(s)]
        assert _k.row_max(s) == (finite.max() if finite.size else -np.inf)
    assert _k.row_max(np.full(5, np.nan, np.float32)) == -np.inf
    assert _k.row_max(np.zeros(0, np.float32)) == -np.inf
