"""The fp16 / fp32 matmul kernels against float64, once per SIMD path this CPU runs.

Any summation order is within float32 rounding of the exact result; a single token must
also sum exactly as its row of a batch does (decode and prefill of an fp16 model agree).
"""

from __future__ import annotations

import numpy as np
import pytest

from bitnet_studio import kernels
from tests.seeded import rng_for

U = 2.0**-24  # float32 unit roundoff


@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=["f16", "f32"])
def test_float_gemm_matches_float64(kernel_path: str, dtype: type) -> None:
    rng = rng_for("fgemm", np.dtype(dtype).name)
    fn = kernels.f16_gemm if dtype is np.float16 else kernels.f32_gemm
    for rows in (1, 3, 17, 100):
        for cols in (1, 7, 8, 15, 16, 17, 31, 33, 64, 127, 129, 1000, 2560):
            w = (rng.standard_normal((rows, cols)) * 0.05).astype(dtype)
            x = rng.standard_normal((3, cols), dtype=np.float32)
            w64, x64 = w.astype(np.float64), x.astype(np.float64)
            ref = x64 @ w64.T
            # Any summation order is within (n + 1) u of the sum of magnitudes.
            tol = (cols + 2) * U * (np.abs(x64) @ np.abs(w64).T) + 1e-30
            y = fn(w, x, path=kernel_path)
            assert y.dtype == np.float32 and y.shape == (3, rows)
            err = np.abs(y - ref)
            assert (err <= tol).all(), f"{rows}x{cols}: worst {np.max(err / tol):.2f} of bound"
            v = fn(w, x[1], path=kernel_path)
            assert v.shape == (rows,)
            assert (np.abs(v - ref[1]) <= tol[1]).all()


@pytest.mark.parametrize("dtype", [np.float16, np.float32], ids=["f16", "f32"])
def test_float_gemv_is_bit_identical_to_its_row_of_a_batch(kernel_path: str, dtype: type) -> None:
    # One token runs its own single-stream kernel; it must sum in the batched tile's order,
    # or a fp16 model's decode would drift from its prefill of the same tokens.
    rng = rng_for("fgemv-batch", np.dtype(dtype).name)
    fn = kernels.f16_gemm if dtype is np.float16 else kernels.f32_gemm
    for cols in (5, 16, 31, 33, 63, 64, 65, 100, 576, 1000, 2560):
        w = (rng.standard_normal((13, cols)) * 0.05).astype(dtype)
        x = rng.standard_normal((5, cols), dtype=np.float32)
        batched = fn(w, x, path=kernel_path)
        for t in range(5):
            np.testing.assert_array_equal(
                fn(w, x[t], path=kernel_path), batched[t], err_msg=f"cols={cols} t={t}"
            )


def test_f16_decodes_every_half_value(kernel_path: str) -> None:
    bits = np.arange(65536, dtype=np.uint16)
    w = bits.view(np.float16).reshape(-1, 1)
    y = kernels.f16_gemm(w, np.ones((1, 1), np.float32), path=kernel_path)[0]
    ref = w[:, 0].astype(np.float32)
    nan = np.isnan(ref)
    assert np.array_equal(np.isnan(y), nan)
    np.testing.assert_array_equal(y[~nan], ref[~nan])
    # Finite values at every lane of a 32-wide row (the SIMD body, not only the tail).
    finite = bits[np.isfinite(bits.view(np.float16))]
    w32 = np.zeros((finite.size, 32), np.uint16)
    w32[np.arange(finite.size), np.arange(finite.size) % 32] = finite
    y32 = kernels.f16_gemm(w32, np.ones((1, 32), np.float32), path=kernel_path)[0]
    np.testing.assert_array_equal(y32, finite.view(np.float16).astype(np.float32))


def test_float_gemm_unaligned_and_out(kernel_path: str) -> None:
    """Buffers 4-byte aligned but not 16/32/64-byte aligned: SIMD loads must be unaligned."""
    rng = rng_for("falign")
    rows, cols = 19, 133
    w = rng.standard_normal((rows, cols), dtype=np.float32)
    x = rng.standard_normal((2, cols), dtype=np.float32)
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    tol = (cols + 2) * U * (np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T)
    for off in (1, 2, 3):
        wb = np.zeros(w.size + off, np.float32)
        wv = wb[off:].reshape(w.shape)
        wv[:] = w
        xb = np.zeros(x.size + off, np.float32)
        xv = xb[off:].reshape(x.shape)
        xv[:] = x
        ob = np.zeros(2 * rows + off, np.float32)
        ov = ob[off:].reshape(2, rows)
        kernels.f32_gemm(wv, xv, out=ov, path=kernel_path)
        assert (np.abs(ov - ref) <= tol).all()
        h = wv.astype(np.float16)
        hb = np.zeros(h.size + off, np.float16)
        hv = hb[off:].reshape(h.shape)
        hv[:] = h
        y = kernels.f16_gemm(hv, xv, path=kernel_path)
        ref16 = x.astype(np.float64) @ h.astype(np.float64).T
        assert (np.abs(y - ref16) <= tol).all()
