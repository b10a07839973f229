"""Naive post-training ternarization (PTQ): absmean applied to every linear of a trained
vanilla model. It is what BitNet b1.58 warns against -- quality holds only for models
*trained* ternary -- and the app shows it side by side so a user can watch it break.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bitnet_studio.models.weights import ModelWeights, TernaryTensor
from bitnet_studio.quant.absmean import ternarize

PTQ_SOURCE_TYPE = "ptq-absmean"


def is_linear(name: str) -> bool:
    """Attention and MLP projections; embeddings, norms and the head stay high precision."""
    return name.endswith("_proj")


def ternarize_model(model: ModelWeights) -> ModelWeights:
    """The PTQ twin: same config and tokenizer, every projection ternarized per tensor."""
    tensors = {}
    types = dict(model.tensor_types)
    for name, t in model.tensors.items():
        if is_linear(name) and isinstance(t, np.ndarray):
            codes, gamma = ternarize(t)
            tensors[name] = TernaryTensor(codes, np.array([gamma], np.float32), PTQ_SOURCE_TYPE)
            types[name] = PTQ_SOURCE_TYPE
        else:
            tensors[name] = t
    return replace(model, tensors=tensors, tensor_types=types, format=f"{model.format}+ptq")
