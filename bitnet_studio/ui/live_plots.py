"""Rolling plots of decode tokens/s and resident memory, per loaded model.

Generation workers (any thread) call :meth:`LivePlots.record`; it only stores the latest
figures under a lock. A GUI-thread timer (10 Hz by default) pushes one sample per series
into preallocated ring buffers and hands the curves, created once per model, a view of them:
nothing grows however long the app runs (the pyqtgraph ``scrollingPlots`` pattern).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from bitnet_studio.engine.metrics import rss_mb
from bitnet_studio.ui.charts import color_for, make_plot

PROCESS = "process RSS"


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
        self.rss_plot = make_plot("resident memory", "MB", "seconds")
        for p in (self.tps_plot, self.rss_plot):
            p.getPlotItem().addLegend(offset=(5, 5), labelTextColor="#222")
            p.setXRange(float(self.x[0]), 0.0, padding=0.01)
            p.getPlotItem().enableAutoRange(axis="y")
            p.getPlotItem().setAutoVisible(y=True)
        self.summary = QLabel("")
        self.summary.setStyleSheet("color:#444")
        lay = QGridLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tps_plot, 0, 0)
        lay.addWidget(self.rss_plot, 0, 1)
        lay.addWidget(self.summary, 1, 0, 1, 2)
        self.series: dict[str, Series] = {}
        self._latest: dict[str, _Latest] = {}
        self._lock = threading.Lock()
        self.process = RingBuffer(self.capacity)
        pen = pg.mkPen("#888", width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)
        self.process_curve = self.rss_plot.plot([], [], pen=pen, name=PROCESS)
        self.timer = QTimer(self)
        self.timer.setInterval(max(1, round(1000 / hz)))
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    # ---- feed (any thread) ------------------------------------------------------------------
    def record(self, name: str, tokens_per_s: float, rss_mb_value: float | None = None) -> None:
        """The latest decode speed (and memory, MB) of a model; safe from any thread."""
        with self._lock:
            last = self._latest.setdefault(name, _Latest())
            last.tps = float(tokens_per_s)
            if rss_mb_value is not None:
                last.rss = float(rss_mb_value)
            last.at = time.monotonic()

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
        return s

    def remove_series(self, name: str) -> None:
        s = self.series.pop(name, None)
        with self._lock:
            self._latest.pop(name, None)
        if s is None:
            return
        for plot, curve in ((self.tps_plot, s.tps_curve), (self.rss_plot, s.rss_curve)):
            if curve is not None:
                plot.getPlotItem().legend.removeItem(curve)
                plot.removeItem(curve)

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
            if fresh:
                parts.append(f"{s.label}: {last.tps:.1f} tok/s")
        self.process.push(rss_mb())
        self.process_curve.setData(self.x, self.process.view(), connect="finite")
        parts.append(f"process: {self.process.latest():,.0f} MB resident")
        self.summary.setText("   |   ".join(parts))

    def stop(self) -> None:
        self.timer.stop()
