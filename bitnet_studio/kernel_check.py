"""Checks every available kernel path against the NumPy reference on random data.

Used by ``bitnet-studio selftest`` and by the bundled program's ``--selftest``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bitnet_studio import kernels
from bitnet_studio.quant import quantize_activations, ternary_linear_reference
from bitnet_studio.quant.binary import binarize, binary_linear_reference

SHAPES = [(1, 1), (7, 129), (33, 300), (64, 576), (130, 1000), (256, 2560)]


def _check_path(path: str, rng: np.random.Generator) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for layout in kernels.LAYOUTS:
        worst = 0.0
        exact = True
        for rows, cols in SHAPES:
            for batch in (1, 5):
                w = rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)
                gamma = np.float32(rng.uniform(0.01, 0.1))
                x = rng.standard_normal((batch, cols), dtype=np.float32)
                p = kernels.pack_ternary(w, gamma, layout)
                dots_ref, y_ref = ternary_linear_reference(w, gamma, x)
                xq, _ = quantize_activations(x)
                xq_pad = np.zeros((batch, kernels.padded_cols(layout, cols)), np.int8)
                xq_pad[:, :cols] = xq
                exact &= np.array_equal(kernels.ternary_matmul_i32(p, xq_pad, path), dots_ref)
                y = kernels.ternary_gemm(p, x, path=path)
                tol = 4 * np.finfo(np.float32).eps * (np.abs(y_ref) + 1e-3)
                worst = max(worst, float(np.max(np.abs(y - y_ref) / tol)))
        out.append(
            {
                "path": path,
                "check": f"ternary {layout} int32 exact",
                "ok": bool(exact),
                "detail": "equal" if exact else "integer products differ",
            }
        )
        out.append(
            {
                "path": path,
                "check": f"ternary {layout} float32",
                "ok": worst <= 1.0,
                "detail": f"worst error {worst:.2f} of tolerance",
            }
        )
    for name, fn, dtype in (
        ("f16", kernels.f16_gemm, np.float16),
        ("f32", kernels.f32_gemm, np.float32),
    ):
        worst = 0.0
        for rows, cols in SHAPES:
            w = (rng.standard_normal((rows, cols)) * 0.05).astype(dtype)
            x = rng.standard_normal((3, cols), dtype=np.float32)
            ref = x.astype(np.float64) @ w.astype(np.float64).T
            y = fn(w, x, path=path)
            scale = np.abs(x.astype(np.float64)) @ np.abs(w.astype(np.float64)).T + 1e-6
            worst = max(worst, float(np.max(np.abs(y - ref) / scale)))
        ok = worst < 1e-5
        out.append(
            {
                "path": path,
                "check": f"{name} matmul",
                "ok": ok,
                "detail": f"max relative error {worst:.1e}",
            }
        )
    return out


def _check_binary(path: str, rng: np.random.Generator) -> list[dict[str, Any]]:
    """1-bit kernels: int32 exact and float32 per tensor; per-128-block scales (Q1_0)."""
    exact, worst, worst_blocks = True, 0.0, 0.0
    for rows, cols in SHAPES:
        for batch in (1, 5):
            signs, beta = binarize(rng.standard_normal((rows, cols)).astype(np.float32) * 0.05)
            x = rng.standard_normal((batch, cols), dtype=np.float32)
            p = kernels.pack_binary(signs, beta)
            dots_ref, y_ref = binary_linear_reference(signs, beta, x)
            xq, s_x = quantize_activations(x)
            xq_pad = np.zeros((batch, kernels.binary_padded_cols(cols)), np.int8)
            xq_pad[:, :cols] = xq
            exact &= np.array_equal(kernels.binary_matmul_i32(p, xq_pad, path), dots_ref)
            y = kernels.binary_gemm(p, x, path=path)
            tol = 4 * np.finfo(np.float32).eps * (np.abs(y_ref) + 1e-3)
            worst = max(worst, float(np.max(np.abs(y - y_ref) / tol)))
            nb = -(-cols // kernels.BINARY_BLOCK)
            scale = rng.uniform(0.01, 0.1, (rows, nb)).astype(np.float32)
            wd = signs.astype(np.float64) * np.repeat(scale, kernels.BINARY_BLOCK, 1)[:, :cols]
            ref = (xq.astype(np.float64) @ wd.T) / s_x[:, None]
            mag = (np.abs(xq.astype(np.float64)) @ np.abs(wd).T) / s_x[:, None] + 1e-6
            yb = kernels.binary_gemm(kernels.pack_binary(signs, scale), x, path=path)
            worst_blocks = max(worst_blocks, float(np.max(np.abs(yb - ref) / mag)))
    return [
        {
            "path": path,
            "check": "binary int32 exact",
            "ok": bool(exact),
            "detail": "equal" if exact else "integer products differ",
        },
        {
            "path": path,
            "check": "binary float32",
            "ok": worst <= 1.0,
            "detail": f"worst error {worst:.2f} of tolerance",
        },
        {
            "path": path,
            "check": "binary per-block scales",
            "ok": worst_blocks < 1e-5,
            "detail": f"max relative error {worst_blocks:.1e}",
        },
    ]


def check_all_paths(seed: int = 0) -> list[dict[str, Any]]:
    """Runs the checks on every path this CPU supports; returns one record per check."""
    rng = np.random.default_rng(seed)
    report: list[dict[str, Any]] = []
    for path in kernels.available_paths():
        report.extend(_check_path(path, rng))
        report.extend(_check_binary(path, rng))
    return report
