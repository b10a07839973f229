""" "Ternarize / Binarize this tensor" previews: absmean (b1.58) or centred sign (the original
BitNet) applied to one float tensor, and what it costs.

The numbers the Inspect page shows next to a vanilla tensor: the ternary codes and gamma that
:func:`bitnet_studio.quant.absmean.ternarize` makes, the relative L2 error and cosine
similarity of ``gamma * codes`` against the original, and the histograms before and after;
the same for the signs and beta of :func:`bitnet_studio.quant.binary.binarize`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bitnet_studio.inspect.stats import histogram
from bitnet_studio.models.weights import BinaryTensor, TernaryTensor
from bitnet_studio.quant.absmean import ternarize
from bitnet_studio.quant.binary import binarize

_CHUNK = 1 << 22  # elements per pass of the error sums (no float64 copy of a large tensor)


@dataclass
class TernarizePreview:
    codes: np.ndarray  # int8, the tensor's shape, values in {-1, 0, 1}
    gamma: float  # mean |W|
    rel_l2: float  # ||W - gamma * codes|| / ||W||
    cosine: float  # cos(W, codes)
    code_counts: np.ndarray  # int64 (3,): how many -1, 0, +1
    before: tuple[np.ndarray, np.ndarray]  # (counts, edges) of the original (sampled)
    after: tuple[np.ndarray, np.ndarray]  # (3 counts, edges at -1.5, -0.5, 0.5, 1.5 x gamma)

    @property
    def zero_share(self) -> float:
        return float(self.code_counts[1] / max(1, int(self.code_counts.sum())))


def ternarization_error(w: np.ndarray, codes: np.ndarray, gamma: float) -> tuple[float, float]:
    """(relative L2 error, cosine similarity) of ``gamma * codes`` against ``w``.

    Sums run in float64 over chunks; an all-zero ``w`` has error 0 and cosine 1 when the
    codes are all zero too (nothing was lost), else cosine 0.
    """
    a = np.asarray(w).reshape(-1)
    q = np.asarray(codes).reshape(-1)
    if a.size != q.size:
        raise ValueError(f"{a.size} weights but {q.size} codes")
    g = float(gamma)
    err2 = ww = wq = qq = 0.0
    for i in range(0, a.size, _CHUNK):
        x = np.asarray(a[i : i + _CHUNK], dtype=np.float64)
        c = np.asarray(q[i : i + _CHUNK], dtype=np.float64)
        err2 += float(np.square(x - g * c).sum())
        ww += float(np.dot(x, x))
        wq += float(np.dot(x, c))
        qq += float(np.dot(c, c))
    rel = float(np.sqrt(err2 / ww)) if ww > 0 else (0.0 if err2 == 0 else float("inf"))
    if ww == 0 or qq == 0:
        return rel, 1.0 if ww == qq else 0.0
    return rel, float(wq / np.sqrt(ww * qq))


def ternarize_preview(w: np.ndarray, bins: int = 101, sample: int = 1 << 20) -> TernarizePreview:
    """Absmean-ternarizes ``w`` and measures the result (see the module docstring)."""
    codes, gamma = ternarize(w)
    rel, cos = ternarization_error(w, codes, float(gamma))
    flat = codes.reshape(-1)
    counts = np.array([np.count_nonzero(flat == v) for v in (-1, 0, 1)], np.int64)
    after = TernaryTensor(codes, np.array([gamma], np.float32), "ptq-absmean")
    return TernarizePreview(
        codes=codes,
        gamma=float(gamma),
        rel_l2=rel,
        cosine=cos,
        code_counts=counts,
        before=histogram(w, bins=bins, sample=sample),
        after=histogram(after),
    )


@dataclass
class BinarizePreview:
    signs: np.ndarray  # int8, the tensor's shape, values in {-1, +1}
    beta: float  # mean |W| (of the uncentred W)
    alpha: float  # mean W, the centre the signs are taken around
    rel_l2: float  # ||W - beta * signs|| / ||W||
    cosine: float  # cos(W, signs)
    sign_counts: np.ndarray  # int64 (2,): how many -1, +1
    before: tuple[np.ndarray, np.ndarray]
    after: tuple[np.ndarray, np.ndarray]  # (2 counts, edges at -2, 0, 2 x beta)

    @property
    def pos_share(self) -> float:
        return float(self.sign_counts[1] / max(1, int(self.sign_counts.sum())))


def binarize_preview(w: np.ndarray, bins: int = 101, sample: int = 1 << 20) -> BinarizePreview:
    """Binarizes ``w`` as the BitNet paper does and measures the result."""
    signs, beta = binarize(w)
    rel, cos = ternarization_error(w, signs, float(beta))
    pos = int(np.count_nonzero(signs > 0))
    after = BinaryTensor(signs, np.array([beta], np.float32), "ptq-sign")
    return BinarizePreview(
        signs=signs,
        beta=float(beta),
        alpha=float(np.mean(np.asarray(w, np.float32), dtype=np.float64)),
        rel_l2=rel,
        cosine=cos,
        sign_counts=np.array([signs.size - pos, pos], np.int64),
        before=histogram(w, bins=bins, sample=sample),
        after=histogram(after),
    )
