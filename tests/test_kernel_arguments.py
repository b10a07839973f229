"""Bad arguments to the kernel API raise ``KernelArgumentError`` (a ValueError) with a clear
message, never crash: wrong dtype, ndim, shape, non-contiguous, misaligned, read-only, ..."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from bitnet_studio import kernels

# --- argument errors ------------------------------------------------------------------------


def _bad_calls() -> dict[str, tuple[Callable[[], object], str]]:
    w = np.zeros((4, 40), np.int8)
    p = kernels.pack_ternary(w, 1.0, "i2")
    x = np.zeros((2, 40), np.float32)
    xq = np.zeros((2, 128), np.int8)
    wf = np.zeros((4, 40), np.float32)
    buf = np.zeros(4 * 80 + 1, np.uint8)
    misaligned = np.frombuffer(buf, np.float32, count=80, offset=1).reshape(2, 40)
    readonly = np.zeros((2, 4), np.float32)
    readonly.flags.writeable = False
    cases: dict[str, tuple[Callable[[], object], str]] = {
        "pack dtype": (lambda: kernels.pack_ternary(w.astype(np.int16)), "dtype"),
        "pack float": (lambda: kernels.pack_ternary(w.astype(np.float32)), "dtype"),
        "pack ndim 1": (lambda: kernels.pack_ternary(w[0]), "2-D"),
        "pack ndim 3": (lambda: kernels.pack_ternary(w[None]), "2-D"),
        "pack noncontig": (lambda: kernels.pack_ternary(w[:, ::2]), "contiguous"),
        "pack value 2": (lambda: kernels.pack_ternary(w + 2), r"\{-1, 0, 1\}"),
        "pack value -2": (lambda: kernels.pack_ternary(w - 2), r"\{-1, 0, 1\}"),
        "pack layout": (lambda: kernels.pack_ternary(w, 1.0, "i3"), "layout"),
        "pack scale": (lambda: kernels.pack_ternary(w, np.ones(3, np.float32)), "scale"),
        "pack list": (lambda: kernels.pack_ternary([[0, 1]]), "NumPy array"),
        "i32 dtype": (lambda: kernels.ternary_matmul_i32(p, xq.view(np.uint8)), "dtype"),
        "i32 unpadded": (lambda: kernels.ternary_matmul_i32(p, xq[:, :40].copy()), "padded"),
        "i32 ndim": (lambda: kernels.ternary_matmul_i32(p, xq[0]), "2-D"),
        "i32 noncontig": (
            lambda: kernels.ternary_matmul_i32(p, np.zeros((2, 256), np.int8)[:, ::2]),
            "contiguous",
        ),
        "i32 layout": (
            lambda: kernels.ternary_matmul_i32(dataclasses.replace(p, layout="q4"), xq),
            "layout",
        ),
        "i32 path": (lambda: kernels.ternary_matmul_i32(p, xq, path="sse9"), "sse9"),
        "gemm cols": (lambda: kernels.ternary_gemm(p, np.zeros((2, 41), np.float32)), "columns"),
        "gemm dtype": (lambda: kernels.ternary_gemm(p, x.astype(np.float64)), "dtype"),
        "gemm ndim": (lambda: kernels.ternary_gemm(p, x[None]), "2-D"),
        "gemm noncontig": (
            lambda: kernels.ternary_gemm(p, np.zeros((2, 80), np.float32)[:, ::2]),
            "contiguous",
        ),
        "gemm misaligned": (lambda: kernels.ternary_gemm(p, misaligned), "aligned"),
        "gemm out shape": (
            lambda: kernels.ternary_gemm(p, x, out=np.zeros((2, 5), np.float32)),
            "shape",
        ),
        "gemm out dtype": (lambda: kernels.ternary_gemm(p, x, out=np.zeros((2, 4))), "dtype"),
        "gemm out readonly": (lambda: kernels.ternary_gemm(p, x, out=readonly), "read-only"),
        "gemm path": (lambda: kernels.ternary_gemm(p, x, path="sse9"), "sse9"),
        "gemm packed rows": (
            lambda: kernels.ternary_gemm(
                dataclasses.replace(p, cols=300), np.zeros((2, 300), np.float32)
            ),
            "cols",
        ),
        "gemv batch": (lambda: kernels.ternary_gemv(p, x), "one vector"),
        "gemv noncontig": (
            lambda: kernels.ternary_gemv(p, np.zeros(80, np.float32)[::2]),
            "contiguous",
        ),
        "quant dtype": (lambda: kernels.quantize_activations(x.astype(np.float16)), "dtype"),
        "quant layout": (lambda: kernels.quantize_activations(x, "q4"), "layout"),
        "quant path": (lambda: kernels.quantize_activations(x, "i2", "sse9"), "sse9"),
        "quant misaligned": (lambda: kernels.quantize_activations(misaligned), "aligned"),
        "f32 shape": (lambda: kernels.f32_gemm(wf, np.zeros((2, 39), np.float32)), "columns"),
        "f32 dtype": (lambda: kernels.f32_gemm(wf.astype(np.float64), x), "dtype"),
        "f32 noncontig": (lambda: kernels.f32_gemm(wf[:, ::2], x[:, :20].copy()), "contiguous"),
        "f32 misaligned w": (lambda: kernels.f32_gemm(misaligned, x), "aligned"),
        "f32 out misaligned": (
            lambda: kernels.f32_gemm(wf, x, out=np.frombuffer(buf, np.float32, 8, 1).reshape(2, 4)),
            "aligned|read-only",
        ),
        "f32 path": (lambda: kernels.f32_gemm(wf, x, path="avx9000"), "avx9000"),
        "f16 dtype": (lambda: kernels.f16_gemm(wf.astype(np.int16), x), "dtype"),
        "f16 shape": (lambda: kernels.f16_gemm(wf.astype(np.float16), x[:, :3].copy()), "columns"),
        "set_path": (lambda: kernels.set_path("sse9"), "sse9"),
        "threads 0": (lambda: kernels.set_threads(0), "threads"),
        "threads huge": (lambda: kernels.set_threads(100000), "threads"),
        "threads float": (lambda: kernels.set_threads(2.0), "threads"),  # type: ignore[arg-type]
    }
    try:
        import torch
    except ImportError:  # pragma: no cover
        return cases
    cases.update(
        {
            "torch meta": (
                lambda: kernels.f32_gemm(torch.zeros(4, 40, device="meta"), x),
                "cpu|CPU",
            ),
            "torch bf16": (
                lambda: kernels.f32_gemm(torch.zeros(4, 40, dtype=torch.bfloat16), x),
                "w:",
            ),
            "torch noncontig": (lambda: kernels.f32_gemm(torch.zeros(40, 4).T, x), "contiguous"),
            "torch int16": (
                lambda: kernels.pack_ternary(torch.zeros(4, 40, dtype=torch.int16)),
                "dtype",
            ),
        }
    )
    return cases


@pytest.mark.parametrize("case", sorted(_bad_calls()))
def test_bad_arguments_raise_clear_errors(case: str) -> None:
    fn, match = _bad_calls()[case]
    with pytest.raises(kernels.KernelArgumentError, match=match) as exc:
        fn()
    assert isinstance(exc.value, ValueError)


def test_threads_unchanged_by_bad_calls() -> None:
    before = kernels.get_threads()
    with pytest.raises(kernels.KernelArgumentError):
        kernels.set_threads(0)
    assert kernels.get_threads() == before
