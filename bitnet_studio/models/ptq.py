"""Naive post-training ternarization (PTQ): absmean applied to every linear of a trained
vanilla model. It is what BitNet b1.58 warns against -- quality holds only for models
*trained* ternary -- and the app shows it side by side so a user can watch it break.

Naive binarization is the same experiment with the original BitNet's 1-bit rule (centred
sign, beta = mean|W| per tensor): one value fewer, no zero, and it breaks a model even harder
(the BitNet paper's absmax PTQ to W1A8 reaches perplexity 3.5e23 at 6.7B, Table 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from bitnet_studio.models.weights import BinaryTensor, ModelWeights, Tensor, TernaryTensor
from bitnet_studio.quant.absmean import ternarize
from bitnet_studio.quant.binary import binarize

PTQ_SOURCE_TYPE = "ptq-absmean"
BINARY_PTQ_SOURCE_TYPE = "ptq-sign"


def is_linear(name: str) -> bool:
    """Attention and MLP projections; embeddings, norms and the head stay high precision."""
    return name.endswith("_proj")


def _ptq_twin(
    model: ModelWeights, quantize: Callable[[np.ndarray], Tensor], source_type: str, fmt: str
) -> ModelWeights:
    """Same config and tokenizer, every float projection replaced by ``quantize(W)``."""
    tensors = {}
    types = dict(model.tensor_types)
    for name, t in model.tensors.items():
        if is_linear(name) and isinstance(t, np.ndarray):
            tensors[name] = quantize(t)
            types[name] = source_type
        else:
            tensors[name] = t
    return replace(model, tensors=tensors, tensor_types=types, format=f"{model.format}+{fmt}")


def ternarize_model(model: ModelWeights) -> ModelWeights:
    """The PTQ twin: same config and tokenizer, every projection ternarized per tensor."""

    def q(w: np.ndarray) -> TernaryTensor:
        codes, gamma = ternarize(w)
        return TernaryTensor(codes, np.array([gamma], np.float32), PTQ_SOURCE_TYPE)

    return _ptq_twin(model, q, PTQ_SOURCE_TYPE, "ptq")


def binarize_model(model: ModelWeights) -> ModelWeights:
    """The 1-bit PTQ twin: every float projection binarized per tensor (centred sign)."""

    def q(w: np.ndarray) -> BinaryTensor:
        signs, beta = binarize(w)
        return BinaryTensor(signs, np.array([beta], np.float32), BINARY_PTQ_SOURCE_TYPE)

    return _ptq_twin(model, q, BINARY_PTQ_SOURCE_TYPE, "ptq1")
