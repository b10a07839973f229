"""The compiled kernels against the NumPy reference, once per SIMD path this CPU runs.

Integer results must be exact, activation quantization bit-identical, float outputs within
float32 rounding. Every test takes its path from the ``kernel_path`` fixture, so new paths
(AVX2, AVX-512, NEON) are covered as they land. Sizes are kept small enough for the scalar
path; a seeded RNG (no hypothesis) makes failures reproducible.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from bitnet_studio import kernels
from bitnet_studio.quant import kernel_layouts as kl
from bitnet_studio.quant import quantize_activations, ternary_linear_reference
from tests.seeded import rng_for

LAYOUTS = kernels.LAYOUTS
ROWS = (0, 1, 3, 17, 100)
COLS = (1, 31, 127, 128, 129, 160, 161, 300, 576, 1000, 1100, 1440, 2560)
BATCHES = (1, 2, 5, 64)


def _ternary(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)


def _padded(xq: np.ndarray, layout: str, fill: int = 0) -> np.ndarray:
    """Activations (batch, cols) padded to the layout's block multiple."""
    out = np.full((xq.shape[0], kernels.padded_cols(layout, xq.shape[1])), fill, np.int8)
    out[:, : xq.shape[1]] = xq
    return out


def _dots(w: np.ndarray, xq: np.ndarray) -> np.ndarray:
    """Exact reference products (batch, rows) in int64."""
    return xq[:, : w.shape[1]].astype(np.int64) @ w.astype(np.int64).T


def _check_i32(w: np.ndarray, xq: np.ndarray, layout: str, path: str) -> None:
    p = kernels.pack_ternary(w, 1.0, layout)
    got = kernels.ternary_matmul_i32(p, _padded(xq, layout), path)
    assert got.dtype == np.int32 and got.shape == (xq.shape[0], w.shape[0])
    ref = _dots(w, xq)
    if not np.array_equal(got, ref):
        bad = np.argwhere(got != ref)[0]
        pytest.fail(
            f"{path}/{layout} rows={w.shape[0]} cols={w.shape[1]} batch={xq.shape[0]}: "
            f"{np.count_nonzero(got != ref)} wrong, first at {tuple(bad)}: "
            f"{got[tuple(bad)]} != {ref[tuple(bad)]}"
        )


@pytest.fixture
def threads() -> Iterator[Callable[[int], None]]:
    """Sets the kernel thread count; the original count is restored afterwards."""
    before = kernels.get_threads()
    yield kernels.set_threads
    kernels.set_threads(before)


# --- ternary int32 products -----------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("cols", COLS)
def test_i32_random_shapes_exact(kernel_path: str, layout: str, cols: int) -> None:
    rng = rng_for(layout, cols)
    for rows in ROWS:
        w = _ternary(rng, rows, cols)
        for batch in BATCHES:
            xq = rng.integers(-128, 128, size=(batch, cols), dtype=np.int8)
            _check_i32(w, xq, layout, kernel_path)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_i32_large_batch(kernel_path: str, layout: str) -> None:
    rng = rng_for("batch64", layout)
    for rows, cols in ((100, 576), (33, 2560), (64, 1000)):
        w = _ternary(rng, rows, cols)
        xq = rng.integers(-128, 128, size=(64, cols), dtype=np.int8)
        _check_i32(w, xq, layout, kernel_path)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_threads", (1, 2))
def test_i32_gemv_on_matrices_over_1_mib(
    kernel_path: str, layout: str, n_threads: int, threads: Any
) -> None:
    """Matrices of 1 MiB and more take their own batch-1 route on some CPUs (one row at a
    time); exact there too, with an odd block count (the last row's masked half pair)."""
    threads(n_threads)
    rng = rng_for("gemv-1mib", layout)
    for cols in (2560, 2688, 600):
        rows = (1 << 20) // kernels.row_bytes(layout, cols) + 3
        w = _ternary(rng, rows, cols)
        assert kernels.pack_ternary(w, 1.0, layout).data.nbytes >= 1 << 20
        xq = rng.integers(-128, 128, size=(1, cols), dtype=np.int8)
        _check_i32(w, xq, layout, kernel_path)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_threads", (1, 2))
