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


def test_chat_survives_a_too_long_turn_and_drops_oldest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A message longer than the 256-token context is refused on its own (the chat goes on,
    the next message is answered); a long conversation drops its oldest turns, and says so."""
    path = tmp_path / "tiny.gguf"
    write_gguf(random_model(tiny_config("llama"), seed=2), path, "f16")
    turns = ["fox " * 300, "hello"] + [f"turn {i} about the quick brown fox" for i in range(8)]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(turns) + "\n"))
    argv = ["chat", "--model", str(path), "--backend", "torch", "--greedy", "--max-tokens", "8"]
    assert main([*argv, "--system", "be brief"]) == 0
    err = capsys.readouterr().err
    assert f"error: {path}: the prompt (" in err and "does not fit the 256-token context" in err
    assert err.count(" tok/s, ") == 9  # every other message answered
    assert "oldest turns left out to fit the 256-token context" in err
