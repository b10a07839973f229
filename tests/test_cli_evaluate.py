"""``bitnet-studio evaluate`` with the new flags: one table, JSON/CSV with hashes, clear errors."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from bitnet_studio.cli import main
from bitnet_studio.formats.gguf_writer import write_gguf
from tests.tiny_models import make_model


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("ev")
    a, b = d / "a.gguf", d / "b.gguf"
    write_gguf(make_model("llama", seed=1), a, "f16")
    write_gguf(make_model("llama", seed=2), b, "f16")
    text = d / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 8, encoding="utf-8")
    return a, b, text


def test_reference_json_and_csv(files, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    a, b, text = files
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    argv = ["evaluate", "--models", str(a), str(b), "--text", str(text), "--reference", str(a)]
    argv += ["--window", "40", "--stride", "16", "--json", str(out_json), "--csv", str(out_csv)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "window 40 tokens, stride 16" in "\n".join(lines)
    rows = [line.split() for line in lines[-2:]]
    assert [r[0] for r in rows] == [str(a), str(b)]
    assert float(rows[0][2]) > 1 and rows[0][9] == "100.0%"
    doc = json.loads(out_json.read_text())
    assert doc["window"] == 40 and doc["stride"] == 16 and doc["reference"] == str(a)
    assert doc["text"]["sha256"] == hashlib.sha256(text.read_bytes()).hexdigest()
    m0, m1 = doc["models"]
    assert m0["kl_mean"] == 0.0 and m1["kl_mean"] > 0
    assert m1["files_sha256"] == {str(b): hashlib.sha256(b.read_bytes()).hexdigest()}
    assert "ESTIMATE" in doc["energy"]["note"]
    with out_csv.open() as f:
        got = list(csv.DictReader(f))
    assert [r["model"] for r in got] == [str(a), str(b)] and got[1]["window"] == "40"
    assert float(got[1]["perplexity"]) == pytest.approx(m1["perplexity"])


def test_bad_text_and_bad_window_are_clear_errors(files, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    a, _b, _text = files
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 au lait".encode("latin-1"))
    assert main(["evaluate", "--models", str(a), "--text", str(bad)]) == 2
    assert f"error: {bad}: not UTF-8" in capsys.readouterr().err
    assert main(["evaluate", "--models", str(a), "--text", "prose", "--window", "999"]) == 2
    assert "exceeds" in capsys.readouterr().err
    assert main(["evaluate", "--models", str(a), "--window", "8", "--stride", "8"]) == 2
    assert "stride" in capsys.readouterr().err
