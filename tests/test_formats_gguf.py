"""GGUF round trips: write tiny models with our writer (and gguf.quants), read them back."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest

from bitnet_studio.engine.llamacpp_backend import LlamaCppBackend
from bitnet_studio.formats import load_model, write_gguf
from bitnet_studio.formats.arch_map import permute_rows
from bitnet_studio.formats.gguf_parse import open_gguf
from bitnet_studio.models.weights import TernaryTensor
from tests.tiny_models import dense, make_model


def _same_config(a, b) -> None:
    for f in ("arch", "vocab_size", "hidden_size", "intermediate_size", "n_layers", "n_heads"):
        assert getattr(a, f) == getattr(b, f), f
    for f in ("n_kv_heads", "head_dim", "rope_theta", "max_position", "tie_word_embeddings"):
        assert getattr(a, f) == getattr(b, f), f
    assert a.hidden_act == b.hidden_act
    assert a.rms_norm_eps == pytest.approx(b.rms_norm_eps)
    assert b.bos_token_id == a.bos_token_id and b.eos_token_ids[:1] == a.eos_token_ids[:1]


@pytest.mark.parametrize("arch", ["llama", "bitnet-b1.58"])
@pytest.mark.parametrize("tie", [False, True])
def test_f16_round_trip_is_exact(tmp_path: Path, arch: str, tie: bool) -> None:
    m = make_model(arch, tie=tie)
    path = tmp_path / "m.gguf"
    report = write_gguf(m, path, "f16")
    w = load_model(path)
    _same_config(m.config, w.config)
    assert w.format == "gguf" and set(w.tensors) == set(m.tensors)
    for name, t in m.tensors.items():
        assert np.array_equal(dense(t), dense(w.tensors[name])), name
    assert w.tensor_types["norm"] == "F32" and w.tensor_types["embed_tokens"] == "F16"
    # F16/F32 tensors are views of the file, except llama's un-permuted Q/K
    assert isinstance(w.tensors["embed_tokens"], np.memmap)
    assert w.tensors["embed_tokens"].dtype == np.float16
    assert isinstance(w.tensors["layers.0.self_attn.v_proj"], np.memmap)
    assert report.arch == ("llama" if arch == "llama" else "bitnet-b1.58")
    spec = w.tokenizer
    assert spec.gguf_vocab and spec.gguf_vocab["model"] == "gpt2"
    assert len(spec.gguf_vocab["tokens"]) == m.config.vocab_size and spec.gguf_vocab["merges"]
    assert spec.chat_template == m.tokenizer.chat_template and spec.add_bos
    assert spec.special_tokens["bos"] == "<|bos|>"


@pytest.mark.parametrize("dtype", ["tq2_0", "tq1_0"])
def test_ternary_round_trip_keeps_codes_and_scales(tmp_path: Path, dtype: str) -> None:
    m = make_model("bitnet-b1.58")
    path = tmp_path / "b.gguf"
    report = write_gguf(m, path, dtype)
    assert report.linears is not None and not report.linears.f16
    w = load_model(path)
    for name, t in m.tensors.items():
        got = w.tensors[name]
        if isinstance(t, TernaryTensor):
            assert isinstance(got, TernaryTensor) and got.source_type == dtype.upper()
            assert np.array_equal(got.codes, t.codes), name
            assert np.array_equal(got.scale.reshape(-1)[:1], t.scale), name
        else:
            assert np.array_equal(dense(t), dense(got)), name
    assert w.tensor_types["layers.1.mlp.down_proj"] == dtype.upper()


def test_llama_ternary_write_ptq_and_f16_fallback(tmp_path: Path) -> None:
    m = make_model("llama")  # hidden 64: rows not whole 256-blocks -> F16 fallback
    report = write_gguf(m, tmp_path / "l.gguf", "tq2_0")
    assert report.notes[0] == (
        "0 of 14 linears stored ternary as TQ2_0; 14 left F16 because TQ2_0 needs rows of "
        "whole 256-weight blocks (12 with rows of 64, 2 with rows of 160): F16 keeps them "
        "exact and every runtime reads it"
    )
    w = load_model(tmp_path / "l.gguf")
    assert np.array_equal(
        dense(w.tensors["layers.0.self_attn.q_proj"]), dense(m.tensors["layers.0.self_attn.q_proj"])
    )


def test_qk_permutation_matches_llama_cpp(tmp_path: Path) -> None:
    m = make_model("llama")
    path = tmp_path / "p.gguf"
    write_gguf(m, path, "f16")
    f = open_gguf(path)
    q = m.tensors["layers.0.self_attn.q_proj"].astype(np.float32)
    heads, hd = m.config.n_heads, m.config.head_dim
    # llama.cpp convert_hf_to_gguf.py LlamaModel.permute, written out independently
    ref = q.reshape(heads, 2, hd // 2, -1).swapaxes(1, 2).reshape(q.shape)
    stored = f.raw(f.tensors["blk.0.attn_q.weight"]).view(np.float16).reshape(q.shape)
    assert np.array_equal(stored.astype(np.float32), ref)
    k = m.tensors["layers.0.self_attn.k_proj"]
    stored_k = f.raw(f.tensors["blk.0.attn_k.weight"]).view(np.float16).reshape(k.shape)
    assert np.array_equal(stored_k, permute_rows(k, m.config.n_kv_heads, to_gguf=True))
    assert np.array_equal(permute_rows(permute_rows(q, heads, True), heads, False), q)
    # bitnet GGUFs are not permuted
    b = make_model("bitnet-b1.58")
    write_gguf(b, tmp_path / "b.gguf", "f16")
    fb = open_gguf(tmp_path / "b.gguf")
    bq = b.tensors["layers.0.self_attn.q_proj"]
    raw = fb.raw(fb.tensors["blk.0.attn_q.weight"]).view(np.float16).reshape(bq.shape)
    assert np.array_equal(raw.astype(np.float32), bq.dequantize())


def test_metadata_keys_llama_cpp_reads(tmp_path: Path) -> None:
    m = make_model("llama")
    write_gguf(m, tmp_path / "k.gguf", "f16")
    meta = open_gguf(tmp_path / "k.gguf").metadata
    for key in (
        "context_length",
        "embedding_length",
        "block_count",
        "feed_forward_length",
        "attention.head_count",
        "attention.head_count_kv",
        "rope.dimension_count",
        "attention.layer_norm_rms_epsilon",
        "rope.freq_base",
        "vocab_size",
    ):
        assert f"llama.{key}" in meta, key
    assert meta["general.file_type"] == 1 and meta["general.architecture"] == "llama"
    assert meta["tokenizer.ggml.pre"] == "gpt-2"  # llama.cpp spells it so
    # the gguf package's own reader agrees with our parser
    r = gguf.GGUFReader(tmp_path / "k.gguf")
    assert r.fields["llama.block_count"].contents() == 2
    assert len(r.tensors) == len(open_gguf(tmp_path / "k.gguf").tensors)


QUANT_TOL = {"Q8_0": 0.01, "Q5_0": 0.04, "Q5_1": 0.04, "Q4_0": 0.08, "Q4_1": 0.08}


@pytest.mark.parametrize("qtype", ["Q8_0", "Q4_0", "Q4_1", "Q5_0"])
def test_block_quantized_types_dequantize_to_f16(tmp_path: Path, qtype: str) -> None:
    m = make_model("llama")
    path = tmp_path / "q.gguf"
    write_gguf(m, path, "f16")
    qt = gguf.GGMLQuantizationType[qtype]
    sample = np.zeros((1, 256), np.float32)
    try:
        gguf.quants.quantize(sample, qt)
    except NotImplementedError:
        pytest.skip(f"the gguf package cannot write {qtype} (it only dequantizes it)")
    _requantize_linears(path, tmp_path / "q2.gguf", qt)
    w = load_model(tmp_path / "q2.gguf")
    name = "layers.1.mlp.up_proj"
    got = w.tensors[name]
    assert got.dtype == np.float16 and w.tensor_types[name] == qtype
    ref = dense(m.tensors[name])
    err = np.abs(got.astype(np.float32) - ref).max() / np.abs(ref).max()
    assert err < QUANT_TOL[qtype]
    assert any(f"{qtype} dequantized" in n for n in w.notes)
    q = dense(w.tensors["layers.0.self_attn.q_proj"])  # un-permuted after dequantization
    assert np.abs(q - dense(m.tensors["layers.0.self_attn.q_proj"])).max() < 0.1


@pytest.mark.parametrize(
    "ftype, kinds", [("Q4_K_M", {"Q4_K", "Q6_K"}), ("Q5_K_M", {"Q5_K", "Q6_K"}), ("Q6_K", {"Q6_K"})]
)
def test_k_quants_written_by_llama_cpp_dequantize(tmp_path: Path, ftype: str, kinds: set) -> None:
    """K-quants (which the gguf package cannot write) made by llama.cpp's own quantizer."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from bitnet_studio.models.random_model import random_model, tiny_config

    cfg = tiny_config(
        "llama", hidden_size=256, intermediate_size=512, n_heads=4, n_kv_heads=2, head_dim=64
    )
    m = random_model(cfg, seed=4)
    write_gguf(m, tmp_path / "f16.gguf", "f16")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = 1
    src, dst = str(tmp_path / "f16.gguf").encode(), str(tmp_path / "k.gguf").encode()
    assert llama_cpp.llama_model_quantize(src, dst, params) == 0
    w = load_model(tmp_path / "k.gguf")
    for name in ("layers.0.mlp.up_proj", "layers.1.mlp.down_proj", "layers.0.self_attn.q_proj"):
        got, ref = dense(w.tensors[name]), dense(m.tensors[name])
        assert w.tensor_types[name] in kinds, (name, w.tensor_types[name])
        assert np.abs(got - ref).max() / np.abs(ref).max() < 0.15, name