def test_i32_every_batch_1_to_70(
    kernel_path: str, layout: str, n_threads: int, threads: Any
) -> None:
    """Every batch size from 1 to 70: the GEMV, the small-batch tiles, the prefill GEMM and
    every remainder of its token and row tiles, on shapes that are not a multiple of any
    block, row group or tile, at 1 and 2 threads (the drivers split rows into tasks)."""
    threads(n_threads)
    rng = rng_for("batches", layout, n_threads)
    for rows, cols in ((37, 300), (7, 1000), (18, 161)):
        w = _ternary(rng, rows, cols)
        xq_all = rng.integers(-128, 128, size=(70, cols), dtype=np.int8)
        for batch in range(1, 71):
            _check_i32(w, xq_all[:batch], layout, kernel_path)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("n_threads", (1, 2))
def test_i32_gemm_across_cache_blocks(
    kernel_path: str, layout: str, n_threads: int, threads: Any
) -> None:
    """The prefill GEMMs block rows (~160 KiB of codes) and columns (~4 KiB per token): rows
    spanning several row blocks with an odd last one, columns split into K blocks whose
    partial sums add up in the output, token groups with remainders."""
    threads(n_threads)
    rng = rng_for("cache_blocks", layout, n_threads)
    for rows, cols in ((171, 6945), (301, 2560), (65, 9000)):
        w = _ternary(rng, rows, cols)
        for batch in (8, 13, 64):
            xq = rng.integers(-128, 128, size=(batch, cols), dtype=np.int8)
            _check_i32(w, xq, layout, kernel_path)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_i32_int16_bounds_on_long_rows(kernel_path: str, layout: str) -> None:
    """The largest products the int16 stages can meet: all weights +1 or -1 against -128
    and 127 over long rows (many int16 segments), at batch 1, 5 and 64."""
    cols = 6912
    for wv in (1, -1):
        w = np.full((6, cols), wv, np.int8)
        for xv in (-128, 127):
            for batch in (1, 5, 64):
                _check_i32(w, np.full((batch, cols), xv, np.int8), layout, kernel_path)


def _weight_patterns(rows: int, cols: int) -> dict[str, np.ndarray]:
    alt = np.where(np.arange(cols) % 2 == 0, 1, -1).astype(np.int8)
    return {
        "zeros": np.zeros((rows, cols), np.int8),
        "plus": np.ones((rows, cols), np.int8),
        "minus": -np.ones((rows, cols), np.int8),
        "alternating": np.broadcast_to(alt, (rows, cols)).copy(),
        "rows_mixed": np.repeat(np.array([[1], [-1], [0]], np.int8), rows, 0)[:rows].repeat(
            cols, 1
        ),
    }


