"""Tiny random models and a tiny real tokenizer, built on the fly for tests and demos.

``random_model`` fills every canonical tensor (see ``models/weights.py``) with values on
sane scales: linears ~ N(0, 1/in) so activations stay O(1) through the residual stream,
norm weights near 1, a head a little sharper than unit scale so the logits are neither flat
nor one-hot. Ternary linears are absmean-ternarized from such latent weights, exactly as a
BitNet b1.58 checkpoint stores them (int8 codes + one gamma per tensor).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np

from bitnet_studio.models.config import Arch, ModelConfig
from bitnet_studio.models.weights import ModelWeights, Tensor, TernaryTensor, TokenizerSpec
from bitnet_studio.quant.absmean import ternarize

TINY_VOCAB = 300
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# ChatML, the template SmolLM2 ships (without its default system prompt).
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Training text for the tiny tokenizer: plain English, code and a little unicode, so the
# merges look like a real BPE's (frequent words, indentation, digits).
_CORPUS = """\
The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs on.
A ternary weight is minus one, zero or plus one. Ternary models store two bits per weight,
sometimes less, and the matrix-vector product becomes additions and subtractions.
BitNet b1.58 quantizes activations to eight bits per token and weights to three values.
Hello, world! How are you today? I am fine, thank you. What is the time? It is ten past two.
def forward(self, x):
    h = x + self.attention(self.norm(x))
    return h + self.mlp(self.norm2(h))
for i in range(10):
    print(i, i * i)
Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2025 3.14159.
Unicode: café, naïve, über, Grüße, 東京, Москва, emoji 🙂 and ✓.
The model reads tokens, predicts the next token, and writes it back to the context.
User: tell me a story. Assistant: once upon a time there was a small model that could.
"""


def tiny_config(arch: Arch = "llama", **overrides: Any) -> ModelConfig:
    """A small configuration of either architecture (fast enough for unit tests)."""
    fields: dict[str, Any] = dict(
        arch=arch,
        vocab_size=TINY_VOCAB,
        hidden_size=64,
        intermediate_size=172,
        n_layers=2,
        n_heads=4,
        n_kv_heads=2,
        head_dim=16,
        rms_norm_eps=1e-5,
        rope_theta=500000.0 if arch == "bitnet-b1.58" else 10000.0,
        max_position=256,
        tie_word_embeddings=arch != "llama",
        hidden_act="relu2" if arch == "bitnet-b1.58" else "silu",
        bos_token_id=1,
        eos_token_ids=[2],
    )
    fields.update(overrides)
    config = ModelConfig(**fields)
    config.validate()
    return config


@functools.cache
def _tiny_tokenizer_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)
    return str(tok.to_str())


def tiny_tokenizer_spec(vocab_size: int = TINY_VOCAB) -> TokenizerSpec:
    """A byte-level BPE trained on a built-in text (cached per process), with ChatML specials.

    Ids 0, 1, 2 are ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>`` (as in SmolLM2).
    """
    text = _tiny_tokenizer_json(vocab_size)
    n = len(json.loads(text)["model"]["vocab"])
    if n != vocab_size:
        raise ValueError(f"the built-in corpus trains only {n} tokens, not {vocab_size}")
    return TokenizerSpec(
        tokenizer_json=text,
        chat_template=TINY_CHAT_TEMPLATE,
        bos_token_id=1,
        eos_token_ids=[2, 0],
        add_bos=False,
        special_tokens={"bos": "<|im_start|>", "eos": "<|im_end|>", "pad": "<|endoftext|>"},
    )


def random_model(
    config: ModelConfig,
    *,
    seed: int = 0,
    ternary: bool | None = None,
    tokenizer: TokenizerSpec | None = None,
    dtype: str = "float32",
) -> ModelWeights:
    """Random weights for ``config``.

    ``ternary`` (default: the architecture's own choice) makes the seven projections of
    every layer ``TernaryTensor``s; embeddings, norms and head stay ``dtype`` (float32 or
    float16). ``tokenizer`` defaults to the tiny trained BPE when the vocab sizes agree.
    """
    config.validate()
    if ternary is None:
        ternary = config.is_ternary_arch
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    h, inter, d = config.hidden_size, config.intermediate_size, config.head_dim
    q_out, kv_out = config.n_heads * d, config.n_kv_heads * d

    def dense(out_f: int, in_f: int) -> np.ndarray:
        return (rng.standard_normal((out_f, in_f)) / np.sqrt(in_f)).astype(np.float32)

    def linear(out_f: int, in_f: int) -> Tensor:
        w = dense(out_f, in_f)
        if not ternary:
            return w.astype(dt)
        codes, gamma = ternarize(w)
        return TernaryTensor(codes, np.array([gamma], np.float32), source_type="random")

    def norm(n: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(dt)

    t: dict[str, Tensor] = {"embed_tokens": rng.standard_normal((config.vocab_size, h)).astype(dt)}
    for i in range(config.n_layers):
        p = f"layers.{i}."
        t[p + "input_layernorm"] = norm(h)
        t[p + "self_attn.q_proj"] = linear(q_out, h)
        t[p + "self_attn.k_proj"] = linear(kv_out, h)
        t[p + "self_attn.v_proj"] = linear(kv_out, h)
        if config.attention_bias:
            for name, n in (("q", q_out), ("k", kv_out), ("v", kv_out)):
                t[p + f"self_attn.{name}_bias"] = (0.1 * rng.standard_normal(n)).astype(dt)
        if config.qk_norm:
            t[p + "self_attn.q_norm"] = norm(d)
            t[p + "self_attn.k_norm"] = norm(d)
        t[p + "self_attn.o_proj"] = linear(h, q_out)
        t[p + "post_attention_layernorm"] = norm(h)
        t[p + "mlp.gate_proj"] = linear(inter, h)
        t[p + "mlp.up_proj"] = linear(inter, h)
        t[p + "mlp.down_proj"] = linear(h, inter)
        if config.arch == "bitnet-b1.58":
            t[p + "attn_sub_norm"] = norm(h)
            t[p + "ffn_sub_norm"] = norm(inter)
    t["norm"] = norm(h)
    if not config.tie_word_embeddings:
        t["lm_head"] = (2.0 * dense(config.vocab_size, h)).astype(dt)
    elif config.vocab_size:
        # A tied head reads the embeddings: unit-variance rows would give logits ~ N(0, h),
        # a one-hot softmax. Rows of norm ~2 give logits of std ~2, like the untied head.
        t["embed_tokens"] = (t["embed_tokens"].astype(np.float32) * (2.0 / np.sqrt(h))).astype(dt)

    if tokenizer is None:
        tokenizer = (
            tiny_tokenizer_spec(config.vocab_size)
            if config.vocab_size == TINY_VOCAB
            else TokenizerSpec(bos_token_id=config.bos_token_id)
        )
    types = {n: ("ternary" if isinstance(v, TernaryTensor) else v.dtype.name) for n, v in t.items()}
    return ModelWeights(
        config=config, tensors=t, tokenizer=tokenizer, format="memory", tensor_types=types
    )
