"""Hugging Face folders: Llama (f32/f16/bf16, sharded), BitNet packed (both scale
conventions), latent BitNet (2B4T online, 1bitLLM)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.formats import load_model
from bitnet_studio.formats.hf_reader import scale_to_gamma, unpack_hf_packed
from bitnet_studio.models.weights import TernaryTensor
from tests.tiny_models import (
    dense,
    make_model,
    pack_hf,
    write_hf_bitnet_packed,
    write_hf_latent,
    write_hf_llama,
)


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_llama_folder_round_trip(tmp_path: Path, dtype: str) -> None:
    m = make_model("llama")
    w = load_model(write_hf_llama(m, tmp_path / "llama", dtype))
    assert w.format == "hf-safetensors" and w.config.arch == "llama"
    for f in ("vocab_size", "hidden_size", "n_layers", "n_heads", "n_kv_heads", "head_dim"):
        assert getattr(w.config, f) == getattr(m.config, f)
    for name, t in m.tensors.items():
        got = w.tensors[name]
        # fp16 weights round to bf16's 8-bit mantissa; f32 and f16 files are exact
        rtol = 2.0**-8 if dtype == "bf16" else 0.0
        assert np.allclose(dense(got), dense(t), rtol=rtol, atol=0), name
    if dtype != "bf16":
        assert isinstance(w.tensors["layers.0.self_attn.q_proj"], np.memmap)
    tok = w.tokenizer
    assert tok.tokenizer_json and tok.chat_template == m.tokenizer.chat_template
    assert tok.bos_token_id == 0 and tok.eos_token_ids == [1] and tok.add_bos
    assert tok.special_tokens == {"bos": "<|bos|>", "eos": "<|eos|>"}


@pytest.mark.parametrize("linear_class", ["bitlinear", "autobitlinear"])
def test_bitnet_packed_both_scale_conventions(tmp_path: Path, linear_class: str) -> None:
    m = make_model("bitnet-b1.58", tie=True)
    w = load_model(write_hf_bitnet_packed(m, tmp_path / linear_class, linear_class))
    assert w.config.arch == "bitnet-b1.58" and w.config.hidden_act == "relu2"
    assert w.config.tie_word_embeddings and "lm_head" not in w.tensors
    for name, t in m.tensors.items():
        got = w.tensors[name]
        if isinstance(t, TernaryTensor):
            assert isinstance(got, TernaryTensor) and got.source_type == "hf-packed"
            assert np.array_equal(got.codes, t.codes), name
            assert np.array_equal(got.dequantize(), t.dequantize()), name
        else:  # bf16 in the file
            assert np.allclose(dense(got), dense(t), rtol=2.0**-8, atol=0), name
    assert w.tensor_types["layers.0.mlp.gate_proj"] == "hf-packed"


def test_scale_conventions_agree() -> None:
    gamma = np.float32(0.0123)
    a = scale_to_gamma(np.array([1 / gamma], np.float32), {})
    b = scale_to_gamma(np.array([gamma], np.float32), {"linear_class": "autobitlinear"})
    assert a == pytest.approx(gamma, rel=1e-6) and b == gamma


def test_packing_layout_runs_along_rows() -> None:
    codes = np.random.default_rng(0).integers(-1, 2, size=(8, 5)).astype(np.int8)
    packed = pack_hf(codes)
    assert packed.shape == (2, 5)
    # byte (r, c) holds rows r, r + 2, r + 4, r + 6 in bits 1:0, 3:2, 5:4, 7:6
    assert (packed[1, 3] >> 4) & 3 == codes[5, 3] + 1
    assert np.array_equal(unpack_hf_packed(packed, 8), codes)


@pytest.mark.parametrize("style", ["2b4t", "1bitllm"])
def test_latent_bitnet_is_ternarized_at_load(tmp_path: Path, style: str) -> None:
    m = make_model("bitnet-b1.58")
    w = load_model(write_hf_latent(m, tmp_path / style, style))
    assert w.config.arch == "bitnet-b1.58"
    assert w.config.hidden_act == ("relu2" if style == "2b4t" else "silu")
    name = "layers.1.self_attn.o_proj"
    src, got = m.tensors[name], w.tensors[name]
    assert isinstance(got, TernaryTensor) and got.source_type == "latent-absmean"
    assert np.array_equal(got.codes, src.codes)  # absmean of codes*s recovers the codes
    expect = np.mean(np.abs(src.dequantize()))
    assert got.scale[0] == pytest.approx(expect, rel=1e-6)
    assert "layers.0.attn_sub_norm" in w.tensors  # 1bitLLM inner_attn_ln mapped
    assert "layers.0.ffn_sub_norm" in w.tensors
    assert any("ternarized at load" in n for n in w.notes)


def test_single_file_and_safetensors_path(tmp_path: Path) -> None:
    m = make_model("llama", tie=True)
    folder = write_hf_llama(m, tmp_path / "one", "f16")
    shard = sorted(folder.glob("*.safetensors"))[0]
    w = load_model(shard)  # a weights file resolves to its folder
    assert w.config.tie_word_embeddings and set(w.tensors) == set(m.tensors)
