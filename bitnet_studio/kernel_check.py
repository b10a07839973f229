"""Checks every available kernel path against the NumPy reference on random data.

Used by ``bitnet-studio selftest`` and by the bundled program's ``--selftest``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bitnet_studio import kernels
from bitnet_studio.quant import quantize_activations, ternary_linear_reference

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


def check_all_paths(seed: int = 0) -> list[dict[str, Any]]:
    """Runs the checks on every path this CPU supports; returns one record per check."""
    rng = np.random.default_rng(seed)
    report: list[dict[str, Any]] = []
    for path in kernels.available_paths():
        report.extend(_check_path(path, rng))
    return report
