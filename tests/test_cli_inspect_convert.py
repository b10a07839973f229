"""``bitnet-studio inspect`` and ``convert``, end to end on tiny models written on the fly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bitnet_studio.cli import main
from bitnet_studio.formats import load_model, write_gguf
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import TernaryTensor

# Rows of 256: the width llama.cpp's ternary types need.
WIDE = dict(hidden_size=256, intermediate_size=512, n_heads=4, n_kv_heads=2, head_dim=64)


@pytest.fixture(scope="module")
def f16_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conv") / "wide-llama.gguf"
    write_gguf(random_model(tiny_config("llama", **WIDE), seed=5), path, "f16")
    return path


def test_inspect_json_and_table(
    f16_gguf: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "s.json"
    assert main(["inspect", "--model", str(f16_gguf), "--json", str(out), "--tensors"]) == 0
    text = capsys.readouterr().out
    assert "architecture: llama" in text and "mlp" in text and "layers.0.mlp.up_proj" in text
    s = json.loads(out.read_text())
    assert s["parameters"] == sum(int(v["params"]) for v in s["by_kind"].values())
    assert s["by_kind"]["mlp"]["bits_per_weight"] == pytest.approx(16.0)
    assert s["ternary_linear_layers"] == 0 and s["linear_layers"] == 2 * 7


@pytest.mark.parametrize("target, stored", [("gguf-tq2_0", "TQ2_0"), ("gguf-tq1_0", "TQ1_0")])
def test_convert_to_ternary_then_inspect(
    f16_gguf: Path, tmp_path: Path, target: str, stored: str, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / f"m-{target}.gguf"
    assert main(["convert", str(f16_gguf), str(out), "--to", target]) == 0
    assert f"x {stored}" in capsys.readouterr().out
    m = load_model(out)
    linears = [t for n, t in m.tensors.items() if n.endswith("_proj")]
    assert linears and all(isinstance(t, TernaryTensor) for t in linears)
    main(["inspect", "--model", str(out), "--json", str(tmp_path / "t.json")])
    s = json.loads((tmp_path / "t.json").read_text())
    assert s["ternary_linear_layers"] == s["linear_layers"]
    assert s["by_kind"]["mlp"]["bits_per_weight"] < 2.1


def test_tq2_0_file_same_greedy_tokens_in_llamacpp_and_native(
    f16_gguf: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "m.gguf"
    main(["convert", str(f16_gguf), str(out), "--to", "gguf-tq2_0"])
    ids = {}
    for backend in ("llamacpp", "native"):
        main(
            [
                "generate",
                "--model",
                str(out),
                "--backend",
                backend,
                "--prompt",
                "the cat",
                "--raw",
                "--greedy",
                "--max-tokens",
                "16",
                "--json",
            ]
        )
        lines = capsys.readouterr().out.strip().splitlines()
        ids[backend] = json.loads(lines[-1])["ids"]
    assert ids["llamacpp"] == ids["native"]


def test_convert_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "nope.gguf"
    assert main(["convert", str(missing), str(tmp_path / "o.gguf"), "--to", "gguf-f16"]) == 2
    assert capsys.readouterr().err.startswith(f"error: {missing}: ")


def test_convert_default_to_tq2_0_prints_one_summary_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """SmolLM2's rows of 576 are not whole TQ2_0 blocks: one line says how many linears
    became ternary and why the rest did not (it used to be 180 "note:" lines)."""
    out = tmp_path / "smol-tq2.gguf"
    assert main(["convert", "default-vanilla", str(out), "--to", "gguf-tq2_0"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    notes = [line for line in lines if line.startswith("note:")]
    assert len(lines) == 2 and len(notes) == 1, lines
    assert notes[0].startswith("note: 30 of 210 linears stored ternary as TQ2_0")
    assert "180 left F16 because TQ2_0 needs rows of whole 256-weight blocks" in notes[0]
    assert "(180 with rows of 576)" in notes[0]
