"""Ternary GGUF tensor types (TQ1_0, TQ2_0, I2_S) -> codes + scales, and back.

Uses the colleague's ``bitnet_studio.quant.{tq1_0,tq2_0,i2_s}`` modules when they are
importable; otherwise falls back on ``gguf.quants`` (TQ types) and a NumPy decoder of
bitnet.cpp's x86 I2_S layout (FORMATS.md §4: 128-weight blocks of 32 bytes, byte j holding
elements j, j+32, j+64, j+96 in bits 7:6, 5:4, 3:2, 1:0; code = w + 1; one fp32 scale after
the codes). bitnet.cpp's ARM build writes 64-weight blocks instead; the file does not say
which, so we assume x86 and the reader says so in its notes.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np
from gguf import GGMLQuantizationType, quants

TQ_BLOCK_BYTES = {"TQ1_0": 54, "TQ2_0": 66}


def _quant_module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"bitnet_studio.quant.{name}")
    except ImportError:
        return None


def unpack_tq(raw: np.ndarray, type_name: str, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, nbytes) uint8 -> (codes int8 (rows, cols), d float32 (rows, cols // 256))."""
    mod = _quant_module(type_name.lower())
    if mod is not None and hasattr(mod, "unpack"):
        codes, d = mod.unpack(np.asarray(raw), cols)
        return codes, d
    rows = raw.shape[0]
    nb = cols // 256
    blocks = np.asarray(raw).reshape(rows, nb, TQ_BLOCK_BYTES[type_name])
    d = np.ascontiguousarray(blocks[..., -2:]).view("<f2").reshape(rows, nb).astype(np.float32)
    deq = quants.dequantize(np.asarray(raw), GGMLQuantizationType[type_name])
    codes = np.sign(deq).astype(np.int8).reshape(rows, cols)
    return codes, d


def pack_tq(codes: np.ndarray, d: np.ndarray, type_name: str) -> np.ndarray:
    """Codes (rows, cols) and a per-row scale (rows,) -> (rows, nbytes) uint8, every block d."""
    rows, cols = codes.shape
    d_rows = np.broadcast_to(np.asarray(d, np.float32).reshape(-1, 1), (rows, cols // 256))
    mod = _quant_module(type_name.lower())
    if mod is not None and hasattr(mod, "pack"):
        return mod.pack(codes, np.ascontiguousarray(d_rows))
    # gguf.quants picks d = max|x| per block: exact for ternary weights, 0 for all-zero blocks
    w = codes.astype(np.float32) * np.asarray(d, np.float32).reshape(-1, 1)
    return quants.quantize(w, GGMLQuantizationType[type_name])


def unpack_i2_s(raw: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """bitnet.cpp I2_S bytes (n/4 + 32) -> (codes int8 (rows, cols), scale float32 (1,))."""
    mod = _quant_module("i2_s")
    if mod is not None and hasattr(mod, "unpack"):
        codes, scale = mod.unpack(np.asarray(raw), rows, cols)
        return codes, np.asarray(scale, np.float32).reshape(-1)
    n = rows * cols
    if n % 128:
        raise ValueError(f"I2_S needs a multiple of 128 weights, got {n}")
    b = np.asarray(raw[: n // 4]).reshape(-1, 1, 32)
    shifts = np.array([6, 4, 2, 0], dtype=np.uint8).reshape(1, 4, 1)
    fields = (b >> shifts) & 3
    codes = (fields.reshape(rows, cols).astype(np.int8) - 1).astype(np.int8)
    scale = np.frombuffer(np.asarray(raw[n // 4 : n // 4 + 4]).tobytes(), "<f4").astype(np.float32)
    return codes, scale
