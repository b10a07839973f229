"""``bitnet-studio bench kernels``: the JSON contract, the bandwidth probe, cancellation."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio import _kernels, cli, kernels
from bitnet_studio.bench.backends import BACKENDS, replicate
from bitnet_studio.bench.bandwidth import aligned_buffer, measure_read_bandwidth, measure_roof
from bitnet_studio.bench.kernel_bench import REGIMES, quick_config, run_kernel_bench
from bitnet_studio.bench.machine import _from_cpuinfo, cpu_model
from bitnet_studio.bench.timing import BenchCancelled, Budget, time_calls

FIELDS: dict[str, type | tuple[type, ...]] = {
    "op": str,
    "backend": str,
    "rows": int,
    "cols": int,
    "batch": int,
    "threads": int,
    "regime": str,
    "median_us": (int, float),
    "weight_bytes": int,
    "weight_gbps": (int, float),
    "bandwidth_gbps": (int, float),
    "path": str,
    "best_us": (int, float),
}


OURS = ("ternary", "ternary-b3", "f16", "f32")


def expected_weight_bytes(backend: str, rows: int, cols: int) -> int:
    if backend == "ternary":
        return rows * kernels.padded_cols("i2", cols) // 128 * 32
    if backend == "ternary-b3":
        return rows * kernels.padded_cols("b3", cols) // 160 * 32
    if backend == "binary":  # 1 bit per weight, rows padded to 128 columns
        return rows * kernels.binary_padded_cols(cols) // 8
    if backend == "binary-q1_0":  # plus one float32 scale per row and 128-column block
        return rows * kernels.binary_padded_cols(cols) // 8 + 4 * rows * -(-cols // 128)
    return {"f16": 2, "f32": 4, "torch-f32": 4, "torch-bf16": 2}[backend] * rows * cols


def test_quick_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kernels.json"
    threads_before = kernels.get_threads()
    assert cli.main(["bench", "kernels", "--quick", "--json", str(out)]) == 0
    assert kernels.get_threads() == threads_before
    text = capsys.readouterr().out
    assert "streaming read" in text and "ratios" in text
    assert f"cpu: {cpu_model()}" in text
    assert f"kernel path: {kernels.active_path()}" in text
    assert "summary, threads=" in text and "% roof" in text and "b64 speed-up/tok" in text
    assert "median of 3:" in text
    assert "machine load " in text and "at start" in text
    assert "binary vs ternary" in text

    records = json.loads(out.read_text())
    assert isinstance(records, list) and records
    for r in records:
        assert set(r) == set(FIELDS)
        for key, typ in FIELDS.items():
            assert isinstance(r[key], typ), (key, r[key])
        assert r["op"] == ("gemv" if r["batch"] == 1 else "gemm")
        assert r["threads"] == threads_before
        assert r["path"] == (kernels.active_path() if r["backend"] in OURS else "")
        assert r["weight_bytes"] == expected_weight_bytes(r["backend"], r["rows"], r["cols"])
        assert r["median_us"] > 0 and r["bandwidth_gbps"] > 0
        assert 0 < r["best_us"] <= r["median_us"]
        gbps = r["weight_bytes"] / (r["median_us"] * 1e-6) / 1e9
        assert r["weight_gbps"] == pytest.approx(gbps, rel=1e-6)

    assert {r["backend"] for r in records} == set(BACKENDS)
    assert {r["regime"] for r in records} == set(REGIMES)
    assert {r["op"] for r in records} == {"gemv", "gemm"}
    cases = {(r["backend"], r["batch"], r["regime"]) for r in records}
    assert len(cases) == len(records) == len(BACKENDS) * 2 * len(REGIMES)


def test_filters_and_thread_list(tmp_path: Path) -> None:
    out = tmp_path / "k.json"
    argv = ["bench", "kernels", "--quick", "--threads", "1,2", "--backends", "ternary,f32"]
    argv += ["--shapes", "576x576", "--batch", "1", "--json", str(out)]
    assert cli.main(argv) == 0
    records = json.loads(out.read_text())
    assert {(r["backend"], r["threads"]) for r in records} == {
        (b, t) for b in ("ternary", "f32") for t in (1, 2)
    }
    assert {(r["rows"], r["cols"], r["batch"]) for r in records} == {(576, 576, 1)}


@pytest.mark.parametrize("path", kernels.available_paths())
def test_path_flag_runs_that_path(
    path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = kernels.active_path()
    out = tmp_path / "k.json"
    argv = ["bench", "kernels", "--quick", "--path", path, "--backends", "ternary"]
    assert cli.main([*argv, "--json", str(out)]) == 0
    assert kernels.active_path() == before  # restored
    assert f"kernel path: {path} " in capsys.readouterr().out
    assert {r["path"] for r in json.loads(out.read_text())} == {path}


def test_cpu_model_parsing() -> None:
    text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Some CPU @ 2.0GHz\n"
    assert _from_cpuinfo(text) == "Some CPU @ 2.0GHz"
    assert _from_cpuinfo("processor : 0\n") == ""
    assert cpu_model()


def test_roof_has_median_and_spread() -> None:
    bw = measure_roof(threads=1, nbytes=16 << 20, samples=3, chunk=1 << 20)
    assert len(bw.samples) == 3 and list(bw.samples) == sorted(bw.samples)
    assert bw.gbps == pytest.approx(bw.samples[1], rel=1e-2)
    assert bw.seconds == pytest.approx(bw.nbytes / (bw.gbps * 1e9))
    times = _kernels.read_chunk_times(aligned_buffer(1 << 20), 2, 1 << 18, 0)
    assert len(times) == 4 and all(t > 0 for t in times)
    with pytest.raises(ValueError):
        _kernels.read_chunk_times(aligned_buffer(1 << 20), 1, 2 << 20, 0)  # chunk > buffer
    lo, hi = bw.spread
    assert lo <= bw.gbps <= hi
    with pytest.raises(ValueError):
        measure_roof(threads=1, nbytes=16 << 20, samples=0)
    with pytest.raises(ValueError):
        _kernels.read_bandwidth(aligned_buffer(4096), 1, 1, 2 << 20)  # prefetch > 1 MiB


@pytest.mark.parametrize(
    "flag",
    [
        ["--threads", "0"],
        ["--backends", "nope"],
        ["--shapes", "llama"],
        ["--batch", "x"],
        ["--path", "sse9"],
    ],
)
def test_bad_flags(flag: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "kernels", "--quick", *flag]) == 2
    assert capsys.readouterr().err.startswith("error: " + flag[0])


def test_bandwidth_probe() -> None:
    before = kernels.get_threads()
    bw = measure_read_bandwidth(threads=1, nbytes=64 << 20, repeats=2)
    assert bw.threads == 1 and bw.nbytes == 64 << 20
    assert 0.5 < bw.gbps < 5000
    assert kernels.get_threads() == before  # the probe resizes the pool only for the call
    with pytest.raises(ValueError):
        _kernels.read_bandwidth(aligned_buffer(4096), 1, 0)


def test_replicate_copies_are_aligned_and_equal() -> None:
    w = np.arange(15, dtype=np.float32).reshape(3, 5)
    copies = replicate(w, 4)
    assert len({c.ctypes.data for c in copies}) == 4
    for c in copies:
        assert c.ctypes.data % 64 == 0 and c.flags.c_contiguous
        np.testing.assert_array_equal(c, w)


def test_cancel_stops_the_run() -> None:
    seen: list[str] = []
    before = kernels.get_threads()

    def progress(done: int, total: int, message: str) -> None:
        assert 0 < done <= total
        seen.append(message)

    cfg = quick_config()
    cfg.backends = ("ternary", "f32")
    t0 = time.perf_counter()
    with pytest.raises(BenchCancelled) as info:
        run_kernel_bench(cfg, progress, cancel=lambda: len(seen) >= 3)
    assert time.perf_counter() - t0 < 5
    assert len(seen) == 3  # the bandwidth step and two cases, then nothing more
    assert len(info.value.records) == 2
    assert kernels.get_threads() == before


def test_cancel_interrupts_a_timing_loop() -> None:
    polls: list[int] = []

    def cancel() -> bool:
        polls.append(1)
        return len(polls) > 2

    t0 = time.perf_counter()
    with pytest.raises(BenchCancelled):
        time_calls([lambda: None], Budget(seconds=60, min_calls=1, max_calls=10**9), cancel)
    assert time.perf_counter() - t0 < 5
