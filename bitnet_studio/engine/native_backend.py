"""The native backend: the whole forward pass in C++ (kernels/runtime*.cpp), one call per token.

Weights are handed to C++ in its own layout and used in place: fp16 arrays (a memory-mapped
fp16 file included) are not copied, float32 tensors are converted to fp16 once, ternary
tensors are packed to the I2 layout once. The KV cache is float32 by default so that ternary
models match the float32 reference to rounding; ``kv_f16`` halves it. The output head can be
stored apart as int8 rows or 4-bit blocks (:mod:`bitnet_studio.engine.head_quant`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from bitnet_studio import _kernels as _k
from bitnet_studio import kernels
from bitnet_studio.engine.head_quant import quantize_i8_rows, quantize_q4
from bitnet_studio.engine.residency import release_file_pages
from bitnet_studio.engine.weight_arena import TernaryArena
from bitnet_studio.errors import StudioError
from bitnet_studio.models.config import ModelConfig
from bitnet_studio.models.weights import BinaryTensor, ModelWeights, TernaryTensor
from bitnet_studio.quant.absmean import ternarize

FloatKind = Literal["f16", "f32"]
HeadKind = Literal["f16", "f32", "i8", "q4"]
HEAD_KINDS = ("f16", "f32", "i8", "q4")

Aborted = _k.Aborted  # raised by prefill/decode after NativeSession.abort()


class ContextOverflowError(StudioError, ValueError):
    """The KV cache cannot hold the new tokens (a StudioError, like the torch backend's)."""


_LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj")
_MLP = ("mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
_VECTORS = (
    "input_layernorm",
    "post_attention_layernorm",
    "attn_sub_norm",
    "ffn_sub_norm",
    "self_attn.q_bias",
    "self_attn.k_bias",
    "self_attn.v_bias",
    "self_attn.q_norm",
    "self_attn.k_norm",
)


def rope_inv_freq(config: ModelConfig) -> np.ndarray:
    """RoPE inverse frequencies in float32, with Llama-3 scaling when the config asks for it.

    Computed the way Hugging Face does (float32 throughout) so that angles match the reference.
    """
    dim = config.head_dim
    exponents = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
    # theta ** e correctly rounded to float32 (float64 pow), then a float32 reciprocal: this
    # reproduces torch's float32 pow bit for bit where numpy's float32 pow is off by an ulp.
    power = np.power(np.float64(config.rope_theta), exponents.astype(np.float64)).astype(np.float32)
    inv = (np.float32(1.0) / power).astype(np.float32)
    rs = config.rope_scaling
    if not rs or rs.get("rope_type", rs.get("type")) != "llama3":
        return inv
    factor = float(rs["factor"])
    low, high = float(rs["low_freq_factor"]), float(rs["high_freq_factor"])
    old_ctx = float(rs["original_max_position_embeddings"])
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    wavelen = np.float32(2 * math.pi) / inv
    scaled = np.where(wavelen > low_wavelen, inv / np.float32(factor), inv).astype(np.float32)
    smooth = ((old_ctx / wavelen - low) / (high - low)).astype(np.float32)
    smoothed = (1 - smooth) * scaled / np.float32(factor) + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, scaled).astype(np.float32)


def _float_matrix(t: Any, kind: FloatKind) -> tuple[str, np.ndarray, None, int]:
    a = t.dequantize() if isinstance(t, TernaryTensor) else t
    if kind == "f16":
        # No copy when the tensor already is contiguous fp16 (e.g. a memory-mapped file).
        arr = np.ascontiguousarray(a, dtype=np.float16).view(np.uint16)
    else:
        arr = np.ascontiguousarray(a, dtype=np.float32)
    return kind, arr, None, int(arr.shape[1])


def _head_matrix(t: Any, kind: str) -> tuple[str, np.ndarray, np.ndarray, int]:
    """int8 rows ("i8", like a Q8_0 head with one scale per row) or 4-bit blocks ("q4")."""
    if kind == "q4":
        packed, scales = quantize_q4(t)
        return "q4", packed, scales, int(t.shape[1])
    q, scale = quantize_i8_rows(t)
    return "i8", q, scale, int(t.shape[1])


def _ternary_matrix(
    t: TernaryTensor, layout: str, arena: TernaryArena
) -> tuple[str, np.ndarray, np.ndarray, int]:
    codes = np.ascontiguousarray(t.codes, dtype=np.int8)  # unpacks a packed tensor: once
    p = kernels.pack_ternary(codes, t.scale, layout, out=arena.take(*codes.shape))
    return layout, p.data, p.scale, p.cols


def _packs_ternary(t: Any, ternary_arch: bool) -> bool:
    """Whether :meth:`NativeBackend._linear` packs this tensor to a ternary layout."""
    return isinstance(t, TernaryTensor) or (ternary_arch and not isinstance(t, BinaryTensor))


def _binary_matrix(t: BinaryTensor) -> tuple[str, np.ndarray, np.ndarray, int]:
    """Packed 1-bit signs. Per-block scales that are one value throughout (a per-tensor
    beta stored in every Q1_0 block) become one scale: the exact int32 path."""
    scale = np.asarray(t.scale, dtype=np.float32)
    if scale.size > 1 and np.all(scale == scale.flat[0]):
        scale = scale.reshape(-1)[:1]
    p = kernels.pack_binary(np.ascontiguousarray(t.signs, dtype=np.int8), scale)
    return "q1", p.data, p.scale.reshape(-1), p.cols


class NativeSession:
    """A model loaded into the native runtime, with its own float32 KV cache."""

    def __init__(self, config: ModelConfig, model: Any, threads: int, source: Any = None) -> None:
        self.config = config
        self._model = model
        self.threads = threads
        self.source = source
        self._tokens: list[int] = []  # what the KV cache holds, in order

    def _room(self, n: int) -> None:
        m = self._live()
        if m.n_past + n > m.n_ctx:
            raise ContextOverflowError(
                self.source,
                f"context overflow: {m.n_past} cached + {n} new tokens exceed the context of "
                f"{m.n_ctx} (raise n_ctx, or reset)",
            )

    def _live(self) -> Any:
        if self._model is None:
            raise RuntimeError("this native session is closed")
        return self._model

    def prefill(self, tokens: Sequence[int] | np.ndarray, *, all_logits: bool = True) -> np.ndarray:
        """Appends tokens; returns float32 logits (len(tokens), vocab), or (1, vocab) for the
        last token only when ``all_logits`` is False (much cheaper for long prompts)."""
        tok = np.asarray(tokens)
        if tok.ndim != 1 or tok.size == 0:
            raise ValueError("prefill needs a non-empty 1-D sequence of token ids")
        if not np.issubdtype(tok.dtype, np.integer):
            raise ValueError(f"token ids must be integers, got {tok.dtype}")
        vocab = self.config.vocab_size
        if int(tok.min()) < 0 or int(tok.max()) >= vocab:
            bad = int(tok.min()) if int(tok.min()) < 0 else int(tok.max())
            raise ValueError(f"token id {bad} is outside the vocabulary (size {vocab})")
        self._room(int(tok.size))
        tok32 = np.ascontiguousarray(tok, dtype=np.int32)
        out = np.empty((tok32.size if all_logits else 1, vocab), dtype=np.float32)
        m = self._live()
        try:
            m.prefill(tok32, all_logits, out)
        finally:  # an abort keeps the completed chunks: keep the history in step
            self._tokens.extend(int(t) for t in tok32)
            del self._tokens[int(m.n_past) :]
        return out

    def decode(self, token: int, out: np.ndarray | None = None) -> np.ndarray:
        """Appends one token; returns its float32 logits (vocab,), written into ``out`` if given."""
        t = int(token)
        self._room(1)
        if out is None:
            out = np.empty(self.config.vocab_size, dtype=np.float32)
        m = self._live()
        try:
            return m.decode(t, out)
        finally:
            if int(m.n_past) > len(self._tokens):
                self._tokens.append(t)

    def reset(self) -> None:
        self._live().reset()
        self._tokens.clear()

    def truncate(self, n: int) -> None:
        """Keeps the first n tokens of the context (n <= n_past)."""
        self._live().truncate(int(n))
        del self._tokens[int(n) :]

    @property
    def tokens(self) -> list[int]:
        """The token ids the KV cache holds (a copy), oldest first."""
        return list(self._tokens)

    def abort(self) -> None:
        """Stops a running prefill/decode (from another thread) at the next layer boundary;
        the call raises :data:`Aborted` and the cache keeps every completed chunk."""
        if self._model is not None:
            self._model.abort()

    @property
    def n_past(self) -> int:
        return int(self._live().n_past)

    @property
    def n_ctx(self) -> int:
        return int(self._live().n_ctx)

    def memory(self) -> dict[str, int]:
        return {k: int(v) for k, v in self._live().memory().items()}

    def close(self) -> None:
        self._model = None


class NativeBackend:
    """Loads a :class:`ModelWeights` into the C++ runtime.

    ``weight_dtype``: storage of float linears, embeddings and head ("f16" or "f32");
    ``head_dtype``: override for the output head ("i8" = int8 per row, "q4" = 4-bit blocks of
    32 with fp16 scales; both with activations int8 per token); ``n_ctx``: KV cache capacity
    (default: min(max_position, 4096)); ``chunk``: prefill tokens per batched pass;
    ``layout``: ternary layout ("i2" or "b3"); ``kv_f16``: store the KV cache in fp16.
    """

    name = "native"

    def __init__(
        self,
        weight_dtype: FloatKind = "f16",
        head_dtype: HeadKind | None = None,
        n_ctx: int | None = None,
        chunk: int = 64,
        layout: str = "i2",
        kv_f16: bool = False,
    ) -> None:
        if weight_dtype not in ("f16", "f32"):
            raise ValueError(f"weight_dtype must be 'f16' or 'f32', got {weight_dtype!r}")
        if head_dtype is not None and head_dtype not in HEAD_KINDS:
            raise ValueError(f"head_dtype must be one of {HEAD_KINDS}, got {head_dtype!r}")
        if layout not in kernels.LAYOUTS:
            raise ValueError(f"layout must be one of {kernels.LAYOUTS}, got {layout!r}")
        if chunk < 1:
            raise ValueError("chunk must be positive")
        self.weight_dtype: FloatKind = weight_dtype
        self.head_dtype: HeadKind = head_dtype or weight_dtype
        self.n_ctx = n_ctx
        self.chunk = chunk
        self.layout = layout
        self.kv_f16 = bool(kv_f16)

    def _linear(
        self, t: Any, ternary_arch: bool, arena: TernaryArena
    ) -> tuple[str, np.ndarray, Any, int]:
        if isinstance(t, BinaryTensor):
            return _binary_matrix(t)
        if not _packs_ternary(t, ternary_arch):
            return _float_matrix(t, self.weight_dtype)
        if not isinstance(t, TernaryTensor):  # latent float weights of a b1.58 model
            codes, gamma = ternarize(np.asarray(t, dtype=np.float32))
            t = TernaryTensor(codes, np.array([gamma], np.float32), "absmean-on-load")
        return _ternary_matrix(t, self.layout, arena)

    def load(self, model: ModelWeights, threads: int | None = None) -> NativeSession:
        cfg = model.config
        cfg.validate()
        if not hasattr(kernels, "pack_binary") and any(
            isinstance(v, BinaryTensor) for v in model.tensors.values()
        ):  # until the 1-bit kernels are built in: a clear error, not a TypeError
            raise StudioError(
                model.source,
                "this build's native runtime has no 1-bit (Q1_0) kernels: use --backend torch",
            )
        if threads is not None:
            kernels.set_threads(int(threads))
        n_ctx = int(self.n_ctx or min(cfg.max_position, 4096))
        if n_ctx < 1:
            raise ValueError("n_ctx must be positive")
        t = model.tensors
        for name in ("embed_tokens", "norm"):
            if name not in t:
                raise ValueError(f"model has no '{name}' tensor")
        w: dict[str, Any] = {}
        w["embed_tokens"] = _float_matrix(t["embed_tokens"], self.weight_dtype)
        head_src = None if cfg.tie_word_embeddings else t.get("lm_head")
        if head_src is None and not cfg.tie_word_embeddings:
            raise ValueError("model has no 'lm_head' and does not tie it to the embeddings")
        if self.head_dtype in ("i8", "q4"):
            src = t["embed_tokens"] if head_src is None else head_src
            w["lm_head"] = _head_matrix(src, self.head_dtype)
            # the table was read once to quantize it; from now on only rows are looked up
            release_file_pages(src)
        elif head_src is not None or self.head_dtype != self.weight_dtype:
            src = t["embed_tokens"] if head_src is None else head_src
            w["lm_head"] = _float_matrix(src, self.head_dtype)  # type: ignore[arg-type]
        # else: tied, and the head shares the embedding array (no second copy)
        w["norm"] = np.ascontiguousarray(t["norm"], dtype=np.float32).reshape(-1)
        names = [f"layers.{i}.{n}" for i in range(cfg.n_layers) for n in _LINEARS + _MLP]
        for name in names:
            if name not in t:
                raise ValueError(f"model has no '{name}' tensor")
        # every packed ternary matrix in one huge-page buffer, in the order decode reads them
        arena = TernaryArena(
            [tuple(t[n].shape) for n in names if _packs_ternary(t[n], cfg.is_ternary_arch)],
            self.layout,
        )
        for i in range(cfg.n_layers):
            p = f"layers.{i}."
            for name in _LINEARS + _MLP:
                w[p + name] = self._linear(t[p + name], cfg.is_ternary_arch, arena)
            for name in _VECTORS:
                if p + name in t:
                    w[p + name] = np.ascontiguousarray(t[p + name], dtype=np.float32).reshape(-1)
        native_cfg = {
            "arch": cfg.arch,
            "hidden_act": cfg.hidden_act,
            "vocab_size": cfg.vocab_size,
            "hidden_size": cfg.hidden_size,
            "intermediate_size": cfg.intermediate_size,
            "n_layers": cfg.n_layers,
            "n_heads": cfg.n_heads,
            "n_kv_heads": cfg.n_kv_heads,
            "head_dim": cfg.head_dim,
            "rms_norm_eps": float(cfg.rms_norm_eps),
            "n_ctx": n_ctx,
            "chunk": int(self.chunk),
            "kv_f16": self.kv_f16,
            "inv_freq": rope_inv_freq(cfg),
        }
        native = _k.NativeModel(native_cfg, w)
        return NativeSession(cfg, native, kernels.get_threads(), model.source)
