"""A bounds-checked GGUF container parser over one read-only ``np.memmap``.

Why not ``gguf.GGUFReader``: it raises a bare ``ValueError`` on any type id its enum lacks
(bitnet.cpp's I2_S is 36, unknown upstream), reads past EOF without saying where, and builds
two NumPy objects per vocabulary string (slow on 128k-token vocabularies). We parse the
layout (GGUF v2/v3: magic, version, counts, key/values, tensor infos, aligned data) ourselves
and still use the ``gguf`` package for type sizes and dequantization.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

from bitnet_studio.errors import StudioError

MAGIC = b"GGUF"
I2_S_TYPE_ID = 36  # bitnet.cpp's fork; the id is unassigned upstream (formerly IQ4_NL_4_4)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q"}
_SCALARS.update({11: "<q", 12: "<d"})
_NP = {0: "u1", 1: "i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8"}
_NP.update({11: "<i8", 12: "<f8"})
STRING, ARRAY = 8, 9


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # NumPy order (rows, cols): GGUF dims reversed
    type_id: int
    offset: int  # absolute, from the start of the file
    nbytes: int = 0  # filled once the type is known
    type_name: str = ""

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)  # exact: corrupt dims must not wrap around int64


@dataclass
class GGUFFile:
    path: Path
    data: np.memmap
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    data_start: int = 0

    def raw(self, t: TensorInfo) -> np.memmap:
        """The tensor's bytes, a memmap view (no copy)."""
        return self.data[t.offset : t.offset + t.nbytes]


def _shown(text: str) -> str:
    """A key or tensor name as an error message may show it: printable, at most 60 chars."""
    if text.isprintable() and len(text) <= 60:
        return text
    return repr(text[:60]) + ("..." if len(text) > 60 else "")


class _Cursor:
    def __init__(self, path: Path, buf: memoryview) -> None:
        self.path, self.buf, self.pos, self.size = path, buf, 0, len(buf)

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise StudioError(
                self.path,
                f"truncated or corrupt GGUF header: {_shown(what)} at byte {self.pos} runs past "
                f"the end of the file ({self.size} bytes)",
            )

    def scalar(self, code: int, what: str) -> Any:
        fmt = _SCALARS[code]
        n = struct.calcsize(fmt)
        self.need(n, what)
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v

    def string(self, what: str) -> str:
        n = self.scalar(10, what)
        self.need(n, what)
        s = bytes(self.buf[self.pos : self.pos + n]).decode("utf-8", errors="replace")
        self.pos += n
        return s

    def value(self, vtype: int, what: str) -> Any:
        if vtype in _SCALARS:
            return self.scalar(vtype, what)
        if vtype == STRING:
            return self.string(what)
        if vtype == ARRAY:
            etype, count = self.scalar(4, what), self.scalar(10, what)
            if etype in _NP:
                dt = np.dtype(_NP[etype])
                self.need(count * dt.itemsize, what)
                arr = np.frombuffer(self.buf, dt, count, self.pos).copy()
                self.pos += count * dt.itemsize
                return arr.tolist()
            if count > self.size - self.pos:
                self.need(count, what)
            return [self.value(etype, what) for _ in range(count)]
        raise StudioError(
            self.path, f"corrupt GGUF header: {_shown(what)} has unknown value type {vtype}"
        )


def open_gguf(path: Path) -> GGUFFile:
    """Parse header, metadata and tensor infos; tensor data stays on disk."""
    try:
        data = np.memmap(path, dtype=np.uint8, mode="r")
    except (OSError, ValueError) as e:
        raise StudioError(path, f"cannot open: {e}") from e
    if data.size < 24 or bytes(data[:4]) != MAGIC:
        raise StudioError(path, "not a GGUF file (wrong magic; expected 'GGUF')")
    cur = _Cursor(path, memoryview(data))
    cur.pos = 4
    version = cur.scalar(4, "version")
    if version & 0xFFFF == 0:
        raise StudioError(path, "big-endian GGUF files are not supported")
    if version not in (2, 3):
        raise StudioError(path, f"GGUF version {version} is not supported (2 or 3)")
    n_tensors, n_kv = cur.scalar(10, "tensor count"), cur.scalar(10, "metadata count")
    if n_tensors > data.size // 24 or n_kv > data.size // 12:
        raise StudioError(
            path, f"truncated or corrupt GGUF header: {n_tensors} tensors, {n_kv} keys"
        )
    f = GGUFFile(path=path, data=data, version=version)
    for _ in range(n_kv):
        key = cur.string("metadata key")
        f.metadata[key] = cur.value(cur.scalar(4, key), key)
    infos = []
    for _ in range(n_tensors):
        name = cur.string("tensor name")
        n_dims = cur.scalar(4, name)
        if not 1 <= n_dims <= 4:
            raise StudioError(path, f"corrupt GGUF header: tensor {name} has {n_dims} dims")
        dims = [cur.scalar(10, name) for _ in range(n_dims)]
        type_id, offset = cur.scalar(4, name), cur.scalar(10, name)
        infos.append(TensorInfo(name, tuple(reversed(dims)), type_id, offset))
    align = int(f.metadata.get("general.alignment", 32))
    if align <= 0 or align & (align - 1):
        raise StudioError(path, f"corrupt GGUF header: alignment {align}")
    f.data_start = -(-cur.pos // align) * align
    for t in infos:
        t.offset += f.data_start
    _size_tensors(f, infos)
    f.tensors = {t.name: t for t in infos}
    return f


def _size_tensors(f: GGUFFile, infos: list[TensorInfo]) -> None:
    ends = sorted({t.offset for t in infos} | {int(f.data.size)})
    for t in infos:
        if t.type_id == I2_S_TYPE_ID:
            # bitnet.cpp: 2-bit codes then one fp32 scale padded to 32 bytes. Confirm by the
            # room the file leaves before the next tensor, since 36 may mean something else.
            t.nbytes, t.type_name = t.n_elements // 4 + 32, "I2_S"
            room = next((e for e in ends if e > t.offset), t.offset) - t.offset
            arch = str(f.metadata.get("general.architecture", ""))
            if not arch.startswith("bitnet") or not t.nbytes <= room < t.nbytes + 64:
                raise StudioError(f.path, f"tensor {t.name} has type id 36, which is not I2_S here")
        else:
            try:
                qt = GGMLQuantizationType(t.type_id)
            except ValueError:
                raise StudioError(
                    f.path, f"tensor {t.name} has unknown quantization type id {t.type_id}"
                ) from None
            block, size = GGML_QUANT_SIZES[qt]
            if t.shape[-1] % block:
                raise StudioError(
                    f.path, f"tensor {t.name}: row of {t.shape[-1]} is not whole {qt.name} blocks"
                )
            t.nbytes, t.type_name = t.n_elements // block * size, qt.name
        if t.offset + t.nbytes > f.data.size:
            raise StudioError(
                f.path,
                f"truncated GGUF: tensor {t.name} data ends at byte {t.offset + t.nbytes}, "
                f"past the end of the file ({f.data.size} bytes)",
            )
