"""Screens that read right (issue 12.11) and Measure's honest figures (12.2, 12.3): Inspect's
statistics fit at the default window size, the ternarized histogram has its own range,
flat lines keep a sensible span, legends sit outside the plots, roofline ticks do not
collide, the kernel chart plots time per call on a shape that does not fit in cache, and
each model's memory line is its own."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pyqtgraph as pg
import pytest
from conftest import wait_idle
from PySide6.QtGui import QFontMetrics

from bitnet_studio.bench.kernel_bench import KernelBenchConfig, Shape
from bitnet_studio.bench.timing import Budget
from bitnet_studio.engine.model_memory import model_memory
from bitnet_studio.ui.bench_view import BenchResultsView, log_ticks
from bitnet_studio.ui.live_plots import MIN_SPAN, LivePlots
from bitnet_studio.ui.main_window import MainWindow
from bitnet_studio.ui.measure_page import (
    QUICK_SHAPE,
    cache_bytes,
    describe_e2e_run,
    describe_kernel_run,
    quick_e2e_config,
    quick_kernel_config,
    run_bench,
)

pytestmark = pytest.mark.timeout(120)
WAIT_MS = 30_000


def test_inspect_stats_fit_at_the_default_size(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.resize(1280, 800)
    window.show_page("inspect")
    ins = window.inspect
    name = next(n for n in ins.tree.names() if n.endswith("mlp.down_proj"))
    ins.select_tensor(name)
    qtbot.waitUntil(lambda: ins.view is not None and ins.view.name == name, timeout=WAIT_MS)
    qtbot.wait(50)
    box = ins.stats_box
    assert box.width() >= box.minimumSizeHint().width()  # nothing cut on the right
    assert box.heightForWidth(box.width()) <= box.height()  # nor at the bottom
    assert name in box.toolTip()


def test_ternarized_histogram_has_its_own_range(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.show_page("inspect")
    ins = window.inspect
    ins.select_model(window.store.models()[0].name)  # the f16 model: float tensors
    qtbot.waitUntil(lambda: ins.view is not None and not ins.busy(), timeout=WAIT_MS)
    ins.ternarize_tensor()
    qtbot.waitUntil(lambda: ins.preview is not None, timeout=WAIT_MS)
    qtbot.wait(50)
    gamma = ins.preview.gamma
    lo, hi = ins.hist_after.plot.getPlotItem().viewRange()[0]
    assert -1.7 * gamma < lo < -1.4 * gamma and 1.4 * gamma < hi < 1.7 * gamma
    labels = [t for t in ins.hist_after._labels if t.isVisible()]
    rects = [t.sceneBoundingRect() for t in labels]
    assert len(rects) == 3
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])


def test_flat_memory_line_keeps_a_sensible_span(qtbot) -> None:  # type: ignore[no-untyped-def]
    live = LivePlots()
    qtbot.addWidget(live)
    live.stop()
    live.resize(800, 300)
    live.show()
    for i in range(30):  # "flat": a few kB up and down, as a real memory line is
        live.record("m", 50.0, 300.0 + 0.001 * (i % 4))
        live.tick()
    live.process_curve.setData([], [])  # only the flat model line left
    plot = live.rss_plot.getPlotItem()
    plot.getViewBox().updateAutoRange()
    qtbot.wait(50)
    lo, hi = plot.viewRange()[1]
    assert hi - lo >= MIN_SPAN["mb"] * 0.99 and lo <= 300.0 <= hi


def test_legends_sit_outside_the_plots(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    live = window.measure.live
    for p in (live.tps_plot, live.rss_plot):
        assert p.getPlotItem().legend is None
    for m in window.store.models():
        assert m.label in live.legend.text()
    assert "process RSS" in live.legend.text()
    view = window.measure.results
    view.show_records("kernels", [_rec("ternary", 300.0), _rec("f16", 6000.0)])
    assert view.bars.plot.getPlotItem().legend is None
    assert view.roofline.plot.getPlotItem().legend is None
    assert "ternary" in view.bars.legend.text() and view.bars.legend.isVisibleTo(view)
    assert "f16" in view.roofline.legend.text()


def test_roofline_tick_labels_do_not_collide(qtbot) -> None:  # type: ignore[no-untyped-def]
    major, minor = log_ticks(0.004, 80.0)
    assert 2 <= len(major) <= 6 and all(label == "" for _, label in minor)
    view = BenchResultsView()
    qtbot.addWidget(view)
    view.resize(700, 300)
    view.show()
    records = [_rec("ternary", 30.0, rows=r, cols=r) for r in (64, 512, 4096)]
    records += [_rec("f16", 900.0, rows=r, cols=r) for r in (64, 512, 4096)]
    view.show_records("kernels", records)
    qtbot.wait(50)
    plot = view.roofline.plot.getPlotItem()
    axis = plot.getAxis("bottom")
    ticks = axis._tickLevels[0]
    fm = QFontMetrics(axis.style.get("tickFont") or axis.font())
    (x0, x1), width = plot.viewRange()[0], plot.getViewBox().width()
    px = [(v - x0) / (x1 - x0) * width for v, label in ticks if x0 <= v <= x1]
    texts = [label for v, label in ticks if x0 <= v <= x1]
    assert len(px) >= 2
    for a, b, ta, tb in zip(px, px[1:], texts, texts[1:], strict=False):
        gap = (fm.horizontalAdvance(ta) + fm.horizontalAdvance(tb)) / 2
        assert b - a > gap, f"tick labels {ta!r} and {tb!r} collide"


def _rec(backend: str, us: float, rows: int = 6912, cols: int = 2560) -> SimpleNamespace:
    nbytes = rows * cols * (2 if backend == "f16" else 0.25)
    return SimpleNamespace(
        op="gemv",
        backend=backend,
        rows=rows,
        cols=cols,
        batch=1,
        threads=2,
        regime="cold",
        median_us=us,
        weight_bytes=int(nbytes),
        weight_gbps=nbytes / us / 1e3,
        bandwidth_gbps=20.0,
    )


def test_kernel_chart_plots_time_per_call(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = BenchResultsView()
    qtbot.addWidget(view)
    # Ternary reads 8x fewer bytes: lower GB/s but 20x less time. The bars show the time.
    view.show_records("kernels", [_rec("ternary", 300.0), _rec("f16", 6000.0)])
    assert view.bars.values == {"ternary": [300.0], "f16": [6000.0]}
    assert "µs per call" in view.bars.plot.getPlotItem().getAxis("left").labelText
    assert "lower is faster" in view.bars.plot.getPlotItem().titleLabel.text
    written = {
        t.toPlainText() for t in view.bars.plot.getPlotItem().items if hasattr(t, "toPlainText")
    }
    assert {"300", "6,000"} <= written  # the short ternary bar is readable by its number
    assert view.roofline.points["ternary"][1] == [pytest.approx(_rec("ternary", 300).weight_gbps)]


def test_quick_kernel_run_does_not_fit_in_cache() -> None:
    cfg = quick_kernel_config()
    assert cfg.shapes == (QUICK_SHAPE,) and QUICK_SHAPE.rows * QUICK_SHAPE.cols > 10_000_000
    assert cfg.cold_bytes > cache_bytes() and cfg.cold_bytes >= 256 << 20
    text = describe_kernel_run(cfg)
    assert "6912x2560" in text and "from memory" in text and "MB per call" in text
    # The page's runner puts that sentence first among the notes it shows.
    tiny = KernelBenchConfig(
        shapes=(Shape("t", "t", 64, 256),),
        backends=("ternary",),
        batches=(1,),
        regimes=("cold",),
        cold_bytes=1 << 20,
        bandwidth_bytes=1 << 20,
        budget=Budget(seconds=0.001, min_calls=1, max_calls=2, warmup=0),
    )
    outcome = run_bench(lambda _v: None, lambda: False, "kernels", "kernels (quick)", tiny)
    assert outcome.notes[0] == describe_kernel_run(tiny) and "64x256" in outcome.notes[0]


def test_measure_memory_lines_are_per_model(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    live = window.measure.live
    live.tick()
    values = {}
    for m in window.store.models():
        expected = (
            model_memory(m.session, m.backend, m.weights.config, m.weights_file).total_at(0) / 1e6
        )
        assert live.series[m.name].rss.latest() == pytest.approx(expected)
        values[m.name] = expected
    assert len(set(values.values())) == 2  # two models, two lines
    assert window.compare.send("the quick brown fox")
    wait_idle(qtbot, window)
    live.tick()
    for pane in window.compare.panes:
        latest = live.series[pane.answered_by.name].rss.latest()
        assert latest == pytest.approx(pane.memory_mb()) and np.isfinite(latest)
    assert all(isinstance(p, pg.PlotWidget) for p in (live.tps_plot, live.rss_plot))


def test_quick_end_to_end_runs_a_real_model_and_says_what_it_reads() -> None:
    e2e = pytest.importorskip("bitnet_studio.bench.e2e_run")
    cfg = quick_e2e_config()
    assert cfg.models == ["smollm2"] and cfg.backends == ["native-ternary", "native-fp16"]
    tiny = replace(e2e.quick_config(), backends=["native-ternary", "native-fp16"])
    outcome = run_bench(lambda _v: None, lambda: False, "e2e", "end-to-end (quick)", tiny)
    assert len(outcome.records) == 2
    note = outcome.notes[0]
    assert note == describe_e2e_run(outcome.records)
    assert "MB per token" in note and "native-ternary" in note and "last-level cache" in note
