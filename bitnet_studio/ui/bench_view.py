"""Benchmark results drawn: grouped bars and a bandwidth roofline.

Kernel records (``bench.kernel_bench.Record``): time per call per backend per shape, for one
batch size and regime (the primary figure: what decoding waits for; weight GB/s would rank a
kernel that reads 8x fewer bytes as slower while it is faster); the roofline puts each case
at (weight MB per call, GB/s) under the measured streaming-read line. End-to-end records
(``bench.e2e_run.E2ERecord``): decode tokens/s per case, and (MB read per token, effective
GB/s) under the DRAM line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QWidget

from bitnet_studio.ui.charts import (
    BarChart,
    color,
    legend_label,
    make_plot,
    reference_line,
    set_axis_label,
    set_legend,
    set_title,
)

Points = dict[str, tuple[list[float], list[float]]]


def kernel_bars(
    records: Sequence[Any], regime: str, batch: int
) -> tuple[list[str], dict[str, list[float]]]:
    """(shape names, backend -> microseconds per call per shape) of one regime and batch
    size (the first thread count measured)."""
    mine = [r for r in records if r.regime == regime and r.batch == batch]
    if mine:
        mine = [r for r in mine if r.threads == mine[0].threads]
    shapes = list(dict.fromkeys(f"{r.rows}x{r.cols}" for r in mine))
    series: dict[str, list[float]] = {}
    for r in mine:
        vals = series.setdefault(r.backend, [np.nan] * len(shapes))
        vals[shapes.index(f"{r.rows}x{r.cols}")] = r.median_us
    return shapes, series


def kernel_roofline(records: Sequence[Any], regime: str, batch: int) -> tuple[Points, dict]:
    """(backend -> (weight MB per call, GB/s), {"read N thr": GB/s})."""
    pts: Points = {}
    roofs: dict[str, float] = {}
    for r in records:
        if r.regime != regime or r.batch != batch:
            continue
        xs, ys = pts.setdefault(r.backend, ([], []))
        xs.append(r.weight_bytes / 1e6)
        ys.append(r.weight_gbps)
        roofs[f"read, {r.threads} thr: {r.bandwidth_gbps:.1f} GB/s"] = r.bandwidth_gbps
    return pts, roofs


def e2e_bars(records: Sequence[Any]) -> tuple[list[str], dict[str, list[float]]]:
    """(model @ threads, case -> decode tokens/s)."""
    groups = list(dict.fromkeys(f"{r.model} @{r.threads}t" for r in records))
    series: dict[str, list[float]] = {}
    for r in records:
        vals = series.setdefault(r.case or r.backend, [np.nan] * len(groups))
        vals[groups.index(f"{r.model} @{r.threads}t")] = r.decode_tps
    return groups, series


def e2e_roofline(records: Sequence[Any]) -> tuple[Points, dict]:
    """(case -> (MB read per token, effective GB/s), {"DRAM N thr": GB/s})."""
    pts: Points = {}
    roofs: dict[str, float] = {}
    for r in records:
        xs, ys = pts.setdefault(r.case or r.backend, ([], []))
        xs.append(r.bytes_per_token / 1e6)
        ys.append(r.effective_gbps)
        roofs[f"DRAM, {r.threads} thr: {r.dram_gbps:.1f} GB/s"] = r.dram_gbps
    return pts, roofs


def _short_number(v: float) -> str:
    """2400 -> "2,400", 73.62 -> "73.6": a bar's value written above it."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def log_ticks(lo: float, hi: float) -> list[list[tuple[float, str]]]:
    """Ticks for a log10 axis over [lo, hi]: labels at 1-2-5 steps, thinned to at most six
    so that they never run into each other; unlabelled minor ticks between."""
    first, last = math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1
    values = [m * 10.0**e for e in range(first, last + 1) for m in (1, 2, 5)]
    inside = [v for v in values if lo / 1.5 <= v <= hi * 1.5]
    step = 1
    while len(inside[::step]) > 6:
        step += 1
    major = inside[::step] if step > 1 else inside
    minor = [v for v in inside if v not in major]
    return [
        [(math.log10(v), f"{v:g}") for v in major],
        [(math.log10(v), "") for v in minor],
    ]


