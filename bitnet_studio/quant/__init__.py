"""NumPy reference for BitNet b1.58 quantization and every ternary layout we read or write.

This package is the judge for the compiled kernels: plain, readable, exact.
"""

from bitnet_studio.quant.absmean import (
    dequantize_ternary,
    quantize_activations,
    ternarize,
    ternary_linear_reference,
)

__all__ = ["dequantize_ternary", "quantize_activations", "ternarize", "ternary_linear_reference"]
