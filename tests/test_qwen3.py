"""Qwen3 (per-head q/k RMSNorm before RoPE): tiny GGUFs we write load, and native, torch and
llama.cpp agree on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bitnet_studio.engine.native_backend import NativeBackend
from bitnet_studio.engine.torch_backend import TorchBackend
from bitnet_studio.engine.torch_model import TorchModel
from bitnet_studio.models.weights import BinaryTensor, ModelWeights, TernaryTensor
from tests.lowbit_fixtures import PROMPT, lock_step, lowbit_file, native_binary, rel_err


def _fp32(m: ModelWeights) -> ModelWeights:
    """The torch reference on the weights the native side holds (fp16 matrices as float32)."""
    t = {
        n: v if isinstance(v, BinaryTensor | TernaryTensor) else np.asarray(v, np.float32)
        for n, v in m.tensors.items()
    }
    return ModelWeights(config=m.config, tensors=t, tokenizer=m.tokenizer, source=m.source)


def test_qwen3_gguf_loads_with_qk_norms(tmp_path: Path) -> None:
    m = lowbit_file(tmp_path, "qwen3", "f16", seed=0)
    assert m.config.arch == "qwen3" and m.config.qk_norm
    assert m.tensors["layers.0.self_attn.q_norm"].shape == (64,)
    assert m.tensor_types["layers.1.self_attn.k_norm"] == "F32"


def test_qk_norm_is_applied_per_head_before_rope(tmp_path: Path) -> None:
    m = _fp32(lowbit_file(tmp_path, "qwen3", "f16", seed=0))
    base = TorchModel(m).forward(torch.tensor(PROMPT))
    # a uniform q_norm scale c multiplies every attention score by c: the output must move
    m.tensors["layers.0.self_attn.q_norm"] = m.tensors["layers.0.self_attn.q_norm"] * 3.0
    moved = TorchModel(m).forward(torch.tensor(PROMPT))
    assert float((moved - base).abs().max()) > 1e-2
    # ...but the first token attends only to itself: its logits cannot change
    torch.testing.assert_close(moved[0], base[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2])
def test_native_matches_torch_on_f16_qwen3(tmp_path: Path, threads: int) -> None:
    m = lowbit_file(tmp_path, "qwen3", "f16", seed=1)
    nat = NativeBackend().load(m, threads=threads)
    ref = TorchBackend().load(_fp32(m))
    picks, history = lock_step([nat, ref], steps=32)
    assert picks[0] == picks[1]
    assert len(set(picks[0])) >= 8  # not a model stuck on one token
    assert max(rel_err(h[0], h[1]) for h in history) < 1e-4


def test_llama_cpp_agrees_on_f16_qwen3(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    from bitnet_studio.engine.llamacpp_backend import LlamaCppBackend

    m = lowbit_file(tmp_path, "qwen3", "f16", seed=1)
    lc = LlamaCppBackend(n_ctx=128).load(m, threads=2)
    ref = TorchBackend().load(_fp32(m))
    picks, history = lock_step([lc, ref], steps=24)
    lc.close()
    assert picks[0] == picks[1]
    # llama.cpp keeps K/V in fp16 and feeds its F16 head fp16 activations
    assert max(rel_err(h[0], h[1]) for h in history) < 5e-3


@native_binary
def test_native_matches_torch_on_q1_0_qwen3(tmp_path: Path) -> None:
    m = lowbit_file(tmp_path, "qwen3", "q1_0", seed=0)
    nat = NativeBackend().load(m, threads=2)
    ref = TorchBackend().load(_fp32(m))
    picks, history = lock_step([nat, ref], steps=32)
    assert picks[0] == picks[1]
    assert max(rel_err(h[0], h[1]) for h in history) < 1e-4


def test_torch_runs_q1_0_qwen3_with_binary_linears(tmp_path: Path) -> None:
    m = lowbit_file(tmp_path, "qwen3", "q1_0", seed=0)
    assert isinstance(m.tensors["layers.0.mlp.gate_proj"], BinaryTensor)
    s = TorchBackend().load(m)
    logits = s.prefill(PROMPT)
    assert logits.shape == (len(PROMPT), m.config.vocab_size) and np.all(np.isfinite(logits))
    assert s.memory()["mlp"] == 2 * 3 * (512 * 256) + 2 * 3 * 4  # int8 signs + one scale each


def test_native_matches_torch_on_q2_0_qwen3(tmp_path: Path) -> None:
    """Ternary Bonsai's layout: Q2_0 linears read as TernaryTensor run on the native kernels."""
    m = lowbit_file(tmp_path, "qwen3", "q2_0", seed=2)
    assert m.tensor_types["layers.0.self_attn.q_proj"] == "Q2_0"
    nat = NativeBackend().load(m, threads=2)
    ref = TorchBackend().load(_fp32(m))
    picks, history = lock_step([nat, ref], steps=32)
    assert picks[0] == picks[1]
    assert max(rel_err(h[0], h[1]) for h in history) < 1e-4


def test_llama_cpp_reads_our_q2_0_qwen3(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    from bitnet_studio.engine.llamacpp_backend import LlamaCppBackend

    m = lowbit_file(tmp_path, "qwen3", "q2_0", seed=2)
    lc = LlamaCppBackend(n_ctx=128).load(m, threads=2)
    ref = TorchBackend().load(_fp32(m))
    picks, history = lock_step([lc, ref], steps=24)
    lc.close()
    assert picks[0] == picks[1] and len(set(picks[0])) >= 6
    assert max(rel_err(h[0], h[1]) for h in history) < 0.03  # Q8_0 vs per-token int8
