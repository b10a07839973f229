"""Helpers every reader shares: the memory check, shape validation, ternary scales."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil

from bitnet_studio.errors import StudioError
from bitnet_studio.formats.arch_map import expected_shapes
from bitnet_studio.models.weights import ModelWeights, TernaryTensor

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt")
PICKLE_MESSAGE = "pickle-based checkpoints are refused; convert to safetensors"


def available_memory_bytes() -> int:
    """Bytes the OS can still give us (tests monkeypatch this)."""
    return int(psutil.virtual_memory().available)


def check_memory(path: str | Path, needed: int, what: str = "loading this model") -> None:
    """Raise before loading when ``needed`` bytes of new arrays would not fit in memory."""
    avail = available_memory_bytes()
    if needed > avail:
        raise StudioError(
            path,
            f"{what} needs {needed / 2**30:.2f} GiB of memory, only {avail / 2**30:.2f} GiB "
            "available (memory-mapped F16/F32 tensors are not counted)",
        )


def validate_shapes(model: ModelWeights, path: str | Path) -> None:
    """Every expected tensor present with the shape the config implies, nothing unknown."""
    # A corrupt layer count (4 billion) must not make us list 4 billion layers' tensors.
    present = {n.split(".")[1] for n in model.tensors if n.startswith("layers.")}
    if model.config.n_layers > len(present):
        raise StudioError(
            path,
            f"the config says {model.config.n_layers} layers, the file holds tensors for "
            f"{len(present)}",
        )
    want = expected_shapes(model.config)
    for name, shape in want.items():
        t = model.tensors.get(name)
        if t is None:
            raise StudioError(path, f"tensor {name} is missing")
        if tuple(t.shape) != shape:
            raise StudioError(
                path, f"tensor {name} has shape {tuple(t.shape)}, the config implies {shape}"
            )
    extra = sorted(set(model.tensors) - set(want))
    if extra:
        raise StudioError(path, f"unexpected tensors for this config: {', '.join(extra[:5])}")


def bf16_to_float(raw: np.ndarray) -> np.ndarray:
    """bfloat16 bits (uint16) -> float16 when every value fits fp16's range, else float32.

    fp16 holds every bf16 value in its normal range exactly (8 mantissa bits < 11); values
    below 6e-5 lose bits or flush to zero, which is harmless for weights and keeps half
    the memory of float32.
    """
    f32 = (raw.astype(np.uint32) << 16).view(np.float32)
    finite = f32[np.isfinite(f32)]
    if finite.size == 0 or float(np.max(np.abs(finite))) < 65504.0:
        return f32.astype(np.float16)
    return f32


def row_scale_from_blocks(codes: np.ndarray, d: np.ndarray) -> np.ndarray | None:
    """One scale per row from per-block scales, or None when a row's nonzero blocks disagree.

    Blocks whose codes are all zero carry no information (llama.cpp writes d = 0 for them)
    and are ignored. Returns (1,) when every row agrees, else (rows,).
    """
    rows, nb = d.shape
    live = codes.reshape(rows, nb, -1).any(axis=-1)
    big = np.where(live, d, -np.inf).max(axis=1)
    small = np.where(live, d, np.inf).min(axis=1)
    has = live.any(axis=1)
    if np.any(has & (big != small)):
        return None
    scale = np.where(has, big, 0.0).astype(np.float32)
    vals = np.unique(scale[has])
    if vals.size <= 1:
        return np.array([vals[0] if vals.size else 0.0], dtype=np.float32)
    return scale


def ternary_nbytes(t: TernaryTensor) -> int:
    return int(t.codes.nbytes + t.scale.nbytes)
