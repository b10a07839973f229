"""Block linears as GGUF Q1_0 (1-bit) or Q2_0 (ternary) for the writer, with one summary line.

- ``q1_0``: a ``BinaryTensor`` keeps its signs and scales (a per-tensor beta goes into every
  block's d, as our trained 1-bit model ships); a ternary or float linear is binarized as the
  BitNet paper does (centred sign, beta = mean|W|: naive post-training binarization).
- ``q2_0``: a ``TernaryTensor`` keeps its codes, its per-tensor or per-row scale going into
  every 64-block's d; a float linear is ternarized (absmean, per tensor); a one-scale
  ``BinaryTensor`` is ternary already.
Rows that are not whole blocks (128 weights for Q1_0, 64 for Q2_0) stay F16.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bitnet_studio.models.weights import BinaryTensor, Tensor, TernaryTensor
from bitnet_studio.quant import q1_0, q2_0
from bitnet_studio.quant.absmean import ternarize
from bitnet_studio.quant.binary import binarize

LOWBIT_TYPES = ("q1_0", "q2_0")
F16_TYPE_ID = 1


@dataclass
class LowBitTally:
    """What the writer did to each linear, for one summary line."""

    type_name: str
    stored: int = 0
    converted: int = 0  # quantized from another representation (naive PTQ)
    f16: dict[int, int] = field(default_factory=dict)  # row length -> linears kept F16

    def summary(self) -> str:
        kept = sum(self.f16.values())
        bits = "1-bit" if self.type_name == "Q1_0" else "ternary"
        line = f"{bits}: {self.stored} of {self.stored + kept} linears stored as {self.type_name}"
        if self.converted:
            how = "centred sign, beta = mean|W|" if bits == "1-bit" else "absmean, per tensor"
            line += f" ({self.converted} quantized from float or another type: {how})"
        if kept:
            block = q1_0.QK if self.type_name == "Q1_0" else q2_0.QK
            why = ", ".join(f"{n} with rows of {c}" for c, n in sorted(self.f16.items()))
            line += f"; {kept} stay F16 (rows must be whole {block}-weight blocks: {why})"
        return line


def _dense(t: Tensor) -> np.ndarray:
    if isinstance(t, TernaryTensor | BinaryTensor):
        return t.dequantize()
    return np.asarray(t, np.float32)


def encode_lowbit(t: Tensor, dtype: str, tally: LowBitTally) -> tuple[np.ndarray, int, str]:
    """One block linear -> (bytes (rows, n) uint8, ggml type id, type name)."""
    rows, cols = t.shape
    block = q1_0.QK if dtype == "q1_0" else q2_0.QK
    if cols % block:
        tally.f16[cols] = tally.f16.get(cols, 0) + 1
        f16 = np.ascontiguousarray(_dense(t).astype(np.float16))
        return f16.view(np.uint8).reshape(rows, -1), F16_TYPE_ID, "F16"
    tally.stored += 1
    if dtype == "q1_0":
        if not isinstance(t, BinaryTensor):
            signs, beta = binarize(_dense(t))
            t = BinaryTensor(signs, np.array([beta], np.float32), "ptq-sign")
            tally.converted += 1
        return q1_0.from_binary(t), q1_0.GGML_TYPE, "Q1_0"
    if isinstance(t, TernaryTensor):
        codes, scale = t.codes, t.scale
    elif isinstance(t, BinaryTensor) and t.scale.size == 1:
        codes, scale = t.signs, t.scale
    else:
        codes, gamma = ternarize(_dense(t))
        scale = np.array([gamma], np.float32)
        tally.converted += 1
    row = np.broadcast_to(scale.reshape(-1).astype(np.float32), (rows,))
    d = np.ascontiguousarray(np.broadcast_to(row[:, None], (rows, cols // block)))
    return q2_0.pack(codes, d), q2_0.GGML_TYPE, "Q2_0"