class RooflinePlot(QWidget):
    """Scatter per series on a log x axis under horizontal bandwidth lines."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from PySide6.QtWidgets import QVBoxLayout

        self.plot = make_plot(title, "GB/s", "MB of weights")
        self.plot.getPlotItem().setLogMode(x=True, y=False)
        bottom = self.plot.getPlotItem().getAxis("bottom")
        bottom.enableAutoSIPrefix(False)  # MB stay MB, not "x0.001"
        self.legend = legend_label()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        lay.addWidget(self.legend)
        self._items: list[pg.GraphicsObject] = []
        self.points: Points = {}
        self.roofs: dict[str, float] = {}

    def set_data(self, points: Points, roofs: Mapping[str, float], xlabel: str) -> None:
        item = self.plot.getPlotItem()
        for it in self._items:
            item.removeItem(it)
        self._items.clear()
        self.points, self.roofs = dict(points), dict(roofs)
        set_axis_label(self.plot, "bottom", xlabel)
        for j, (xs, ys) in enumerate(self.points.values()):
            sc = pg.PlotDataItem(
                xs, ys, pen=None, symbol="o", symbolSize=10, symbolBrush=color(j), symbolPen=None
            )
            item.addItem(sc)
            self._items.append(sc)
        set_legend(self.legend, [(name, color(j)) for j, name in enumerate(self.points)])
        xs_all = [x for xs, _ in self.points.values() for x in xs if x > 0]
        if xs_all:
            item.getAxis("bottom").setTicks(log_ticks(min(xs_all), max(xs_all)))
        for k, (label, v) in enumerate(self.roofs.items()):
            line = reference_line(v, label, 0.3 + 0.3 * k)  # clear of the small and large shapes
            item.addItem(line)
            self._items.append(line)
        tops = [max(ys, default=0.0) for _, ys in self.points.values()] + list(roofs.values())
        top = max(tops, default=0.0)
        item.setYRange(0, top * 1.15 if top > 0 else 1.0, padding=0)
        item.enableAutoRange(axis="x")


class BenchResultsView(QWidget):
    """Bars and roofline of the last benchmark; kernel results get regime/batch pickers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bars = BarChart("", "GB/s", value_format=_short_number)
        self.roofline = RooflinePlot("roofline")
        self.regime = QComboBox()
        self.batch = QComboBox()
        for combo in (self.regime, self.batch):
            combo.currentIndexChanged.connect(self._redraw)
        self.pickers = QWidget()
        row = QHBoxLayout(self.pickers)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("regime"))
        row.addWidget(self.regime)
        row.addWidget(QLabel("batch"))
        row.addWidget(self.batch)
        row.addStretch(1)
        self.pickers.hide()
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.pickers, 0, 0, 1, 2)
        lay.addWidget(self.bars, 1, 0)
        lay.addWidget(self.roofline, 1, 1)
        self.kind = ""
        self.records: list[Any] = []

    def show_records(self, kind: str, records: Sequence[Any]) -> None:
        """``kind`` is "kernels" or "e2e"."""
        self.kind, self.records = kind, list(records)
        if kind == "kernels":
            for combo, values in (
                (self.regime, dict.fromkeys(r.regime for r in records)),
                (self.batch, dict.fromkeys(str(r.batch) for r in records)),
            ):
                combo.blockSignals(True)
                keep = combo.currentText()
                combo.clear()
                combo.addItems(list(values))
                if keep in values:
                    combo.setCurrentText(keep)
                combo.blockSignals(False)
        self.pickers.setVisible(kind == "kernels")
        self._redraw()

    def _redraw(self) -> None:
        if self.kind == "kernels":
            regime, batch = self.regime.currentText(), int(self.batch.currentText() or 1)
            cats, series = kernel_bars(self.records, regime, batch)
            title = f"time per call, lower is faster ({regime}, batch {batch})"
            pts, roofs = kernel_roofline(self.records, regime, batch)
            set_axis_label(self.bars.plot, "left", "µs per call")
            self.roofline.set_data(pts, roofs, "MB of weights per call")
        else:
            cats, series = e2e_bars(self.records)
            title = "decode tokens/s"
            pts, roofs = e2e_roofline(self.records)
            set_axis_label(self.bars.plot, "left", "tokens/s")
            self.roofline.set_data(pts, roofs, "MB read per token")
        self.bars.set_data(cats, series)
        set_title(self.bars.plot, title)
