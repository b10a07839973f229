"""``bitnet-studio train`` and ``evaluate``: the flags and summary lines the issue spells out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bitnet_studio.train.data as data_mod
import bitnet_studio.train.tokenizer as tok_mod
from bitnet_studio.cli import main
from bitnet_studio.train.trainer import Trainer
from tests.train_fixtures import token_data, tokenizer

SUMMARY = re.compile(
    r"held-out (vanilla|b158): perplexity (\d+\.\d+), bits/byte (\d+\.\d+), loss \d+\.\d+ "
    r"\((\d+) tokens\)"
)


@pytest.fixture(autouse=True)
def small_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's own code path, on the fixtures' small tokenizer and token streams."""
    monkeypatch.setattr(tok_mod, "train_tokenizer", lambda _vocab: tokenizer())
    monkeypatch.setattr(data_mod.TokenData, "from_corpus", classmethod(lambda c, t: token_data()))


def test_train_exports_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out, gguf = tmp_path / "run", tmp_path / "b158.gguf"
    argv = ["train", "--variant", "b158", "--recipe", "lab", "--steps", "2", "--out", str(out)]
    assert main([*argv, "--threads", "1", "--export", str(gguf)]) == 0
    stdout, stderr = capsys.readouterr()
    m = SUMMARY.search(stdout)
    assert m and m.group(1) == "b158" and float(m.group(2)) > 1
    assert f"exported {gguf}" in stdout and "arch bitnet-b1.58" in stdout
    assert "2/2" in stderr and gguf.stat().st_size > 0
    assert Trainer.resume(out, token_data()).step == 2

    assert main(argv) == 2  # a run is there: neither --resume nor --fresh
    assert "--resume continues it" in capsys.readouterr().err

    assert main(["train", "--variant", "b158", "--out", str(out), "--resume", "--steps", "3"]) == 0
    assert "from step 2" in capsys.readouterr().err
    assert Trainer.resume(out, token_data()).step == 3

    assert main(["train", "--variant", "vanilla", "--out", str(out), "--resume"]) == 2
    assert "trains b158, not vanilla" in capsys.readouterr().err


def test_resume_without_a_run_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["train", "--variant", "vanilla", "--out", str(tmp_path), "--resume"]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err


def test_evaluate_prints_a_row_per_model(tmp_path: Path, capsys) -> None:
    gguf = tmp_path / "v.gguf"
    argv = ["train", "--variant", "vanilla", "--recipe", "lab", "--steps", "1"]
    assert main([*argv, "--out", str(tmp_path / "r"), "--export", str(gguf), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--models", str(gguf), "--chars", "3000", "--context", "64"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("held-out: 3 works, ")
    row = lines[-1].split()
    assert row[0] == str(gguf) and int(row[1]) > 100
    assert float(row[2]) > 1 and 0 < float(row[3]) < 20


def test_the_command_line_starts_without_torch() -> None:
    """Every command's parser is built at start: none may import torch (or Qt) to do it."""
    import subprocess
    import sys

    code = (
        "import sys; from bitnet_studio.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'PySide6') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from bitnet_studio.commands import train as train_cmd
    from bitnet_studio.train.model import VARIANTS

    assert train_cmd.VARIANTS == VARIANTS


def test_ctrl_c_checkpoints_and_resume_continues(tmp_path: Path) -> None:
    """A real process on the real corpus: SIGINT mid-run -> exit 130 and a checkpoint."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bitnet_studio.cli", "train", "--variant", "b158"]
    cmd += ["--recipe", "lab", "--steps", "100000", "--threads", "1", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # plain progress lines: stderr is not a terminal
        if "from step 0" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest_out, rest_err = proc.communicate(timeout=120)
    assert proc.returncode == 130, rest_err
    assert "stopped at step" in rest_err and "--resume continues" in rest_err
    assert "held-out" not in rest_out  # no evaluation, no export after a stop
    assert (out / "checkpoint.pt").is_file() and (out / "tokenizer.json").is_file()


def test_sweep_prints_the_table_and_the_best_lr(tmp_path: Path, capsys) -> None:
    argv = ["train", "--variant", "bitnet", "--recipe", "lab", "--sweep", "3e-3", "1e-4"]
    assert main([*argv, "--steps", "3", "--out", str(tmp_path), "--dtype", "fp32"]) == 0
    out, err = capsys.readouterr()
    assert "matmuls in fp32 (asked for)" in err
    assert "| bitnet | 0.003 **best** | 3 |" in out or "| bitnet | 0.0001 **best** | 3 |" in out
    assert re.search(r"best peak LR for bitnet: (0\.003|0\.0001)$", out.strip())
    assert (tmp_path / "sweep.jsonl").read_text().count("\n") == 2


def test_sweep_flags_are_checked(tmp_path, capsys) -> None:
    argv = ["train", "--variant", "bitnet", "--sweep", "2e-3", "0", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "error: --sweep: learning rates must be positive" in capsys.readouterr().err
