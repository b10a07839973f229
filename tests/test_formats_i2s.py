"""bitnet.cpp I2_S tensors (type id 36, which upstream ggml does not know) read as ternary.

The gguf package cannot write type 36, so the file is written with the tensor declared I8
over its logical shape and carrying the I2_S bytes (n/4 codes + 32 bytes holding the fp32
scale), then the type field of its tensor info is patched to 36, as bitnet.cpp writes it.
"""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np

from bitnet_studio.engine.registry import make_backend
from bitnet_studio.formats import load_model, write_gguf
from bitnet_studio.formats.gguf_parse import open_gguf
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import TernaryTensor
from bitnet_studio.quant import i2_s
from tests.test_formats_gguf import _copy_kv

I2_S_TYPE = 36
# 128-weight I2_S blocks need rows of a multiple of 128
CFG = dict(hidden_size=128, intermediate_size=256, n_heads=4, n_kv_heads=2, head_dim=32)


def _with_i2s(src: Path, dst: Path, name: str, codes: np.ndarray, scale: float) -> None:
    f = open_gguf(src)
    w = gguf.GGUFWriter(dst, str(f.metadata["general.architecture"]))
    for key, value in f.metadata.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        _copy_kv(w, key, value, f)
    for t in f.tensors.values():
        if t.name == name:
            raw = i2_s.pack(codes, scale)
            w.add_tensor(t.name, raw, raw_shape=codes.shape, raw_dtype=gguf.GGMLQuantizationType.I8)
        else:
            w.add_tensor(
                t.name,
                np.array(f.raw(t))
                .view(np.float16 if t.type_name == "F16" else np.float32)
                .reshape(t.shape),
            )
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    data = bytearray(dst.read_bytes())
    key = struct.pack("<Q", len(name)) + name.encode()
    at = data.index(key) + len(key)
    (n_dims,) = struct.unpack_from("<I", data, at)
    at += 4 + 8 * n_dims
    assert struct.unpack_from("<I", data, at)[0] == int(gguf.GGMLQuantizationType.I8)
    struct.pack_into("<I", data, at, I2_S_TYPE)
    dst.write_bytes(bytes(data))


def test_i2s_tensor_reads_as_ternary_and_runs(tmp_path: Path) -> None:
    model = random_model(tiny_config("bitnet-b1.58", **CFG), seed=7)
    write_gguf(model, tmp_path / "f16.gguf", "f16")
    name, gguf_name = "layers.0.mlp.up_proj", "blk.0.ffn_up.weight"
    want = model.tensors[name]
    assert isinstance(want, TernaryTensor)
    _with_i2s(
        tmp_path / "f16.gguf", tmp_path / "i2s.gguf", gguf_name, want.codes, float(want.scale[0])
    )
    got = load_model(tmp_path / "i2s.gguf")
    t = got.tensors[name]
    assert isinstance(t, TernaryTensor) and got.tensor_types[name] == "I2_S"
    np.testing.assert_array_equal(t.codes, want.codes)
    assert float(t.scale.reshape(-1)[0]) == float(want.scale[0])
    session = make_backend("native").load(got, threads=1)
    try:
        assert np.isfinite(session.prefill([1, 2, 3])).all()
    finally:
        session.close()
