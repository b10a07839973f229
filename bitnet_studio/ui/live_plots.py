"""Rolling plots of decode tokens/s and memory, per loaded model.

Memory is each model's own (weights, KV cache at its current context, scratch: what
``Session.memory()`` reports), and the whole process's RSS as one separate dashed line: the
RSS counts every model plus Python and Qt, so it cannot tell two models apart. A flat line
is drawn over a sensible minimum span (not autoscaled into a 0.003 MB range), and the legend
sits under the plots, where it cannot cover a line.

Generation workers (any thread) call :meth:`LivePlots.record`; it only stores the latest
figures under a lock. A GUI-thread timer (10 Hz by default) pushes one sample per series
into preallocated ring buffers and hands the curves, created once per model, a view of them:
nothing grows however long the app runs (the pyqtgraph ``scrollingPlots`` pattern).
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from bitnet_studio.engine.metrics import rss_mb
from bitnet_studio.ui.charts import color_for, make_plot, restyle
from bitnet_studio.ui.theme import mute, plot_colors

PROCESS = "process RSS"
MIN_SPAN = {"tps": 2.0, "mb": 20.0}  # smallest y range shown: tokens/s, MB


class RingBuffer:
    """A fixed number of float samples, oldest first.

    Each value is written twice (at ``i`` and ``i + capacity``) so that :meth:`view` is a
    contiguous slice of the same array: no copy, no allocation per tick.
    """

    def __init__(self, capacity: int, fill: float = np.nan) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._buf = np.full(2 * capacity, fill, np.float64)
        self._next = 0
        self.pushed = 0  # samples pushed so far (not capped)

    def push(self, value: float) -> None:
        i = self._next
        self._buf[i] = self._buf[i + self.capacity] = value
        self._next = (i + 1) % self.capacity
        self.pushed += 1

    def view(self) -> np.ndarray:
        """The last ``capacity`` samples, oldest first (a view: read it, do not keep it)."""
        return self._buf[self._next : self._next + self.capacity]

    def latest(self) -> float:
        return float(self._buf[(self._next - 1) % self.capacity])

    @property
    def nbytes(self) -> int:
        return int(self._buf.nbytes)


@dataclass
class _Latest:
    tps: float = np.nan
    rss: float = np.nan
    at: float = -np.inf  # time.monotonic() of the last record()


@dataclass
class Series:
    label: str
    color: str  # from the model's name: the same in every session
    tps: RingBuffer
    rss: RingBuffer
    tps_curve: pg.PlotDataItem
    rss_curve: pg.PlotDataItem | None


class LivePlots(QWidget):
    """Two rolling plots (tokens/s, MB) over the last ``seconds``, sampled at ``hz``."""

    def __init__(
        self,
        seconds: float = 60.0,
        hz: float = 10.0,
        hold_s: float = 1.5,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.capacity = max(2, round(seconds * hz))
        self.hold_s = hold_s  # a model silent for longer is not decoding: its curve breaks
        self.x = (np.arange(self.capacity) - (self.capacity - 1)) / hz  # seconds ago, fixed
        self.tps_plot = make_plot("decode tokens/s", "tokens/s", "seconds")
        self.rss_plot = make_plot(
            "memory: each model (weights + KV cache + scratch), process RSS", "MB", "seconds"
        )
        for p, span in ((self.tps_plot, MIN_SPAN["tps"]), (self.rss_plot, MIN_SPAN["mb"])):
            p.setXRange(float(self.x[0]), 0.0, padding=0.01)
            p.getPlotItem().enableAutoRange(axis="y")
            p.getPlotItem().setAutoVisible(y=True)
            p.getPlotItem().getViewBox().setLimits(minYRange=span)
        self.legend = QLabel("")
        self.legend.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        mute(self.summary)
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tps_plot, 0, 0)
        lay.addWidget(self.rss_plot, 0, 1)
        lay.addWidget(self.legend, 1, 0, 1, 2)
        lay.addWidget(self.summary, 2, 0, 1, 2)
        self.series: dict[str, Series] = {}
        self._latest: dict[str, _Latest] = {}
        self._lock = threading.Lock()
        self.process = RingBuffer(self.capacity)
        self.process_curve = self.rss_plot.plot([], [], name=PROCESS)
        self.process_curve.theme_pen = ("neutral", 1.5, pg.QtCore.Qt.PenStyle.DashLine)
        restyle(self.rss_plot)
        self._update_legend()
        self.timer = QTimer(self)
        self.timer.setInterval(max(1, round(1000 / hz)))
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    # ---- feed (any thread) ------------------------------------------------------------------
    def record(self, name: str, tokens_per_s: float, memory_mb: float | None = None) -> None:
        """The latest decode speed (and the model's memory, MB) of a model; any thread."""
        with self._lock:
            last = self._latest.setdefault(name, _Latest())
            last.tps = float(tokens_per_s)
            if memory_mb is not None:
                last.rss = float(memory_mb)
            last.at = time.monotonic()

    def record_memory(self, name: str, memory_mb: float) -> None:
        """A model's memory (MB) while it is not decoding (e.g. just loaded); any thread."""
        with self._lock:
            self._latest.setdefault(name, _Latest()).rss = float(memory_mb)

    # ---- series (GUI thread) ------------------------------------------------------------
    def add_series(self, name: str, label: str | None = None) -> Series:
        s = self.series.get(name)
        if s is not None:
            return s
        c = color_for(name, {s.color for s in self.series.values()})
        pen = pg.mkPen(c, width=2)
        s = Series(
            label or name,
            c,
            RingBuffer(self.capacity),
            RingBuffer(self.capacity),
            self.tps_plot.plot([], [], pen=pen, name=label or name),
            self.rss_plot.plot([], [], pen=pen, name=label or name),
        )
        self.series[name] = s
        self._update_legend()
        return s

    def _update_legend(self) -> None:
        """Colour swatches and names under the plots (in-plot legends covered lines)."""
        items = [
            f"<span style='color:{s.color}'>&#9632;</span>&nbsp;{html.escape(s.label)}"
            for s in self.series.values()
        ]
        items.append(
            f"<span style='color:{plot_colors().neutral}'>&#8211;&#8211;</span>&nbsp;"
            "process RSS (every model + Python + Qt)"
        )
        text = "&nbsp;&nbsp;&nbsp; ".join(items)
        if text != self.legend.text():  # (the tick calls it too: it follows the theme)
            self.legend.setText(text)

    def remove_series(self, name: str) -> None:
        s = self.series.pop(name, None)
        with self._lock:
            self._latest.pop(name, None)
        if s is None:
            return
        for plot, curve in ((self.tps_plot, s.tps_curve), (self.rss_plot, s.rss_curve)):
            if curve is not None:
                plot.removeItem(curve)
        self._update_legend()

    def tick(self) -> None:
        """One sample per series; called by the timer (and by tests)."""
        now = time.monotonic()
        with self._lock:
            latest = {k: _Latest(v.tps, v.rss, v.at) for k, v in self._latest.items()}
        for name in latest.keys() - self.series.keys():
            self.add_series(name)
        parts = []
        for name, s in self.series.items():
            last = latest.get(name, _Latest())
            fresh = now - last.at <= self.hold_s
            s.tps.push(last.tps if fresh else np.nan)
            s.rss.push(last.rss)
            s.tps_curve.setData(self.x, s.tps.view(), connect="finite")
            if s.rss_curve is not None:
                s.rss_curve.setData(self.x, s.rss.view(), connect="finite")
            speed = f"{last.tps:.1f} tok/s, " if fresh else ""
            if fresh or np.isfinite(last.rss):
                parts.append(f"{s.label}: {speed}{last.rss:,.1f} MB")
        self.process.push(rss_mb())
        self.process_curve.setData(self.x, self.process.view(), connect="finite")
        parts.append(f"process RSS: {self.process.latest():,.0f} MB")
        self._update_legend()
        self.summary.setText("   |   ".join(parts))

    def stop(self) -> None:
        self.timer.stop()
