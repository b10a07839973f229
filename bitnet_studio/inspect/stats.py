"""Per-tensor statistics: the numbers behind a histogram, for float and ternary tensors."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bitnet_studio.models.weights import ModelWeights, Tensor, TernaryTensor

_CHUNK = 1 << 22  # elements per pass: statistics of a 2B model without a float32 copy of it


@dataclass
class TensorStats:
    name: str
    shape: tuple[int, ...]
    stored_type: str
    kind: str  # "ternary" or "float"
    nbytes: int  # bytes as the backend keeps them (ternary: 2 bits per weight + scale)
    bits_per_weight: float
    min: float
    max: float
    mean: float
    std: float
    zero_share: float  # exact zeros (ternary: share of code 0)
    neg_share: float  # ternary: share of -1
    pos_share: float  # ternary: share of +1
    scale: float | None  # ternary: mean of its scale(s)
    nonfinite: int = 0  # NaN/Inf values (a corrupt file); the moments above skip them

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _float_moments(a: np.ndarray) -> tuple[float, float, float, float, float, int, int]:
    """(min, max, mean, std, zero share, n, non-finite count); moments over finite values."""
    flat = a.reshape(-1)
    n = flat.size
    lo, hi, s, s2, zeros, bad = np.inf, -np.inf, 0.0, 0.0, 0, 0
    for i in range(0, n, _CHUNK):
        c = np.asarray(flat[i : i + _CHUNK], dtype=np.float64)
        ok = np.isfinite(c)
        if not ok.all():
            bad += int(c.size - np.count_nonzero(ok))
            c = c[ok]
        if c.size:
            lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
        s += float(c.sum())
        s2 += float(np.square(c).sum())
        zeros += int(np.count_nonzero(c == 0))
    good = max(n - bad, 1)
    mean = s / good
    std = float(np.sqrt(max(s2 / good - mean * mean, 0.0)))
    if n == bad:
        lo = hi = float("nan")
    return lo, hi, mean, std, zeros / max(n, 1), n, bad


def tensor_stats(name: str, t: Tensor, stored_type: str = "") -> TensorStats:
    """Statistics of one tensor; ternary values are reported as dequantized weights."""
    if isinstance(t, TernaryTensor):
        codes = t.codes.reshape(-1)
        n = max(codes.size, 1)
        counts = {v: int(np.count_nonzero(codes == v)) for v in (-1, 0, 1)}
        finite = np.isfinite(t.scale)
        bad_rows = int(t.scale.size - np.count_nonzero(finite))
        bad = codes.size if bad_rows and t.scale.size == 1 else bad_rows * t.codes.shape[-1]
        scale = float(np.mean(t.scale[finite])) if bad_rows < t.scale.size else float("nan")
        neg, zero, pos = counts[-1] / n, counts[0] / n, counts[1] / n
        mean = scale * (pos - neg)
        var = scale * scale * (pos + neg) - mean * mean
        nbytes = codes.size // 4 + t.scale.nbytes
        return TensorStats(
            name,
            tuple(t.codes.shape),
            stored_type or t.source_type,
            "ternary",
            nbytes,
            8.0 * nbytes / n,
            -scale if counts[-1] else 0.0,
            scale if counts[1] else 0.0,
            mean,
            float(np.sqrt(max(var, 0.0))),
            zero,
            neg,
            pos,
            scale,
            bad,
        )
    lo, hi, mean, std, zero, n, bad = _float_moments(t)
    return TensorStats(
        name,
        tuple(t.shape),
        stored_type or str(t.dtype),
        "float",
        int(t.nbytes),
        8.0 * t.nbytes / max(n, 1),
        lo,
        hi,
        mean,
        std,
        zero,
        0.0,
        0.0,
        None,
        bad,
    )


def histogram(t: Tensor, bins: int = 101, sample: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """(counts, edges). Ternary: three bins at -1, 0, +1 (times the scale); float: ``bins``
    bins over an evenly strided sample of at most ``sample`` values."""
    if isinstance(t, TernaryTensor):
        s = float(np.mean(t.scale))
        c = t.codes.reshape(-1)
        counts = np.array([np.count_nonzero(c == v) for v in (-1, 0, 1)], np.int64)
        return counts, np.array([-1.5, -0.5, 0.5, 1.5]) * s
    flat = t.reshape(-1)
    step = max(1, flat.size // sample)
    vals = np.asarray(flat[::step], dtype=np.float32)
    return np.histogram(vals, bins=bins)


def model_stats(model: ModelWeights) -> list[TensorStats]:
    return [tensor_stats(n, t, model.tensor_types.get(n, "")) for n, t in model.tensors.items()]