def _requantize_linears(src: Path, dst: Path, qt: gguf.GGMLQuantizationType) -> None:
    """Copy a GGUF, storing 2-D block weights in ``qt`` (as llama-quantize would)."""
    f = open_gguf(src)
    w = gguf.GGUFWriter(dst, str(f.metadata["general.architecture"]))
    for key, value in f.metadata.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        _copy_kv(w, key, value, f)
    for t in f.tensors.values():
        data = f.raw(t).view(np.float16 if t.type_name == "F16" else np.float32).reshape(t.shape)
        if t.name.startswith("blk.") and data.ndim == 2:
            w.add_tensor(t.name, gguf.quants.quantize(data.astype(np.float32), qt), raw_dtype=qt)
        else:
            w.add_tensor(t.name, np.array(data))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _copy_kv(w: gguf.GGUFWriter, key: str, value: object, f) -> None:
    if isinstance(value, list):
        w.add_array(key, value)
    elif isinstance(value, bool):
        w.add_bool(key, value)
    elif isinstance(value, int):
        w.add_uint32(key, value)
    elif isinstance(value, float):
        w.add_float32(key, value)
    else:
        w.add_string(key, str(value))


def test_per_block_scaled_ternary_is_dequantized(tmp_path: Path) -> None:
    m = make_model("bitnet-b1.58")
    path = tmp_path / "b.gguf"
    write_gguf(m, path, "f16")
    dst = tmp_path / "blocky.gguf"
    _requantize_linears(path, dst, gguf.GGMLQuantizationType.TQ2_0)  # absmax d per block
    w = load_model(dst)
    name = "layers.0.mlp.up_proj"
    got = w.tensors[name]
    # llama-quantize of ternary weights: nonzero blocks share d = the scale, so still ternary
    assert isinstance(got, TernaryTensor)
    assert np.array_equal(got.dequantize(), dense(m.tensors[name]))