def _activation_patterns(batch: int, cols: int) -> dict[str, np.ndarray]:
    alt = np.where(np.arange(cols) % 2 == 0, 127, -128).astype(np.int8)
    return {
        "max": np.full((batch, cols), 127, np.int8),
        "min": np.full((batch, cols), -128, np.int8),
        "alternating": np.broadcast_to(alt, (batch, cols)).copy(),
        "zeros": np.zeros((batch, cols), np.int8),
    }


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("cols", (1, 129, 161, 2560, 16384))
def test_i32_extreme_values(kernel_path: str, layout: str, cols: int) -> None:
    """All-zero / all-±1 weights against saturating activations: catches int16 overflow."""
    rows = 3 if cols > 4096 else 17
    for w in _weight_patterns(rows, cols).values():
        for xq in _activation_patterns(2, cols).values():
            _check_i32(w, xq, layout, kernel_path)
    # The largest possible magnitude: every product is +128 (or -128 * 1).
    w = -np.ones((rows, cols), np.int8)
    xq = np.full((1, cols), -128, np.int8)
    _check_i32(w, xq, layout, kernel_path)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_i32_padding_and_alignment(kernel_path: str, layout: str) -> None:
    """Garbage in the padding columns is ignored; odd buffer addresses are fine (no aligned
    loads), for both the activations and the packed weights."""
    rng = rng_for("align", layout)
    for rows, cols in ((17, 129), (40, 300), (5, 1000)):
        w = _ternary(rng, rows, cols)
        xq = rng.integers(-128, 128, size=(3, cols), dtype=np.int8)
        p = kernels.pack_ternary(w, 1.0, layout)
        ref = _dots(w, xq)
        garbage = _padded(xq, layout, fill=-128)
        np.testing.assert_array_equal(kernels.ternary_matmul_i32(p, garbage, kernel_path), ref)
        for off in (1, 3, 7):
            xbuf = np.zeros(garbage.size + off, np.uint8)
            xv = xbuf[off:].view(np.int8).reshape(garbage.shape)
            xv[:] = _padded(xq, layout)
            wbuf = np.zeros(p.data.size + off, np.uint8)
            wv = wbuf[off:].reshape(p.data.shape)
            wv[:] = p.data
            pm = dataclasses.replace(p, data=wv)
            np.testing.assert_array_equal(kernels.ternary_matmul_i32(pm, xv, kernel_path), ref)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_i32_degenerate_shapes(kernel_path: str, layout: str) -> None:
    w = _ternary(rng_for("deg"), 5, 40)
    p = kernels.pack_ternary(w, 1.0, layout)
    empty = np.zeros((0, kernels.padded_cols(layout, 40)), np.int8)
    assert kernels.ternary_matmul_i32(p, empty, kernel_path).shape == (0, 5)
    y = kernels.ternary_gemm(p, np.zeros((0, 40), np.float32), path=kernel_path)
    assert y.shape == (0, 5)
    p0 = kernels.pack_ternary(np.zeros((0, 40), np.int8), 1.0, layout)
    assert kernels.ternary_gemm(p0, np.ones((2, 40), np.float32), path=kernel_path).shape == (2, 0)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_threads_give_identical_results(kernel_path: str, layout: str, threads: Any) -> None:
    rng = rng_for("threads", layout)
    # Enough work per call that the drivers split the rows into several tasks.
    w = _ternary(rng, 100, 2560)
    xq = rng.integers(-128, 128, size=(4, 2560), dtype=np.int8)
    x = rng.standard_normal((4, 2560), dtype=np.float32)
    p = kernels.pack_ternary(w, np.float32(0.03), layout)
    wf = (rng.standard_normal((100, 2560)) * 0.05).astype(np.float32)
    results: dict[int, list[np.ndarray]] = {}
    for n in (1, 2):
        threads(n)
        assert kernels.get_threads() == n
        results[n] = [
            kernels.ternary_matmul_i32(p, _padded(xq, layout), kernel_path),
            kernels.ternary_gemm(p, x, path=kernel_path),
            kernels.f32_gemm(wf, x, path=kernel_path),
            kernels.f16_gemm(wf.astype(np.float16), x, path=kernel_path),
        ]
    np.testing.assert_array_equal(results[1][0], _dots(w, xq))
    for a, b in zip(results[1], results[2], strict=True):
        np.testing.assert_array_equal(a, b)


# --- ternary float outputs ------------------------------------------------------------------


