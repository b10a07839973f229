"""``bitnet-studio bench e2e``: the contract records, the table, cancel (tiny models only)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.bench.e2e_models import MODELS, config_tiny, random_weights
from bitnet_studio.bench.e2e_run import CASES, quick_config, run_e2e_bench
from bitnet_studio.bench.timing import BenchCancelled
from bitnet_studio.cli import main
from bitnet_studio.models.weights import TernaryTensor

CONTRACT = {
    "model": str,
    "backend": str,
    "weights": str,
    "threads": int,
    "prompt_tokens": int,
    "new_tokens": int,
    "ttft_ms": float,
    "prefill_tps": float,
    "decode_tps": float,
    "rss_mb": float,
    "weight_mb": float,
}
EXTRA = {
    "case": str,
    "embedding_type": str,
    "head_type": str,
    "bytes_per_token": int,
    "effective_gbps": float,
    "dram_gbps": float,
    "bandwidth_share": float,
    "bound_tps": float,
    "sampler_ms": float,
    "decode_tps_net": float,
    "load_s": float,
    "notes": list,
}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], str]:
    tmp = tmp_path_factory.mktemp("e2e")
    out = tmp / "e2e.json"
    mp = pytest.MonkeyPatch()
    lines: list[str] = []
    mp.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    try:
        rc = main(
            ["bench", "e2e", "--quick", "--json", str(out), "--cache-dir", str(tmp / "cache")]
        )
    finally:
        mp.undo()
    assert rc == 0
    return json.loads(out.read_text(encoding="utf-8")), "\n".join(lines)


def test_records_have_the_contract_fields(quick_run: tuple[list[dict], str]) -> None:
    records, _ = quick_run
    assert records
    for rec in records:
        for name, kind in {**CONTRACT, **EXTRA}.items():
            assert name in rec, name
            assert isinstance(rec[name], kind), (name, rec[name])
            assert not isinstance(rec[name], bool), name
        assert rec["threads"] == 1
        assert rec["prompt_tokens"] == 16
        assert rec["new_tokens"] == 4  # end-of-generation ids are off: exactly N tokens
        assert rec["prefill_tps"] > 0 and rec["decode_tps"] > 0 and rec["ttft_ms"] > 0
        assert rec["weight_mb"] > 0 and rec["rss_mb"] > 0 and rec["bytes_per_token"] > 0
        bound = rec["dram_gbps"] * 1e9 / rec["bytes_per_token"]
        assert rec["bound_tps"] == pytest.approx(bound, rel=1e-3)


def test_every_backend_appears(quick_run: tuple[list[dict], str]) -> None:
    records, _ = quick_run
    assert sorted(r["case"] for r in records) == sorted(CASES)
    assert {r["backend"] for r in records} == {"native", "torch", "llamacpp"}
    by_case = {r["case"]: r for r in records}
    assert by_case["llamacpp-tq2_0"]["weights"] == "TQ2_0"  # 256-wide rows: no F16 fallback
    assert by_case["torch-fp32"]["head_type"] == "F32"
    # 2-bit linears read fewer bytes per token than fp16 ones, the same head aside
    assert by_case["native-ternary"]["bytes_per_token"] < by_case["native-fp16"]["bytes_per_token"]
    # 1 bit per weight against the ternary 2: fewer bytes per token, the same head
    binary, ternary = by_case["native-binary"], by_case["native-ternary"]
    assert binary["bytes_per_token"] < ternary["bytes_per_token"]
    assert binary["head_type"] == ternary["head_type"] and binary["weights"] == "Q1"


def test_table_prints(quick_run: tuple[list[dict], str]) -> None:
    _, text = quick_run
    assert "DRAM read bandwidth, 1 thread(s)" in text
    assert "decode t/s" in text and "% DRAM" in text
    for case in CASES:
        assert case in text
    assert f"wrote {len(CASES)} records" in text
    # llama.cpp's own build is named once (a forced kernel path does not change it)
    built = [ln for ln in text.splitlines() if "llama.cpp built for:" in ln]
    assert len(built) == 1 and ("AVX2" in built[0] or "NEON" in built[0]), built
    # one sampling-cost line per model, every setting with a number
    lines = [ln for ln in text.splitlines() if "sampling one token from" in ln]
    assert len(lines) == 1, lines
    for setting in ("greedy", "min-p 0.05", "top-p 0.95 alone", "top-p 0.95 alone, flat logits"):
        assert re.search(re.escape(setting) + r": \d+\.\d\d ms", lines[0]), (setting, lines[0])


def test_backend_subset_and_bad_names(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "r.json"
    args = ["bench", "e2e", "--quick", "--backends", "native-ternary", "--json", str(out)]
    assert main([*args, "--threads", "1,2", "--new-tokens", "3"]) == 0
    records = json.loads(out.read_text(encoding="utf-8"))
    assert [(r["case"], r["threads"], r["new_tokens"]) for r in records] == [
        ("native-ternary", 1, 3),
        ("native-ternary", 2, 3),
    ]
    assert main(["bench", "e2e", "--quick", "--backends", "nope"]) != 0


def test_cancel_stops_the_run(tmp_path: Path) -> None:
    cfg = quick_config()
    cfg.cache_dir = tmp_path
    seen: list[str] = []

    def progress(done: int, total: int, message: str) -> None:
        assert 0 <= done <= total
        seen.append(message)

    # cancel once the second backend starts: the first one's records come back
    with pytest.raises(BenchCancelled) as info:
        run_e2e_bench(cfg, progress=progress, cancel=lambda: len(seen) >= 4)
    assert len(info.value.records) == 1
    assert info.value.records[0].case == cfg.backends[0]
    assert not any("llamacpp" in m for m in seen)


def test_random_weights_are_frugal_and_seeded() -> None:
    a = random_weights(config_tiny(), "ternary", seed=3)
    b = random_weights(config_tiny(), "ternary", seed=3)
    q = a.tensors["layers.0.self_attn.q_proj"]
    assert isinstance(q, TernaryTensor) and q.codes.dtype == np.int8
    assert set(np.unique(q.codes)) <= {-1, 0, 1}
    assert np.array_equal(q.codes, b.tensors["layers.0.self_attn.q_proj"].codes)  # type: ignore[union-attr]
    f = random_weights(config_tiny(), "fp16", seed=3)
    assert all(t.dtype == np.float16 for t in f.tensors.values())  # type: ignore[union-attr]
    assert "lm_head" not in f.tensors  # tied head
    assert MODELS["2b4t"].config is not None
    cfg = MODELS["2b4t"].config()
    assert (cfg.hidden_size, cfg.n_layers, cfg.vocab_size) == (2560, 30, 128256)


def test_machine_and_bandwidth_spread_are_reported(quick_run: tuple[list[dict], str]) -> None:
    records, text = quick_run
    from bitnet_studio import kernels
    from bitnet_studio.bench.machine import cpu_model

    assert f"machine: {cpu_model()}" in text
    assert f"SIMD path {kernels.active_path()}" in text
    assert "median" in text and "spread" in text and "3 samples" in text
    for rec in records:
        assert rec["cpu_model"] == cpu_model() and rec["simd_path"] == kernels.active_path()
        assert len(rec["dram_samples"]) == 3
        assert rec["dram_gbps_min"] <= rec["dram_gbps"] <= rec["dram_gbps_max"]
    heads = {r["case"]: r["head_type"] for r in records if r["case"].startswith("native-ternary")}
    assert heads == {
        "native-ternary": "F16",
        "native-ternary-i8head": "I8",
        "native-ternary-q4head": "Q4",
    }


def test_chat_turns_reuse_the_cache(tmp_path: Path) -> None:
    from bitnet_studio.bench.e2e_turns import run_turns, turn_lines

    recs = run_turns("tiny", 2, 1, new_tokens=4, cache_dir=tmp_path, form="ternary")
    assert [r.turn for r in recs] == [1, 2]
    assert recs[0].reused_tokens == 0 and recs[0].prefilled_tokens == recs[0].context_tokens
    assert recs[1].reused_tokens >= recs[0].context_tokens  # turn 1 came from the cache
    assert recs[1].prefilled_tokens < recs[1].context_tokens - recs[0].context_tokens + 4
    text = "\n".join(turn_lines(recs))
    assert "TTFT turn 2 / turn 1" in text and "with KV reuse" in text


def test_rss_report_runs_each_head_in_a_fresh_process(tmp_path: Path) -> None:
    from bitnet_studio.bench.rss_load import rss_lines

    lines = rss_lines("tiny", tmp_path)
    assert len(lines) == 4 and "fresh process" in lines[0]
    for head, line in zip(("f16", "i8", "q4"), lines[1:], strict=True):
        assert f"head {head}" in line and "after decode" in line and "weights" in line
