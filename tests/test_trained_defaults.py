"""The shipped trio: it loads by name, the ternary and the 1-bit twin are packed, each writes
text, and its model card describes the very file that ships."""

from __future__ import annotations

import hashlib
import re

import pytest

from bitnet_studio.engine.generate import DoneEvent, generate
from bitnet_studio.engine.registry import (
    DEFAULT_MODELS,
    TRAINED_BITNET,
    TRAINED_DEFAULTS,
    load_named_model,
    make_backend,
)
from bitnet_studio.engine.sampling import SamplingParams
from bitnet_studio.errors import StudioError
from bitnet_studio.models.tokenizer import Tokenizer
from bitnet_studio.models.weights import BinaryTensor, TernaryTensor
from bitnet_studio.resources import resource_path
from tests.lowbit_fixtures import NATIVE_BINARY_READY

TRIO = (TRAINED_DEFAULTS[0], TRAINED_BITNET.name, TRAINED_DEFAULTS[1])


@pytest.mark.parametrize("name", TRIO)
def test_the_card_describes_the_shipped_file(name: str) -> None:
    gguf = resource_path("models", f"{name}.gguf")
    card = resource_path("models", f"{name}.md").read_text()
    assert name in DEFAULT_MODELS
    assert f"{gguf.stat().st_size:,} bytes" in card
    assert hashlib.sha256(gguf.read_bytes()).hexdigest() in card
    for fact in ("perplexity", "bits per byte", "tokens seen", "bitnet-studio train --variant"):
        assert fact in card, fact
    assert "peak LR" in card and "sweep" in card  # each twin's LR and how it was picked


def test_the_bitnet_twin_is_q1_0_beside_the_ternary_one() -> None:
    bitnet, ternary = (load_named_model(n) for n in (TRAINED_BITNET.name, TRAINED_DEFAULTS[1]))
    assert bitnet.config.arch == ternary.config.arch == "bitnet-b1.58"
    assert [(k, getattr(t, "shape", None)) for k, t in bitnet.tensors.items()] == [
        (k, getattr(t, "shape", None)) for k, t in ternary.tensors.items()
    ]
    linears = [k for k in bitnet.tensors if k.endswith("_proj")]
    assert len(linears) == 42
    for k in linears:
        t = bitnet.tensors[k]
        assert isinstance(t, BinaryTensor) and bitnet.tensor_types[k] == "Q1_0", k
        assert set(map(int, t.signs.ravel()[:4096])) == {-1, 1} and t.scale.size == 1, k
    sizes = [resource_path("models", f"{n}.gguf").stat().st_size for n in TRIO]
    assert sizes[1] < sizes[2] < sizes[0] * 0.5


def test_the_pair_loads_and_only_the_ternary_twin_is_packed() -> None:
    vanilla, ternary = (load_named_model(n) for n in TRAINED_DEFAULTS)
    assert (vanilla.config.arch, ternary.config.arch) == ("llama", "bitnet-b1.58")
    shape = [(k, getattr(t, "shape", None)) for k, t in vanilla.tensors.items()]
    assert shape == [
        (k, getattr(t, "shape", None)) for k, t in ternary.tensors.items() if "sub_norm" not in k
    ]
    linears = [k for k in ternary.tensors if k.endswith("_proj")]
    assert linears and all(isinstance(ternary.tensors[k], TernaryTensor) for k in linears)
    assert not any(isinstance(t, TernaryTensor) for t in vanilla.tensors.values())
    sizes = [resource_path("models", f"{n}.gguf").stat().st_size for n in TRAINED_DEFAULTS]
    assert sizes[1] < sizes[0] * 0.5


@pytest.mark.parametrize("name", TRIO)
def test_each_twin_continues_a_line_in_the_corpus_style(name: str) -> None:
    model = load_named_model(name)
    tok = Tokenizer.from_spec(model.tokenizer)
    ids = tok.encode("ROMEO.\n", add_bos=True)
    # the 1-bit twin runs on torch until the native binary kernels (binkern) are merged
    native = name != TRAINED_BITNET.name or NATIVE_BINARY_READY
    session = make_backend("native" if native else "torch").load(model, threads=1)
    try:
        params = SamplingParams(greedy=True, max_tokens=40, seed=0)
        done = next(e for e in generate(session, tok, ids, params) if isinstance(e, DoneEvent))
    finally:
        session.close()
    words = re.findall(r"[A-Za-z']+", done.text)
    assert len(words) >= 8 and len(set(words)) >= 5, done.text


def test_a_missing_file_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BITNET_STUDIO_RESOURCES", str(tmp_path))
    with pytest.raises(StudioError, match="trained default is missing"):
        load_named_model("default-trained-ternary")