def test_tq_with_varying_block_scales_falls_back_to_f16(tmp_path: Path) -> None:
    m = make_model("bitnet-b1.58")
    name = "layers.0.mlp.down_proj"  # two 256-blocks per row, with different absmax d
    rng = np.random.default_rng(1)
    m.tensors[name] = (0.05 * rng.standard_normal((256, 512))).astype(np.float16)
    write_gguf(m, tmp_path / "b.gguf", "f16")
    _requantize_linears(tmp_path / "b.gguf", tmp_path / "v.gguf", gguf.GGMLQuantizationType.TQ2_0)
    w = load_model(tmp_path / "v.gguf")
    got = w.tensors[name]
    assert isinstance(got, np.ndarray) and got.dtype == np.float16
    assert any("per-block scales, dequantized" in n for n in w.notes)
    assert isinstance(w.tensors["layers.0.mlp.up_proj"], TernaryTensor)


def test_llama_cpp_loads_what_we_write(tmp_path: Path) -> None:
    """The metadata check that matters: llama.cpp itself loads, tokenizes and runs our files."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from tokenizers import Tokenizer

    m = make_model("llama")
    write_gguf(m, tmp_path / "l.gguf", "f16")
    lm = llama_cpp.Llama(model_path=str(tmp_path / "l.gguf"), verbose=False, n_ctx=32)
    text = b"the quick brown fox"
    ids = Tokenizer.from_str(m.tokenizer.tokenizer_json).encode(text.decode()).ids
    assert lm.tokenize(text) == [0, *ids]  # add_bos honoured, same BPE
    b = make_model("bitnet-b1.58", tie=True)
    b.config.hidden_act = "silu"  # upstream's bitnet graph
    lm.close()
    logits = []
    for dtype in ("tq2_0", "tq1_0"):
        write_gguf(b, tmp_path / f"{dtype}.gguf", dtype)
        # The backend reads the last row with llama_get_logits_ith (Llama.scores is only
        # filled for every row with logits_all=True).
        session = LlamaCppBackend(n_ctx=32).load(tmp_path / f"{dtype}.gguf", threads=1)
        try:
            logits.append(session.prefill(session.tokenize(text.decode()))[-1])
        finally:
            session.close()
    assert np.all(np.isfinite(logits[0])) and np.allclose(logits[0], logits[1])
