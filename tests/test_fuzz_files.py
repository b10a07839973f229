"""Mutation fuzzing of model files: every case ends fine or in ``error: <file>: <what>``, exit 2.

Each case mutates one file (a shipped GGUF, the SmolLM2 GGUF, tiny GGUFs and Hugging Face
folders written here) with a seeded mutation from tests/fuzz_mutations.py -- bit flips,
overwritten integers (counts, offsets, dims, type ids, string lengths), truncation, corrupted
tensor data, corrupted tokenizer metadata -- then runs what a user runs:
``bitnet-studio generate`` (load, tokenizer, chat template, three seeded sampled tokens) on the
native and the torch backends, in process. A Python exception escaping ``main`` is a traceback
a user would see: the test fails and shows it. Tiny files are written in every type the GGUF
writer knows (``WriteType``), so a type added to the writer is fuzzed without editing this.
``BITNET_FUZZ_CASES`` scales the slow run.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import time
import traceback
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np
import psutil
import pytest

from bitnet_studio.cli import main
from bitnet_studio.defaults import smollm2_gguf
from bitnet_studio.formats import write_gguf
from bitnet_studio.formats.gguf_writer import WriteType
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.resources import resource_path
from tests.fuzz_mutations import mutate_gguf, mutate_hf, walk_gguf
from tests.tiny_models import make_model, write_hf_bitnet_packed, write_hf_llama

GGUF_KINDS = ["bitflip", "integer", "truncate", "tensor_data", "tokenizer"]
HF_KINDS = ["bitflip", "integer", "truncate", "tensor_data", "config", "tokenizer"]
BACKENDS = ("native", "torch")
WRITE_TYPES = get_args(WriteType)  # every type our GGUF writer can store


@dataclass
class Outcome:
    target: str
    case: int
    kind: str
    backend: str
    result: str  # "ok", "error", or "traceback"
    detail: str = ""


CASE_SECONDS = 30.0  # a corrupt size that makes us loop or allocate for minutes is a bug too
RSS_LIMIT = 6 << 30


def run_cli(model: Path, backend: str) -> tuple[str, str]:
    """(result, detail) of ``generate`` on ``model``: a traceback is what escapes ``main``;
    a case that runs past CASE_SECONDS or grows the process past RSS_LIMIT counts as one."""
    t0 = time.perf_counter()
    result, detail = _run_cli(model, backend)
    took, rss = time.perf_counter() - t0, psutil.Process().memory_info().rss
    if took > CASE_SECONDS or rss > RSS_LIMIT:
        return "traceback", f"took {took:.0f} s, RSS {rss >> 20} MB ({result}: {detail})"
    return result, detail


def _run_cli(model: Path, backend: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["generate", "--model", str(model), "--backend", backend, "--prompt", "Hello there"]
    argv += ["--max-tokens", "3", "--seed", "1", "--threads", "1"]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except BaseException:  # anything escaping main is the bug we look for
        return "traceback", traceback.format_exc()
    lines = err.getvalue().strip().splitlines()
    if rc == 0:
        return "ok", ""
    last = lines[-1] if lines else ""
    if rc == 2 and last.startswith(f"error: {model}"):
        return "error", last
    return "traceback", f"exit {rc}, stderr does not name {model}: {err.getvalue()[-2000:]}"


def _gguf_target(name: str, src: Path, work: Path, kinds: list[str], seeds: range) -> list:
    data = src.read_bytes()
    layout = walk_gguf(data)
    path = work / src.name
    outcomes = []
    for seed in seeds:
        rng = np.random.default_rng([zlib.crc32(name.encode()), seed])
        kind = kinds[seed % len(kinds)]
        path.write_bytes(mutate_gguf(data, layout, kind, rng))
        for backend in BACKENDS:
            result, detail = run_cli(path, backend)
            outcomes.append(Outcome(name, seed, kind, backend, result, detail))
    return outcomes


def _hf_target(name: str, src: Path, work: Path, seeds: range) -> list:
    outcomes = []
    for seed in seeds:
        rng = np.random.default_rng([zlib.crc32(name.encode()), seed])
        kind = HF_KINDS[seed % len(HF_KINDS)]
        folder = work / name
        if folder.exists():
            shutil.rmtree(folder)
        shutil.copytree(src, folder)
        mutate_hf(folder, kind, rng)
        for backend in BACKENDS:
            result, detail = run_cli(folder, backend)
            outcomes.append(Outcome(name, seed, kind, backend, result, detail))
    return outcomes


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("fuzz-src")
    tiny_f16 = d / "tiny-f16.gguf"
    write_gguf(random_model(tiny_config("llama"), seed=5), tiny_f16, "f16")
    # 256-wide rows: whole blocks of every low-bit type, so the linears really are stored so
    cfg = tiny_config("bitnet-b1.58", hidden_size=256, intermediate_size=512, head_dim=64)
    typed = {}
    for dtype in WRITE_TYPES:
        typed[f"tiny-bitnet-{dtype}"] = d / f"tiny-bitnet-{dtype}.gguf"
        write_gguf(random_model(cfg, seed=6), typed[f"tiny-bitnet-{dtype}"], dtype)
    return {
        "trained-vanilla": resource_path("models", "default-trained-vanilla.gguf"),
        "trained-ternary": resource_path("models", "default-trained-ternary.gguf"),
        "smollm2": smollm2_gguf(),
        "tiny-f16": tiny_f16,
        **typed,
        "hf-llama": write_hf_llama(make_model("llama"), d / "hf-llama", "f16"),
        "hf-bitnet": write_hf_bitnet_packed(
            make_model("bitnet-b1.58"), d / "hf-bitnet", "bitlinear"
        ),
    }


def _check(outcomes: list[Outcome]) -> None:
    tally = Counter((o.target, o.result) for o in outcomes)
    print("fuzz outcomes:", dict(sorted(tally.items())))
    bad = [o for o in outcomes if o.result == "traceback"]
    if bad:
        kinds = Counter((o.target, o.kind) for o in bad)
        first = bad[0]
        pytest.fail(
            f"{len(bad)} of {len(outcomes)} cases ended in a traceback ({dict(kinds)}); first: "
            f"{first.target} case {first.case} ({first.kind}, {first.backend}):\n{first.detail}"
        )


# SmolLM2 is 98 MB of Q4_1: a case that loads dequantizes 135 M weights (seconds), so CI aims
# its few cases at the header and the tokenizer; the slow run corrupts its tensor data too.
SMOLLM2_CI_KINDS = ["integer", "truncate", "tokenizer", "bitflip", "integer", "tokenizer"]


def _run(
    sources: dict[str, Path], work: Path, plan: dict[str, range], smollm2_kinds: list[str]
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for name, seeds in plan.items():
        src = sources[name]
        if name.startswith("hf-"):
            outcomes += _hf_target(name, src, work, seeds)
        else:
            kinds = smollm2_kinds if name == "smollm2" else GGUF_KINDS
            outcomes += _gguf_target(name, src, work, kinds, seeds)
    return outcomes


CI_PLAN = {
    "tiny-f16": range(80),
    **{f"tiny-bitnet-{dtype}": range(30) for dtype in WRITE_TYPES},
    "hf-llama": range(80),
    "hf-bitnet": range(60),
    "trained-vanilla": range(40),
    "trained-ternary": range(40),
    "smollm2": range(8),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow casts of corrupt values
def test_fuzz_model_files(sources: dict[str, Path], tmp_path: Path) -> None:
    """About 400 seeded cases (more as the writer learns types), each on native and torch:
    zero tracebacks."""
    _check(_run(sources, tmp_path, CI_PLAN, SMOLLM2_CI_KINDS))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fuzz_model_files_more(sources: dict[str, Path], tmp_path: Path) -> None:
    """Other seeds, ``BITNET_FUZZ_CASES`` (default 2) times the CI plan, every mutation kind."""
    scale = int(os.environ.get("BITNET_FUZZ_CASES", "2"))
    plan = {name: range(1000, 1000 + scale * len(r)) for name, r in CI_PLAN.items()}
    _check(_run(sources, tmp_path, plan, GGUF_KINDS))
