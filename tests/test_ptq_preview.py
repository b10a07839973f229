"""The Inspect page's data, without Qt: PTQ preview, tensor views, depth profiles, bytes,
and the benchmark export."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.bench.export import write_csv, write_json
from bitnet_studio.inspect.ptq_preview import ternarization_error, ternarize_preview
from bitnet_studio.inspect.summary import kv_cache_bytes
from bitnet_studio.inspect.views import (
    COMPONENTS,
    component_bytes,
    depth_profile,
    layer_of,
    tensor_groups,
    tensor_view,
    tile,
)
from bitnet_studio.models.ptq import ternarize_model
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import TernaryTensor
from bitnet_studio.quant.absmean import ternarize


@pytest.fixture(scope="module")
def llama():
    return random_model(tiny_config("llama"))


@pytest.fixture(scope="module")
def bitnet():
    return random_model(tiny_config("bitnet-b1.58"))


def test_preview_matches_absmean_and_direct_error() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((48, 80)).astype(np.float32)
    p = ternarize_preview(w, bins=31)
    w64 = w.astype(np.float64)
    codes, gamma = ternarize(w)
    np.testing.assert_array_equal(p.codes, codes)
    assert p.gamma == pytest.approx(float(gamma))
    deq = codes.astype(np.float64) * float(gamma)
    rel = np.linalg.norm(w64 - deq) / np.linalg.norm(w64)
    cos = np.dot(w64.ravel(), deq.ravel()) / np.linalg.norm(w64) / np.linalg.norm(deq)
    assert p.rel_l2 == pytest.approx(rel, rel=1e-9)
    assert p.cosine == pytest.approx(cos, rel=1e-9)
    # A Gaussian ternarized by absmean: cosine ~ 0.86, relative error ~ 0.5.
    assert 0.8 < p.cosine < 0.9 and 0.4 < p.rel_l2 < 0.6
    assert list(p.code_counts) == [int(np.sum(codes == v)) for v in (-1, 0, 1)]
    assert p.zero_share == pytest.approx(np.mean(codes == 0))
    assert p.before[0].sum() == w.size and len(p.before[1]) == 32
    np.testing.assert_array_equal(p.after[0], p.code_counts)
    np.testing.assert_allclose(p.after[1], np.array([-1.5, -0.5, 0.5, 1.5]) * p.gamma)


def test_error_of_an_exactly_ternary_tensor_is_zero() -> None:
    codes = np.array([[-1, 0, 1, 1]], np.int8)
    w = codes.astype(np.float32) * 0.25
    rel, cos = ternarization_error(w, codes, 0.25)
    assert rel == 0.0 and cos == pytest.approx(1.0)
    assert ternarization_error(np.zeros(4), np.zeros(4, np.int8), 0.0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        ternarization_error(w, codes[:, :2], 0.25)


def test_tensor_groups_and_layers(llama) -> None:
    groups = tensor_groups(llama)
    assert groups[0][0] == "model" and "embed_tokens" in groups[0][1]
    assert [g for g, _ in groups[1:]] == ["layer 0", "layer 1"]
    names = [n for _, ns in groups for n in ns]
    assert sorted(names) == sorted(llama.tensors)
    assert layer_of("layers.12.mlp.up_proj") == 12 and layer_of("norm") is None


def test_tensor_view_float_and_ternary(llama, bitnet) -> None:
    v = tensor_view(llama, "layers.0.mlp.up_proj", bins=21)
    assert not v.is_ternary and v.counts.sum() == llama.tensors["layers.0.mlp.up_proj"].size
    assert v.tile.shape == (64, 64)
    t = bitnet.tensors["layers.1.self_attn.q_proj"]
    assert isinstance(t, TernaryTensor)
    tv = tensor_view(bitnet, "layers.1.self_attn.q_proj")
    assert tv.is_ternary
    assert list(tv.counts) == [int(np.sum(t.codes == v)) for v in (-1, 0, 1)]
    np.testing.assert_allclose(tv.tile, t.dequantize()[:64, :64])
    # A 1-D tensor folds into rows of 64, padded with NaN.
    norm = tile(np.arange(100, dtype=np.float32))
    assert norm.shape == (2, 64) and np.isnan(norm[1, 36:]).all() and norm[1, 35] == 99


def test_depth_profile(llama, bitnet) -> None:
    n = llama.config.n_layers
    f = depth_profile(llama)
    assert f.kind == "float" and f.metrics == ("std", "absmean") and len(f.layers) == n
    w = llama.tensors["layers.1.mlp.down_proj"]
    assert f.first["mlp.down_proj"][1] == pytest.approx(float(np.std(w)), rel=1e-5)
    assert f.second["mlp.down_proj"][1] == pytest.approx(float(np.mean(np.abs(w))), rel=1e-5)
    t = depth_profile(bitnet)
    assert t.kind == "ternary" and t.metrics == ("scale", "zero share")
    q = bitnet.tensors["layers.0.self_attn.q_proj"]
    assert t.first["self_attn.q_proj"][0] == pytest.approx(float(q.scale.mean()))
    assert t.second["self_attn.q_proj"][0] == pytest.approx(float(np.mean(q.codes == 0)))
    assert all(len(a) == n for a in t.first.values())
    twin = depth_profile(ternarize_model(llama))
    assert twin.kind == "ternary" and len(twin.first) == 7


def test_component_bytes(llama, bitnet) -> None:
    b = component_bytes(llama, context=100)
    assert list(b) == list(COMPONENTS)
    assert b["kv cache"] == kv_cache_bytes(llama, 100)
    assert b["embeddings"] == llama.tensors["embed_tokens"].nbytes
    assert b["head"] == llama.tensors["lm_head"].nbytes
    tb = component_bytes(bitnet, context=1)
    assert tb["head"] == 0  # tied to the embeddings
    q = bitnet.tensors["layers.0.self_attn.q_proj"]
    assert tb["attention"] < 4 * q.codes.size  # 2 bits per weight, not 8


@dataclass
class _Rec:
    name: str
    gbps: float
    notes: list[str] = field(default_factory=list)


def test_export_csv_and_json(tmp_path: Path) -> None:
    recs = [_Rec("a", 1.5, ["x", "y"]), _Rec("b", 2.0)]
    write_json(recs, tmp_path / "r.json", meta={"kind": "test"})
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["meta"] == {"kind": "test"} and doc["records"][0]["notes"] == ["x", "y"]
    write_csv(recs, tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert rows == [
        {"name": "a", "gbps": "1.5", "notes": "x; y"},
        {"name": "b", "gbps": "2.0", "notes": ""},
    ]
