"""Weights with NaN/Inf: generation stops with an error naming the step (and, on torch, the
first layer whose output is non-finite); ``inspect`` flags the model; the sampler never sees
non-finite logits (it used to die with an IndexError in ``filter_probs``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.cli import main
from bitnet_studio.engine.generate import generate_all
from bitnet_studio.engine.registry import make_backend
from bitnet_studio.engine.sampling import Sampler, SamplingParams
from bitnet_studio.errors import StudioError
from bitnet_studio.formats import load_model, write_gguf
from bitnet_studio.inspect.summary import summarize
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.tokenizer import Tokenizer


def _poisoned(layer: int = 1):  # type: ignore[no-untyped-def]
    w = random_model(tiny_config("llama", n_layers=3), seed=2)
    name = f"layers.{layer}.mlp.up_proj"
    t = np.array(w.tensors[name], dtype=np.float16)
    t[3, :5] = np.nan
    w.tensors[name] = t
    return w, name


@pytest.mark.parametrize("backend", ["native", "torch"])
def test_generate_names_the_step(backend: str, tmp_path: Path) -> None:
    w, _ = _poisoned(layer=1)
    path = tmp_path / "nan.gguf"
    write_gguf(w, path, "f16")
    model = load_model(path)
    tok = Tokenizer.for_model(model)
    session = make_backend(backend).load(model, threads=1)
    params = SamplingParams(temperature=0.7, seed=0, max_tokens=4)
    with pytest.raises(StudioError, match="not finite at prefill") as info:
        generate_all(session, tok, tok.encode("hello world"), params)
    session.close()
    assert info.value.source == str(path)
    if backend == "torch":
        assert "layer 1's" in info.value.message


def test_sampler_refuses_non_finite_logits() -> None:
    logits = np.zeros(10, np.float32)
    logits[4] = np.nan
    with pytest.raises(StudioError, match="non-finite"):
        Sampler(SamplingParams(temperature=0.7)).sample(logits)


def test_inspect_flags_non_finite_weights(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    w, name = _poisoned(layer=2)
    s = summarize(w)
    assert s["nonfinite_tensors"] == {name: 5}
    t = next(x for x in s["tensors"] if x["name"] == name)
    assert np.isfinite(t["mean"]) and np.isfinite(t["std"])  # moments skip the NaNs
    path = tmp_path / "nan.gguf"
    write_gguf(w, path, "f16")
    assert main(["inspect", "--model", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"warning: 5 non-finite weights (NaN/Inf) in 1 tensors ({name})" in out
    clean = summarize(random_model(tiny_config("llama"), seed=2))
    assert clean["nonfinite_tensors"] == {}


def test_cli_generate_exit_2_on_non_finite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    w, _ = _poisoned()
    path = tmp_path / "nan.gguf"
    write_gguf(w, path, "f16")
    argv = ["generate", "--model", str(path), "--prompt", "hi", "--max-tokens", "3"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {path}: the model's logits are not finite at prefill")
