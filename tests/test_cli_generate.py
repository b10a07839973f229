"""``bitnet-studio generate``: the flags and outputs other scripts rely on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.cli import main
from bitnet_studio.formats import write_gguf
from bitnet_studio.models.random_model import random_model, tiny_config


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gen") / "tiny-llama.gguf"
    write_gguf(random_model(tiny_config("llama"), seed=3), path, "f16")
    return path


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize("backend", ["torch", "native", "llamacpp"])
def test_json_stream_contract(tiny_gguf: Path, backend: str, capsys: pytest.CaptureFixture) -> None:
    argv = [
        "generate",
        "--model",
        str(tiny_gguf),
        "--backend",
        backend,
        "--prompt",
        "hello",
        "--raw",
        "--greedy",
        "--max-tokens",
        "6",
        "--threads",
        "1",
        "--json",
    ]
    assert main(argv) == 0
    events = _json_lines(capsys.readouterr().out)
    tokens, done = events[:-1], events[-1]
    assert done["event"] == "done"
    assert set(done) == {
        "event",
        "prompt_ids",
        "ids",
        "ttft_ms",
        "prefill_tps",
        "decode_tps",
        "rss_mb",
    }
    assert all(e["event"] == "token" and isinstance(e["id"], int) for e in tokens)
    assert [e["id"] for e in tokens] == done["ids"][: len(tokens)]
    assert 1 <= len(done["ids"]) <= 6 and done["rss_mb"] > 0


def test_greedy_tokens_agree_across_backends(
    tiny_gguf: Path, capsys: pytest.CaptureFixture
) -> None:
    ids = {}
    for backend in ("torch", "native", "llamacpp"):
        main(
            [
                "generate",
                "--model",
                str(tiny_gguf),
                "--backend",
                backend,
                "--prompt",
                "abc",
                "--raw",
                "--greedy",
                "--max-tokens",
                "16",
                "--json",
            ]
        )
        ids[backend] = _json_lines(capsys.readouterr().out)[-1]["ids"]
    assert len(ids["torch"]) == 16  # no early EOS: all 16 greedy steps are compared
    assert ids["torch"] == ids["native"] == ids["llamacpp"]


def test_dump_logits_rows_are_the_choices(
    tiny_gguf: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    dump = tmp_path / "logits.npy"
    main(
        [
            "generate",
            "--model",
            str(tiny_gguf),
            "--backend",
            "torch",
            "--prompt",
            "hi",
            "--raw",
            "--greedy",
            "--max-tokens",
            "5",
            "--json",
            "--dump-logits",
            str(dump),
        ]
    )
    done = _json_lines(capsys.readouterr().out)[-1]
    logits = np.load(dump)
    assert logits.dtype == np.float32 and logits.shape[0] == len(done["ids"])
    assert logits.argmax(axis=1).tolist() == done["ids"]


def test_plain_output_ends_with_metrics(tiny_gguf: Path, capsys: pytest.CaptureFixture) -> None:
    main(
        [
            "generate",
            "--model",
            str(tiny_gguf),
            "--backend",
            "native",
            "--prompt",
            "hi",
            "--max-tokens",
            "4",
            "--seed",
            "1",
        ]
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "TTFT" in last and "decode" in last and "tok/s" in last


@pytest.mark.parametrize(
    "args, where",
    [
        (["--model", "/nonexistent/model.gguf"], "/nonexistent/model.gguf"),
        (["--model", "default-nothing"], "default-nothing"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    args: list[str], where: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(["generate", *args, "--prompt", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {where}: ")


def test_corrupt_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 9)
    assert main(["generate", "--model", str(bad), "--prompt", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}: ")
