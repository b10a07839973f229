"""The in-memory model every format reader produces and every backend consumes.

Tensor names are canonical (Hugging Face Llama style, without the ``model.`` prefix):
``embed_tokens``, ``norm``, ``lm_head`` (absent when tied), and per layer ``layers.{i}.``
``input_layernorm``, ``self_attn.{q,k,v,o}_proj``, ``self_attn.{q,k,v}_bias`` (optional),
``post_attention_layernorm``, ``mlp.{gate,up,down}_proj``, and for bitnet-b1.58
``attn_sub_norm`` and ``ffn_sub_norm`` (layer level; Hugging Face keeps them under
``self_attn.`` and ``mlp.``, and readers map them here).
Linear weights are (out_features, in_features).
Q/K projections are in the Hugging Face rotate-half RoPE convention (GGUF readers undo
llama.cpp's permutation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bitnet_studio.models.config import ModelConfig


class TernaryTensor:
    """A ternary linear weight: W = codes * scale (scale per tensor (1,) or per row (out,)).

    The int8 codes are either held (``TernaryTensor(codes, scale)``) or, for a tensor read
    from a file, unpacked on each access from the packed bytes where the file keeps them
    (``unpack=``): a 2-bit model then costs its packed size, not 8 bits a weight, and a
    backend that repacks (native) never keeps the int8 form. Callers that use ``codes``
    repeatedly should keep the array they got.
    """

    def __init__(
        self,
        codes: np.ndarray | None = None,
        scale: np.ndarray | None = None,
        source_type: str = "ternary",  # e.g. "TQ2_0", "I2_S", "hf-packed", "ptq-absmean"
        *,
        unpack: Callable[[], np.ndarray] | None = None,
        shape: tuple[int, int] | None = None,
    ) -> None:
        if codes is None and (unpack is None or shape is None):
            raise ValueError("a TernaryTensor needs its codes, or an unpack function and a shape")
        if scale is None:
            raise ValueError("a TernaryTensor needs a scale")
        self._codes = codes
        self._unpack = unpack
        self._shape = (int(shape[0]), int(shape[1])) if codes is None else None  # type: ignore[index]
        self.scale = scale
        self.source_type = source_type

    @property
    def codes(self) -> np.ndarray:
        """int8 (out, in), values in {-1, 0, 1} (unpacked now if the tensor is packed)."""
        if self._codes is not None:
            return self._codes
        assert self._unpack is not None
        return self._unpack()

    @codes.setter
    def codes(self, value: np.ndarray) -> None:
        self._codes, self._unpack, self._shape = value, None, None

    @property
    def is_packed(self) -> bool:
        """True when the int8 codes are not held (unpacked on access)."""
        return self._codes is None

    @property
    def shape(self) -> tuple[int, int]:
        if self._codes is not None:
            return (int(self._codes.shape[0]), int(self._codes.shape[1]))
        assert self._shape is not None
        return self._shape

    @property
    def packed_nbytes(self) -> int:
        """Bytes at 2 bits a weight (what the tensor costs packed), scales included."""
        return self.shape[0] * self.shape[1] // 4 + int(self.scale.nbytes)

    def dequantize(self) -> np.ndarray:
        s = self.scale.reshape(-1, 1) if self.scale.size > 1 else self.scale.reshape(())
        return self.codes.astype(np.float32) * s

    def __repr__(self) -> str:
        held = "packed" if self.is_packed else "codes"
        return f"TernaryTensor({self.shape}, {held}, scale {self.scale.shape}, {self.source_type})"


@dataclass
class BinaryTensor:
    """A 1-bit linear weight (original BitNet, GGUF Q1_0): W = signs * scale.

    ``scale`` is per tensor (1,) -- BitNet's beta = mean|W| -- or per 128-column block
    (out, ceil(in / 128)) as in a Q1_0 file quantized block by block (PrismML Bonsai).
    """

    signs: np.ndarray  # int8 (out, in), values in {-1, +1}
    scale: np.ndarray  # float32 (1,) or (out, ceil(in / 128))
    source_type: str = "binary"  # e.g. "Q1_0", "ptq-sign"

    BLOCK = 128

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.signs.shape[0]), int(self.signs.shape[1]))

    def dequantize(self) -> np.ndarray:
        s = self.signs.astype(np.float32)
        if self.scale.size == 1:
            return s * self.scale.reshape(())
        per_col = np.repeat(self.scale.astype(np.float32), self.BLOCK, axis=1)
        return s * per_col[:, : s.shape[1]]


Tensor = np.ndarray | TernaryTensor | BinaryTensor


@dataclass
class TokenizerSpec:
    """Enough to build a ``tokenizers.Tokenizer`` and render prompts."""

    tokenizer_json: str | None = None  # a serialized tokenizers.Tokenizer
    gguf_vocab: dict[str, Any] | None = None  # tokenizer.ggml.* metadata when built from GGUF
    chat_template: str | None = None
    bos_token_id: int | None = None
    eos_token_ids: list[int] = field(default_factory=list)
    add_bos: bool = False
    special_tokens: dict[str, str] = field(default_factory=dict)  # role -> text (bos, eos, ...)


@dataclass
class ModelWeights:
    config: ModelConfig
    tensors: dict[str, Tensor]
    tokenizer: TokenizerSpec
    source: Path | None = None
    format: str = "memory"  # "gguf", "hf-safetensors", "memory", ...
    tensor_types: dict[str, str] = field(
        default_factory=dict
    )  # name -> stored type (F16, Q4_1, ...)
    notes: list[str] = field(default_factory=list)  # what a reader converted, assumed or skipped

    def linear_names(self) -> list[str]:
        return [n for n, t in self.tensors.items() if n.endswith("_proj") or n == "lm_head"]

    def nbytes_by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for name, t in self.tensors.items():
            kind = (
                "embeddings"
                if name == "embed_tokens"
                else "head"
                if name == "lm_head"
                else "norms"
                if name.endswith("norm")
                else "attention"
                if ".self_attn." in name
                else "mlp"
                if ".mlp." in name
                else "norms"
            )
            if isinstance(t, TernaryTensor):
                n = t.packed_nbytes
            elif isinstance(t, BinaryTensor):
                n = t.signs.nbytes // 8 + t.scale.nbytes
            else:
                n = t.nbytes
            out[kind] = out.get(kind, 0) + int(n)
        return out
