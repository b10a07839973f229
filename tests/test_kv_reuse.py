"""Chat turns without re-prefill: the KV-reuse path against a full re-prefill."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.cli import main
from bitnet_studio.engine.generate import generate_all
from bitnet_studio.engine.native_backend import NativeBackend
from bitnet_studio.engine.sampling import SamplingParams
from bitnet_studio.formats import write_gguf
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.tokenizer import Tokenizer
from tests.tiny_models import make_model

GREEDY = SamplingParams(greedy=True, max_tokens=6)


@pytest.mark.parametrize("arch", ["bitnet-b1.58", "llama"])
def test_three_turns_reuse_gives_the_tokens_of_a_full_prefill(arch: str) -> None:
    model = make_model(arch, seed=3)
    tok = Tokenizer.from_spec(model.tokenizer)
    kept = NativeBackend(weight_dtype="f32").load(model, threads=1)
    fresh = NativeBackend(weight_dtype="f32").load(model, threads=1)
    rng = np.random.default_rng(0)
    prompt: list[int] = [int(t) for t in rng.integers(2, 200, size=9)]
    for turn in range(3):
        a = generate_all(kept, tok, prompt, GREEDY, reuse=True)
        b = generate_all(fresh, tok, prompt, GREEDY)  # reset + the whole prompt
        assert a.ids == b.ids, f"turn {turn}"
        if turn > 0:  # everything but the new message came from the cache
            assert a.reused_tokens >= len(prompt) - 8
        assert kept.tokens == (prompt + a.ids)[: kept.n_past]
        # the next turn: the answer, an end-of-turn token, a new message
        prompt = prompt + a.ids + [1] + [int(t) for t in rng.integers(2, 200, size=5)]
    kept.close()
    fresh.close()


def test_a_rewritten_history_falls_back_to_the_common_prefix() -> None:
    model = make_model("bitnet-b1.58", seed=4)
    tok = Tokenizer.from_spec(model.tokenizer)
    s = NativeBackend().load(model, threads=1)
    first = [5, 6, 7, 8, 9, 10, 11]
    generate_all(s, tok, first, GREEDY, reuse=True)
    changed = [5, 6, 70, 8, 9, 10, 11, 12]  # the template re-rendered turn 1 differently
    a = generate_all(s, tok, changed, GREEDY, reuse=True)
    assert a.reused_tokens == 2
    b = generate_all(NativeBackend().load(model, threads=1), tok, changed, GREEDY)
    assert a.ids == b.ids
    again = generate_all(s, tok, changed, GREEDY, reuse=True)  # regenerate: same prompt
    assert again.reused_tokens == len(changed) - 1 and again.ids == a.ids


def test_an_aborted_prefill_keeps_history_in_step_with_the_cache() -> None:
    model = make_model("bitnet-b1.58", seed=5)
    s = NativeBackend(chunk=4).load(model, threads=1)
    s.prefill([3, 4, 5, 6, 7, 8])
    assert s.tokens == [3, 4, 5, 6, 7, 8]
    s.truncate(2)
    assert s.tokens == [3, 4] and s.n_past == 2
    s.decode(9)
    assert s.tokens == [3, 4, 9]
    s.reset()
    assert s.tokens == [] and s.n_past == 0


def test_chat_command_prefills_only_the_new_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "tiny.gguf"
    write_gguf(random_model(tiny_config("llama"), seed=2), path, "f16")
    monkeypatch.setattr("sys.stdin", io.StringIO("hello there\nand again\n/quit\n"))
    argv = ["chat", "--model", str(path), "--greedy", "--max-tokens", "3"]
    assert main(argv) == 0
    stats = re.findall(r"prefilled (\d+) of (\d+) prompt tokens", capsys.readouterr().err)
    assert len(stats) == 2
    (new1, total1), (new2, total2) = [(int(a), int(b)) for a, b in stats]
    assert new1 == total1  # the first turn has nothing cached
    assert new2 < total2 - total1 // 2  # the second reuses turn 1 from the cache


@pytest.mark.parametrize("flags", [["--kv-f16"], ["--head", "q4"], ["--head", "i8", "--kv-f16"]])
def test_generate_takes_the_native_options(
    tmp_path: Path, capsys: pytest.CaptureFixture, flags: list[str]
) -> None:
    path = tmp_path / "tiny.gguf"
    write_gguf(random_model(tiny_config("llama"), seed=2), path, "f16")
    argv = ["generate", "--model", str(path), "--prompt", "hi", "--greedy", "--max-tokens", "3"]
    assert main(argv + flags) == 0
    assert "decode" in capsys.readouterr().out


def test_native_options_on_another_backend_are_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "tiny.gguf"
    write_gguf(random_model(tiny_config("llama"), seed=2), path, "f16")
    argv = ["generate", "--model", str(path), "--prompt", "hi", "--backend", "torch", "--kv-f16"]
    assert main(argv) == 2
    assert "error: --kv-f16: only the native backend" in capsys.readouterr().err
