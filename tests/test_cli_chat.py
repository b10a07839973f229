"""``bitnet-studio chat`` reads turns from stdin and keeps the conversation."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bitnet_studio.cli import main
from bitnet_studio.formats import write_gguf
from bitnet_studio.models.random_model import random_model, tiny_config


def test_chat_two_turns_and_reset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "tiny.gguf"
    write_gguf(random_model(tiny_config("llama"), seed=2), path, "f16")
    monkeypatch.setattr("sys.stdin", io.StringIO("hello\n/reset\nagain\n/quit\nnever read\n"))
    assert (
        main(["chat", "--model", str(path), "--backend", "native", "--greedy", "--max-tokens", "4"])
        == 0
    )
    err = capsys.readouterr().err
    assert err.count(" tok/s, ") == 2  # two answers, each with its metrics line
    assert "(new conversation)" in err
