"""A model folder without a tokenizer, or with a corrupt one: one line naming the folder, exit 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bitnet_studio.cli import main
from bitnet_studio.errors import StudioError
from bitnet_studio.formats import load_model
from bitnet_studio.models.tokenizer import Tokenizer
from tests.tiny_models import make_model, tokenizer_json, write_hf_llama


@pytest.fixture()
def no_tok(tmp_path: Path) -> Path:
    folder = write_hf_llama(make_model("llama"), tmp_path / "notok", "f16")
    (folder / "tokenizer.json").unlink()
    return folder


@pytest.mark.parametrize("command", ["generate", "chat"])
def test_cli_says_no_tokenizer(
    no_tok: Path, command: str, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [command, "--model", str(no_tok), "--backend", "torch"]
    if command == "generate":
        argv += ["--prompt", "hello", "--max-tokens", "2"]
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"error: {no_tok}: no tokenizer (tokenizer.json / tokenizer.model not found)"
    )
    assert not any("Traceback" in line for line in err)


def test_sentencepiece_model_alone_is_named(no_tok: Path) -> None:
    (no_tok / "tokenizer.model").write_bytes(b"\x0a\x02spm")
    with pytest.raises(StudioError, match=r"tokenizer\.model alone is not read") as info:
        Tokenizer.for_model(load_model(no_tok))
    assert info.value.source == str(no_tok)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda tj: tj["model"].update(merges=[["zzq", "qqz"]]),  # merge of unknown tokens
        lambda tj: tj["model"].update(merges=[[1, 2, 3]]),  # PyMerges cannot be extracted
        lambda tj: tj.update(model="BPE"),  # structure of the wrong type
        lambda tj: tj.update(added_tokens=[{"id": 1}]),
    ],
)
def test_corrupt_tokenizer_json_is_a_studio_error(no_tok: Path, corrupt) -> None:  # type: ignore[no-untyped-def]
    tj = json.loads(tokenizer_json())
    corrupt(tj)
    (no_tok / "tokenizer.json").write_text(json.dumps(tj))
    with pytest.raises(StudioError, match="corrupt tokenizer") as info:
        Tokenizer.for_model(load_model(no_tok))
    assert Path(info.value.source or "") in (no_tok, no_tok / "tokenizer.json")
