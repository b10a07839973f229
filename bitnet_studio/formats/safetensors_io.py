"""Memory-mapped safetensors: parse the JSON header ourselves, view tensors with np.memmap.

Layout (huggingface/safetensors README): 8-byte little-endian header length N, N bytes of
JSON ``{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}``, then the
data; offsets are relative to the end of the header. No code runs and nothing is unpickled.
The format forbids holes and overlaps: sorted by offset, each tensor begins where the previous
one ends and the last ends at the end of the file (huggingface/safetensors
``Metadata::validate`` and ``read_metadata``). We enforce the same, so two tensors never alias.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitnet_studio.errors import StudioError

_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "<u2",  # raw bits; callers convert
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}
_MAX_HEADER = 100 << 20


@dataclass
class STensor:
    name: str
    dtype: str  # safetensors dtype name
    shape: tuple[int, ...]
    path: Path
    begin: int  # absolute file offsets
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


def read_header(path: Path) -> tuple[dict[str, STensor], dict[str, str]]:
    """Tensor entries and ``__metadata__``; StudioError on any inconsistency."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise StudioError(path, "truncated safetensors file (no header length)")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, _MAX_HEADER):
                raise StudioError(
                    path, f"corrupt safetensors: header length {n} runs past the end of the file"
                )
            raw = fh.read(n)
    except OSError as e:
        raise StudioError(path, f"cannot read: {e}") from e
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StudioError(path, f"corrupt safetensors header (not JSON): {e}") from e
    if not isinstance(header, dict):
        raise StudioError(path, "corrupt safetensors header (not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    base = 8 + n
    out: dict[str, STensor] = {}
    for name, info in header.items():
        try:
            dtype, shape = info["dtype"], tuple(int(d) for d in info["shape"])
            begin, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as e:
            raise StudioError(path, f"corrupt safetensors entry for {name}: {e}") from e
        if dtype not in _DTYPES:
            raise StudioError(path, f"tensor {name} has unsupported dtype {dtype}")
        want = int(np.prod(shape, dtype=np.int64)) * np.dtype(_DTYPES[dtype]).itemsize
        if end - begin != want or begin < 0:
            raise StudioError(
                path, f"corrupt safetensors: tensor {name} offsets disagree with shape"
            )
        if base + end > size:
            raise StudioError(
                path,
                f"truncated safetensors: tensor {name} data ends at byte {base + end}, past the "
                f"end of the file ({size} bytes)",
            )
        out[name] = STensor(name, dtype, shape, path, base + begin, base + end)
    _check_tiling(path, list(out.values()), base, size)
    return out, meta


def _check_tiling(path: Path, tensors: list[STensor], base: int, size: int) -> None:
    """Tensors cover the data buffer exactly once: no overlap, no hole, nothing after."""
    at, prev = base, None
    for t in sorted(tensors, key=lambda t: (t.begin, t.end)):
        if t.begin < at:
            raise StudioError(
                path,
                f"corrupt safetensors: tensor {t.name} (bytes {t.begin - base}..{t.end - base}) "
                f"overlaps {prev} (the format forbids overlapping data_offsets)",
            )
        if t.begin > at:
            raise StudioError(
                path,
                f"corrupt safetensors: {t.begin - at} unindexed bytes before tensor {t.name} "
                "(the format forbids holes between data_offsets)",
            )
        at, prev = t.end, t.name
    if at != size:
        raise StudioError(
            path,
            f"corrupt safetensors: {size - at} bytes after the last tensor's data "
            "(the format forbids unindexed bytes)",
        )


class MappedFiles:
    """One read-only np.memmap per file, opened on first use."""

    def __init__(self) -> None:
        self._maps: dict[Path, np.memmap] = {}

    def view(self, t: STensor) -> np.ndarray:
        """The tensor as a memmap view (BF16 as raw uint16 bits)."""
        m = self._maps.get(t.path)
        if m is None:
            m = self._maps[t.path] = np.memmap(t.path, dtype=np.uint8, mode="r")
        return m[t.begin : t.end].view(_DTYPES[t.dtype]).reshape(t.shape)