def _assert_close_f32(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    tol = 4 * np.finfo(np.float32).eps * (np.abs(ref) + np.float32(1e-30))
    bad = np.abs(got.astype(np.float64) - ref) > tol
    assert not bad.any(), (
        f"{what}: {np.count_nonzero(bad)} outputs off, e.g. {got[bad][:4]} vs {ref[bad][:4]}"
    )


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gemm_gemv_match_reference(kernel_path: str, layout: str) -> None:
    rng = rng_for("gemm", layout)
    for rows, cols in ((1, 1), (3, 31), (17, 129), (100, 161), (33, 576), (20, 2560)):
        w = _ternary(rng, rows, cols)
        gamma = np.float32(rng.uniform(0.01, 0.1))
        p = kernels.pack_ternary(w, gamma, layout)
        for batch in (1, 2, 5, 16):
            x = (rng.standard_normal((batch, cols)) * rng.uniform(0.1, 10)).astype(np.float32)
            _, y_ref = ternary_linear_reference(w, gamma, x)
            y = kernels.ternary_gemm(p, x, path=kernel_path)
            assert y.dtype == np.float32 and y.shape == (batch, rows)
            _assert_close_f32(y, y_ref, f"gemm {rows}x{cols} batch {batch}")
        v = kernels.ternary_gemv(p, x[0], path=kernel_path)
        assert v.shape == (rows,)
        _assert_close_f32(v, ternary_linear_reference(w, gamma, x[:1])[1][0], "gemv")
        out = np.full(rows, np.nan, np.float32)
        assert kernels.ternary_gemv(p, x[0], out=out, path=kernel_path) is not None
        np.testing.assert_array_equal(out, v)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gemm_per_row_scale_and_out(kernel_path: str, layout: str) -> None:
    rng = rng_for("rowscale", layout)
    rows, cols, batch = 37, 300, 3
    w = _ternary(rng, rows, cols)
    scale = rng.uniform(0.01, 0.2, rows).astype(np.float32)
    p = kernels.pack_ternary(w, scale, layout)
    x = rng.standard_normal((batch, cols), dtype=np.float32)
    xq, s_x = quantize_activations(x)
    dots = (xq.astype(np.int64) @ w.astype(np.int64).T).astype(np.float32)
    ref = dots * (scale[None, :] * (np.float32(1.0) / s_x[:, None]))
    out = np.full((batch, rows), np.nan, np.float32)
    y = kernels.ternary_gemm(p, x, out=out, path=kernel_path)
    assert np.shares_memory(y, out)
    _assert_close_f32(out, ref, "per-row scale")


# --- activation quantization ----------------------------------------------------------------


def _quant_cases() -> dict[str, np.ndarray]:
    rng = rng_for("quant")
    f32 = np.float32
    ties = np.array([[127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -126.5, 3.5, 4.5]], f32)
    ties2 = np.array([[254, 1, 3, 5, -1, -3, -5, 251, 253]], f32)  # s = 0.5: x * s ties
    return {
        "normal": rng.standard_normal((5, 1000), dtype=f32),
        "ties": ties,
        "ties_scaled": ties2,
        "huge": np.array([[3.4e38, -1e38, 1e30, 1.0, -2e37]], f32),
        "tiny": np.array([[1e-30, -3e-31, 1e-40, 0.0, 2e-38]], f32),
        "below_eps": np.full((2, 33), 3e-6, f32) * np.arange(33, dtype=f32),
        "zeros": np.zeros((3, 161), f32),
        "mixed_zero_rows": np.vstack(
            [np.zeros((1, 129), f32), rng.standard_normal((2, 129))]
        ).astype(f32),
        "negative_max": -np.abs(rng.standard_normal((2, 31), dtype=f32)) - 1,
        "one_col": np.array([[-2.0], [0.0], [5.0]], f32),
        "wide": (rng.standard_normal((2, 2560)) * 100).astype(f32),
    }


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", sorted(_quant_cases()))
def test_quantize_bit_identical(kernel_path: str, layout: str, case: str) -> None:
    x = _quant_cases()[case]
    for cols in sorted({x.shape[1], *(c for c in (1, 7, 17, 33, 129) if c < x.shape[1])}):
        xc = np.ascontiguousarray(x[:, :cols])
        xq, s = kernels.quantize_activations(xc, layout, kernel_path)
        ref_q, ref_s = quantize_activations(xc)
        assert xq.shape == (x.shape[0], kernels.padded_cols(layout, cols))
        np.testing.assert_array_equal(xq[:, :cols], ref_q, err_msg=f"{case} cols={cols}")
        assert not xq[:, cols:].any(), "padding must be zero"
        np.testing.assert_array_equal(s.view(np.uint32), ref_s.view(np.uint32))


def test_quantize_ties_round_half_to_even(kernel_path: str) -> None:
    x = np.array([[127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5]], np.float32)
    xq, s = kernels.quantize_activations(x, "i2", kernel_path)
    assert s[0] == 1.0
    np.testing.assert_array_equal(xq[0, :8], [127, 0, 2, 2, 0, -2, -2, 126])


# --- packing and torch interop --------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_pack_matches_reference_and_round_trips(layout: str) -> None:
    rng = rng_for("pack", layout)
    for rows, cols in ((1, 1), (3, 127), (17, 161), (4, 2560)):
        w = _ternary(rng, rows, cols)
        p = kernels.pack_ternary(w, 1.0, layout)
        np.testing.assert_array_equal(p.data, kl.pack(w, layout))
        np.testing.assert_array_equal(kernels.unpack_ternary(p), w)


def test_torch_tensors_are_accepted_without_copies(kernel_path: str) -> None:
    torch = pytest.importorskip("torch")
    rng = rng_for("torch")
    w = _ternary(rng, 17, 300)
    x = rng.standard_normal((3, 300), dtype=np.float32)
    for layout in LAYOUTS:
        p_np = kernels.pack_ternary(w, 0.05, layout)
        p_t = kernels.pack_ternary(torch.from_numpy(w), 0.05, layout)
        np.testing.assert_array_equal(p_t.data, p_np.data)
        y_np = kernels.ternary_gemm(p_np, x, path=kernel_path)
        out = torch.full((3, 17), float("nan"))
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        y = kernels.ternary_gemm(p_t, xt, out=out, path=kernel_path)
        assert np.shares_memory(y, out.numpy()), "out must be written in place"
        np.testing.assert_array_equal(out.numpy(), y_np)
        xq_t, s_t = kernels.quantize_activations(torch.from_numpy(x), layout, kernel_path)
        xq_n, s_n = kernels.quantize_activations(x, layout, kernel_path)
        np.testing.assert_array_equal(xq_t, xq_n)
        np.testing.assert_array_equal(s_t, s_n)
    wf = torch.randn(9, 300, generator=torch.Generator().manual_seed(0))
    y16 = kernels.f16_gemm(wf.half(), torch.from_numpy(x), path=kernel_path)
    np.testing.assert_array_equal(y16, kernels.f16_gemm(wf.half().numpy(), x, path=kernel_path))
    y32 = kernels.f32_gemm(wf, torch.from_numpy(x[0]), path=kernel_path)
    np.testing.assert_array_equal(y32, kernels.f32_gemm(wf.numpy(), x[0], path=kernel_path))


_NO_AMX_SCRIPT = """
import numpy as np
from bitnet_studio import kernels
rng = np.random.default_rng(7)
for layout in kernels.LAYOUTS:
    for rows, cols in ((37, 300), (18, 1000)):
        w = rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)
        p = kernels.pack_ternary(w, 1.0, layout)
        for batch in (16, 17, 33, 64, 70):
            xq = np.zeros((batch, kernels.padded_cols(layout, cols)), np.int8)
            xq[:, :cols] = rng.integers(-128, 128, size=(batch, cols), dtype=np.int8)
            got = kernels.ternary_matmul_i32(p, xq, "avx512")
            ref = xq[:, :cols].astype(np.int64) @ w.astype(np.int64).T
            assert np.array_equal(got, ref), (layout, rows, cols, batch)
print("ok")
"""


@pytest.mark.skipif("avx512" not in kernels.available_paths(), reason="no AVX-512 path here")
def test_avx512_gemm_exact_with_amx_turned_off() -> None:
    """From 16 tokens on the AVX-512 path uses AMX tiles where the CPU and OS allow them;
    BITNET_STUDIO_AMX=0 keeps the VNNI panel kernel, which must be exact as well."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, BITNET_STUDIO_AMX="0")
    proc = subprocess.run(
        [sys.executable, "-c", _NO_AMX_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
