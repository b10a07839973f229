"""llama.cpp's own quantizers, through the libggml-base that llama-cpp-python ships (ctypes).

The judge for Q1_0 / Q2_0 bytes, which gguf-py 0.19.0 does not implement. ``None`` when
llama_cpp is not installed (tests skip then).
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path

import numpy as np

_LIB: ctypes.CDLL | None = None


class _Traits(ctypes.Structure):
    # ggml.h struct ggml_type_traits (llama.cpp vendored by llama-cpp-python 0.3.36)
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


_TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def lib() -> ctypes.CDLL | None:
    """libggml-base from the installed llama_cpp package, or None."""
    global _LIB
    if _LIB is None:
        spec = importlib.util.find_spec("llama_cpp")
        if spec is None or spec.origin is None:
            return None
        path = Path(spec.origin).parent / "lib" / "libggml-base.so"
        if not path.exists():
            return None
        cdll = ctypes.CDLL(str(path))
        cdll.ggml_quantize_chunk.restype = ctypes.c_size_t
        cdll.ggml_quantize_chunk.argtypes = [
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_void_p,
        ]
        cdll.ggml_get_type_traits.restype = ctypes.POINTER(_Traits)
        cdll.ggml_get_type_traits.argtypes = [ctypes.c_int]
        _LIB = cdll
    return _LIB


def _traits(ggml_type: int) -> _Traits:
    cdll = lib()
    assert cdll is not None
    return cdll.ggml_get_type_traits(ggml_type).contents


def quantize(ggml_type: int, w: np.ndarray) -> np.ndarray:
    """ggml_quantize_chunk on float32 (rows, cols) -> uint8 (rows, row bytes)."""
    cdll = lib()
    assert cdll is not None
    x = np.ascontiguousarray(w, dtype=np.float32)
    rows, cols = x.shape
    t = _traits(ggml_type)
    row_bytes = cols // t.blck_size * t.type_size
    out = np.zeros((rows, row_bytes), np.uint8)
    n = cdll.ggml_quantize_chunk(ggml_type, x.ctypes.data, out.ctypes.data, 0, rows, cols, None)
    assert n == out.nbytes
    return out


def dequantize(ggml_type: int, raw: np.ndarray, cols: int) -> np.ndarray:
    """The type's to_float over every row -> float32 (rows, cols)."""
    r = np.ascontiguousarray(raw, dtype=np.uint8)
    out = np.zeros((r.shape[0], cols), np.float32)
    _TO_FLOAT(_traits(ggml_type).to_float)(r.ctypes.data, out.ctypes.data, out.size)
    return out
