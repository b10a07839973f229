"""Seeded mutations of model files for the fuzz tests (test_fuzz_files.py).

The GGUF walker below is written from the format (ggml docs/gguf.md: magic, version, counts,
key/values, tensor infos, aligned data), independent of our reader, so the fuzzer does not
share the reader's blind spots. It records where every integer, type id and string length
sits, and where the tokenizer's strings and the tensor data are, so mutations can aim there.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
STRING, ARRAY = 8, 9


@dataclass
class Field:
    offset: int
    size: int  # bytes of the integer (1, 2, 4, 8)
    what: str  # "count", "type", "strlen", "value", "dims", "dim", "ggml_type", "offset"
    key: str = ""  # the metadata key or tensor name it belongs to


@dataclass
class GGUFMap:
    fields: list[Field] = field(default_factory=list)
    tokenizer_strings: list[tuple[int, int]] = field(default_factory=list)  # (offset, length)
    data_start: int = 0
    size: int = 0


class _Walk:
    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos, self.map = buf, 0, GGUFMap(size=len(buf))

    def int(self, size: int, what: str, key: str = "") -> int:
        self.map.fields.append(Field(self.pos, size, what, key))
        fmt = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}[size]
        (v,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return int(v)

    def string(self, key: str, tokenizer: bool = False) -> str:
        n = self.int(8, "strlen", key)
        if tokenizer:
            self.map.tokenizer_strings.append((self.pos, n))
        s = self.buf[self.pos : self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return s

    def value(self, vtype: int, key: str) -> object:
        tok = key.startswith("tokenizer.")
        if vtype == STRING:
            return self.string(key, tok)
        if vtype == ARRAY:
            etype = self.int(4, "type", key)
            count = self.int(8, "count", key)
            if etype in _SCALAR:
                if key.endswith(("token_type", "scores")) and count:
                    self.map.fields.append(Field(self.pos, _SCALAR[etype], "value", key))
                self.pos += count * _SCALAR[etype]
                return None
            return [self.value(etype, key) for _ in range(count)]
        size = _SCALAR[vtype]
        if vtype in (4, 5, 10, 11):
            return self.int(size, "value", key)
        self.pos += size
        return None


def walk_gguf(data: bytes) -> GGUFMap:
    """Where the fields of a valid GGUF file sit."""
    w = _Walk(data)
    w.pos = 4
    w.int(4, "version")
    n_tensors = w.int(8, "count", "tensor count")
    n_kv = w.int(8, "count", "metadata count")
    align = 32
    for _ in range(n_kv):
        key = w.string("key")
        vtype = w.int(4, "type", key)
        v = w.value(vtype, key)
        if key == "general.alignment" and isinstance(v, int):
            align = v
    for _ in range(n_tensors):
        name = w.string("tensor name")
        n_dims = w.int(4, "dims", name)
        for _ in range(n_dims):
            w.int(8, "dim", name)
        w.int(4, "ggml_type", name)
        w.int(8, "offset", name)
    w.map.data_start = -(-w.pos // align) * align
    return w.map


_INTERESTING = [0, 1, 2, 3, 7, 8, 31, 33, 255, 256, 4095, 65535, 2**31 - 1, 2**31, 2**32 - 1]


def _interesting(rng: np.random.Generator, old: int, size: int) -> int:
    choice = int(rng.integers(0, 4))
    top = (1 << (8 * size)) - 1
    if choice == 0:
        v = int(rng.choice(_INTERESTING))
    elif choice == 1:
        v = top  # -1
    elif choice == 2:
        v = old + int(rng.choice([-2, -1, 1, 2]))
    else:
        v = old << int(rng.integers(1, 24)) if old else int(rng.integers(1, 1 << 20))
    return v & top


def _put_int(buf: bytearray, f: Field, v: int) -> None:
    buf[f.offset : f.offset + f.size] = v.to_bytes(f.size, "little")


def mutate_gguf(data: bytes, m: GGUFMap, kind: str, rng: np.random.Generator) -> bytes:
    """One mutation of ``kind``: bitflip, integer, truncate, tensor_data, tokenizer."""
    buf = bytearray(data)
    if kind == "bitflip":
        header = rng.random() < 0.7
        hi = m.data_start if header else len(buf)
        for _ in range(int(rng.integers(1, 9))):
            at = int(rng.integers(0, hi))
            buf[at] ^= 1 << int(rng.integers(0, 8))
    elif kind == "integer":
        # pick a kind of field first: 49k vocabulary string lengths must not drown the dims
        groups: dict[str, list[Field]] = {}
        for f in m.fields:
            groups.setdefault(f.what + ("/tok" if f.key.startswith("tokenizer.") else ""), [])
            groups[f.what + ("/tok" if f.key.startswith("tokenizer.") else "")].append(f)
        group = list(groups.values())[int(rng.integers(0, len(groups)))]
        f = group[int(rng.integers(0, len(group)))]
        old = int.from_bytes(buf[f.offset : f.offset + f.size], "little")
        _put_int(buf, f, _interesting(rng, old, f.size))
    elif kind == "truncate":
        cut = int(rng.integers(0, m.data_start if rng.random() < 0.5 else len(buf)))
        return bytes(buf[:cut])
    elif kind == "tensor_data":
        span = int(rng.integers(1, 4097))
        at = int(rng.integers(m.data_start, max(m.data_start + 1, len(buf) - span)))
        fill = rng.choice(["random", "nan", "inf", "huge"])
        patterns = {"nan": b"\xff\xff\xff\x7f", "inf": b"\x00\x7c\x00\x7c", "huge": b"\xff\x7b"}
        if fill == "random":
            chunk = rng.integers(0, 256, size=span, dtype=np.uint8).tobytes()
        else:
            pat = patterns[str(fill)]
            chunk = (pat * (span // len(pat) + 1))[:span]
        buf[at : at + span] = chunk
    elif kind == "tokenizer":
        _corrupt_tokenizer(buf, m, rng)
    else:
        raise ValueError(kind)
    return bytes(buf)


def _corrupt_tokenizer(buf: bytearray, m: GGUFMap, rng: np.random.Generator) -> None:
    tok_fields = [f for f in m.fields if f.key.startswith("tokenizer.")]
    if tok_fields and (not m.tokenizer_strings or rng.random() < 0.3):
        f = tok_fields[int(rng.integers(0, len(tok_fields)))]
        old = int.from_bytes(buf[f.offset : f.offset + f.size], "little")
        _put_int(buf, f, _interesting(rng, old, f.size))
        return
    # overwrite bytes inside some vocabulary / merge / template strings (lengths kept)
    for _ in range(int(rng.integers(1, 6))):
        at, n = m.tokenizer_strings[int(rng.integers(0, len(m.tokenizer_strings)))]
        if n == 0:
            continue
        pos = at + int(rng.integers(0, n))
        choice = rng.random()
        if choice < 0.4:
            buf[pos] = ord(" ")  # splits a merge into three parts, or a token into two
        elif choice < 0.7:
            buf[pos] = int(rng.integers(0x80, 0x100))  # invalid UTF-8
        else:
            buf[pos] = int(rng.integers(0x21, 0x7F))  # a different token / unknown merge


# -- Hugging Face folders -------------------------------------------------------------------


def mutate_hf(folder: Path, kind: str, rng: np.random.Generator) -> None:
    """Mutates a Hugging Face folder in place: shards, config.json or tokenizer files."""
    shards = sorted(folder.glob("*.safetensors"))
    if kind in ("bitflip", "integer", "truncate", "tensor_data"):
        shard = shards[int(rng.integers(0, len(shards)))]
        data = bytearray(shard.read_bytes())
        (n,) = struct.unpack_from("<Q", data)
        start = 8 + n
        if kind == "bitflip":
            hi = start if rng.random() < 0.6 else len(data)
            for _ in range(int(rng.integers(1, 9))):
                at = int(rng.integers(0, hi))
                data[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == "integer":
            data = bytearray(_mutate_header_json(bytes(data), n, rng))
        elif kind == "truncate":
            data = data[: int(rng.integers(0, len(data)))]
        else:
            span = int(rng.integers(1, 2049))
            at = int(rng.integers(start, max(start + 1, len(data) - span)))
            data[at : at + span] = rng.integers(0, 256, size=span, dtype=np.uint8).tobytes()
        shard.write_bytes(bytes(data))
    elif kind == "config":
        _mutate_json_file(folder / "config.json", rng)
    elif kind == "tokenizer":
        name = rng.choice(["tokenizer.json", "tokenizer_config.json", "generation_config.json"])
        _mutate_json_file(folder / str(name), rng)
    else:
        raise ValueError(kind)


def _mutate_header_json(data: bytes, n: int, rng: np.random.Generator) -> bytes:
    header = json.loads(data[8 : 8 + n])
    names = [k for k in header if k != "__metadata__"]
    t = header[names[int(rng.integers(0, len(names)))]]
    what = rng.choice(["shape", "offsets", "dtype"])
    if what == "shape":
        i = int(rng.integers(0, len(t["shape"])))
        t["shape"][i] = _interesting(rng, int(t["shape"][i]), 8) >> int(rng.integers(0, 40))
    elif what == "offsets":
        i = int(rng.integers(0, 2))
        t["data_offsets"][i] = max(0, int(t["data_offsets"][i]) + int(rng.integers(-64, 65)))
    else:
        t["dtype"] = str(rng.choice(["F32", "F16", "BF16", "U8", "I64", "F8_E4M3"]))
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data[8 + n :]


def _mutate_json_file(path: Path, rng: np.random.Generator) -> None:
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    if rng.random() < 0.25:  # raw text damage
        at = int(rng.integers(0, max(1, len(text))))
        path.write_text(text[:at] + str(rng.choice(["", "}", '"', "\\u12"])) + text[at + 1 :])
        return
    obj = json.loads(text)
    _mutate_json_value(obj, rng, depth=0)
    path.write_text(json.dumps(obj))


_JUNK: list[object] = [None, -1, 0, 2**40, "x", [], {}, 1.5, [[1, 2, 3]], "zzq qqz"]


def _mutate_json_value(obj: object, rng: np.random.Generator, depth: int) -> None:
    """Replaces, deletes or damages one value somewhere in a JSON tree."""
    if isinstance(obj, dict) and obj:
        key = list(obj)[int(rng.integers(0, len(obj)))]
        child = obj[key]
        if depth < 4 and isinstance(child, dict | list) and child and rng.random() < 0.7:
            _mutate_json_value(child, rng, depth + 1)
        elif rng.random() < 0.3:
            del obj[key]
        else:
            obj[key] = _JUNK[int(rng.integers(0, len(_JUNK)))]
    elif isinstance(obj, list) and obj:
        i = int(rng.integers(0, len(obj)))
        child = obj[i]
        if depth < 4 and isinstance(child, dict | list) and child and rng.random() < 0.5:
            _mutate_json_value(child, rng, depth + 1)
        else:
            obj[i] = _JUNK[int(rng.integers(0, len(_JUNK)))]
