"""NumPy reference for BitNet b1.58 quantization and every ternary layout we read or write,
and for the original BitNet's 1-bit weights (``binary``, GGUF ``q1_0``; ``q2_0``: Ternary
Bonsai's 2-bit blocks).

This package is the judge for the compiled kernels: plain, readable, exact.
"""

from bitnet_studio.quant import hf_packed, i2_s, q1_0, q2_0, tq1_0, tq2_0
from bitnet_studio.quant.absmean import (
    dequantize_ternary,
    quantize_activations,
    ternarize,
    ternary_linear_reference,
)

__all__ = ["dequantize_ternary", "quantize_activations", "ternarize", "ternary_linear_reference"]
__all__ += ["hf_packed", "i2_s", "q1_0", "q2_0", "tq1_0", "tq2_0"]
