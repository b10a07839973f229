"""Ternary GGUF tensors stay packed: codes are unpacked on access, the native backend repacks
from them without keeping the int8 form, and a quantized head gives back the table's pages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.engine.native_backend import NativeBackend
from bitnet_studio.engine.residency import release_file_pages
from bitnet_studio.formats import load_model, write_gguf
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import TernaryTensor
from tests.tiny_models import make_model


@pytest.mark.parametrize("dtype", ["tq2_0", "tq1_0"])
def test_gguf_ternary_tensors_are_packed_and_decode_the_same(tmp_path: Path, dtype: str) -> None:
    m = make_model("bitnet-b1.58", seed=1)
    write_gguf(m, tmp_path / "b.gguf", dtype)
    w = load_model(tmp_path / "b.gguf")
    packed = [t for t in w.tensors.values() if isinstance(t, TernaryTensor)]
    assert packed and all(t.is_packed for t in packed)
    for name, t in m.tensors.items():
        if isinstance(t, TernaryTensor):
            got = w.tensors[name]
            assert isinstance(got, TernaryTensor)
            assert got.shape == t.shape
            assert np.array_equal(got.codes, t.codes), name
            assert got.packed_nbytes == t.shape[0] * t.shape[1] // 4 + got.scale.nbytes
    # the native runtime from the packed file = the runtime from the in-memory codes
    prompt = [3, 1, 4, 1, 5, 9, 2, 6]
    a = NativeBackend().load(m, threads=1).prefill(prompt)
    b = NativeBackend().load(w, threads=1).prefill(prompt)
    np.testing.assert_array_equal(a, b)


def test_llama_qk_rows_stay_packed_through_the_unpermutation(tmp_path: Path) -> None:
    m = random_model(tiny_config("llama", hidden_size=256, intermediate_size=512), ternary=True)
    write_gguf(m, tmp_path / "l.gguf", "tq2_0")
    w = load_model(tmp_path / "l.gguf")
    q = w.tensors["layers.0.self_attn.q_proj"]
    assert isinstance(q, TernaryTensor) and q.is_packed
    src = m.tensors["layers.0.self_attn.q_proj"]
    assert isinstance(src, TernaryTensor)
    assert np.array_equal(q.codes, src.codes)


def test_a_held_tensor_is_not_packed_and_needs_codes_or_unpack() -> None:
    t = TernaryTensor(np.zeros((2, 4), np.int8), np.ones(1, np.float32))
    assert not t.is_packed and t.shape == (2, 4)
    with pytest.raises(ValueError):
        TernaryTensor(None, np.ones(1, np.float32))


def test_release_file_pages_only_touches_read_only_maps(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    np.arange(1 << 16, dtype=np.float32).tofile(path)
    mapped = np.memmap(path, dtype=np.float32, mode="r")
    total = float(mapped.sum())
    assert release_file_pages(mapped)
    assert float(mapped.sum()) == total  # read back from the page cache, unchanged
    anon = np.arange(1 << 16, dtype=np.float32)
    assert not release_file_pages(anon)
    assert float(anon.sum()) == total
