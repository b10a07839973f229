"""The Measure page: fixed-size live plots, a quick kernel benchmark drawn as bars and a
roofline, cancel, and CSV/JSON export."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bitnet_studio.bench.kernel_bench import quick_config
from bitnet_studio.bench.timing import Budget
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.ui import workers
from bitnet_studio.ui.bench_view import BenchResultsView
from bitnet_studio.ui.live_plots import RingBuffer
from bitnet_studio.ui.measure_page import MeasurePage, bench_kinds
from bitnet_studio.ui.model_store import ModelStore, open_weights

pytestmark = pytest.mark.timeout(120)
BENCH_MS = 60_000
BACKENDS = ("ternary", "f16", "f32")  # a subset keeps the run short on a busy machine


@pytest.fixture
def page(qtbot) -> Iterator[MeasurePage]:  # type: ignore[no-untyped-def]
    store = ModelStore()
    w = random_model(tiny_config("llama"))
    store.add(open_weights(w, name="tiny-llama", label="tiny llama"))
    p = MeasurePage(store)
    qtbot.addWidget(p)
    p.resize(1200, 800)
    p.show()
    yield p
    p.shutdown()
    assert workers.join_all(timeout_s=30)
    store.close_all()


def test_ring_buffer_keeps_the_last_samples() -> None:
    r = RingBuffer(4)
    assert np.isnan(r.view()).all() and r.view().shape == (4,)
    for v in range(10):
        r.push(v)
    assert list(r.view()) == [6, 7, 8, 9] and r.latest() == 9 and r.pushed == 10
    assert r.nbytes == 2 * 4 * 8
    with pytest.raises(ValueError):
        RingBuffer(0)


def test_live_plots_stay_fixed_size(qtbot, page: MeasurePage) -> None:  # type: ignore[no-untyped-def]
    live = page.live
    assert live.timer.isActive() and live.timer.interval() <= 100  # >= 10 Hz
    assert "tiny-llama" in live.series  # a series per loaded model
    # The test ticks by hand from here; the timer may already have ticked while the
    # fixture waited for the model (a loaded machine waits longer), so count from now.
    live.timer.stop()
    s = live.series["tiny-llama"]
    pushed0 = s.tps.pushed
    buffers = (s.tps._buf, s.rss._buf, live.process._buf)
    sizes = [b.nbytes for b in buffers]

    def feed() -> None:  # generation workers call record() from their own threads
        for i in range(500):
            page.record("other-model", 10.0 + i % 5, 123.0)

    t = threading.Thread(target=feed)
    t.start()
    for i in range(3 * live.capacity):
        page.record("tiny-llama", 20.0 + i % 3, 300.0)
        live.tick()
    t.join()
    live.tick()
    assert "other-model" in live.series  # unknown names get a series on the next tick
    assert [b.nbytes for b in buffers] == sizes
    assert s.tps._buf is buffers[0] and s.tps.pushed - pushed0 == 3 * live.capacity + 1
    x, y = s.tps_curve.getData()
    assert len(x) == len(y) == live.capacity
    assert y[-1] == 20.0 + (3 * live.capacity - 1) % 3
    _, rss = s.rss_curve.getData()
    assert rss[-1] == 300.0
    _, proc = live.process_curve.getData()
    assert len(proc) == live.capacity and proc[-1] > 10  # this process' RSS, MB
    live.hold_s = 0.0  # silence: the tokens/s curve breaks, the memory curve holds
    live.tick()
    assert np.isnan(s.tps.latest()) and s.rss.latest() == 300.0
    page.store.remove("tiny-llama")
    assert "tiny-llama" not in live.series


def test_quick_kernel_bench_draws_and_exports(qtbot, page: MeasurePage, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert {"kernels (quick)", "kernels (full)"} <= set(bench_kinds())
    cfg = replace(quick_config(), backends=BACKENDS)
    with qtbot.waitSignal(page.sig_bench_done, timeout=BENCH_MS) as sig:
        page.run_benchmark("kernels (quick)", cfg)
        assert page.running() and page.cancel_button.isEnabled()
    outcome = sig.args[0]
    qtbot.waitUntil(lambda: not page.running(), timeout=BENCH_MS)
    assert not outcome.cancelled and page.error is None
    n = len(BACKENDS) * 2 * 2  # backends x batches x regimes, one shape
    assert len(outcome.records) == n and page.progress.value() == page.progress.maximum()
    bars = page.results.bars
    assert bars.categories == ["192x576"] and list(bars.values) == list(BACKENDS)
    rec = {r.backend: r for r in outcome.records if r.regime == "cold" and r.batch == 1}
    assert bars.values["f16"] == [pytest.approx(rec["f16"].weight_gbps)]
    roof = page.results.roofline
    assert list(roof.roofs.values()) == [pytest.approx(rec["f16"].bandwidth_gbps)]
    assert roof.points["ternary"][1] == [pytest.approx(rec["ternary"].weight_gbps)]
    page.results.batch.setCurrentText("64")  # the pickers redraw
    big = [r for r in outcome.records if r.regime == "cold" and r.batch == 64]
    assert bars.values["f32"] == [
        pytest.approx(next(r for r in big if r.backend == "f32").weight_gbps)
    ]

    page.export_csv(tmp_path / "k.csv")
    rows = list(csv.DictReader((tmp_path / "k.csv").open()))
    assert len(rows) == n and {r["backend"] for r in rows} == set(BACKENDS)
    assert float(rows[0]["weight_gbps"]) == pytest.approx(outcome.records[0].weight_gbps)
    page.export_json(tmp_path / "k.json")
    doc = json.loads((tmp_path / "k.json").read_text())
    assert doc["meta"]["kind"] == "kernels" and not doc["meta"]["cancelled"]
    assert all(v > 0 for v in doc["meta"]["bandwidth_gbps"].values())
    assert len(doc["records"]) == n and doc["records"][0]["op"] in ("gemv", "gemm")


def test_cancel_stops_the_benchmark(qtbot, page: MeasurePage) -> None:  # type: ignore[no-untyped-def]
    slow = replace(quick_config(), backends=BACKENDS, budget=Budget(seconds=2.0, min_calls=3))
    progressed: list[object] = []
    page.run_benchmark("kernels (quick)", slow)
    page.worker.sig_progress.connect(progressed.append)
    qtbot.waitUntil(lambda: bool(progressed), timeout=BENCH_MS)  # past the bandwidth probe
    with qtbot.waitSignal(page.sig_bench_done, timeout=BENCH_MS) as sig:
        page.cancel_button.click()
    qtbot.waitUntil(lambda: not page.running(), timeout=BENCH_MS)
    outcome = sig.args[0]
    assert outcome.cancelled and len(outcome.records) < len(BACKENDS) * 4
    assert "cancelled" in page.bench_status.text() and page.run_button.isEnabled()


def test_e2e_records_draw_as_tokens_per_second(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = BenchResultsView()
    qtbot.addWidget(view)

    def rec(case: str, threads: int, tps: float) -> SimpleNamespace:
        return SimpleNamespace(
            model="tiny",
            case=case,
            backend="native",
            threads=threads,
            decode_tps=tps,
            bytes_per_token=2_000_000,
            effective_gbps=tps * 2e-3,
            dram_gbps=30.0 + threads,
        )

    view.show_records(
        "e2e", [rec("native-i2", 1, 50.0), rec("torch", 1, 5.0), rec("native-i2", 2, 90.0)]
    )
    assert view.bars.categories == ["tiny @1t", "tiny @2t"]
    assert view.bars.values["native-i2"] == [50.0, 90.0]
    assert np.isnan(view.bars.values["torch"][1])
    assert sorted(view.roofline.roofs.values()) == [31.0, 32.0]
    assert not view.pickers.isVisibleTo(view)
