"""How responsive the window stays: time to the first paint, and event-loop stalls while
every Compare pane generates at once (``bitnet-studio bench ui``).

The probe is a precise 5 ms QTimer; each firing records the real interval since the last
one, and the stall is that interval minus 5 ms (what a click or a repaint would have waited).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication

from bitnet_studio.errors import StudioError
from bitnet_studio.ui.app import make_app
from bitnet_studio.ui.main_window import DEFAULT_MODELS, MainWindow

PROBE_MS = 5
TARGET_P99_MS = 50.0
TARGET_WINDOW_UP_MS = 2000.0


@dataclass
class UiBenchResult:
    window_up_ms: float
    stalls_ms: list[float] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)
    platform: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_up_ms": round(self.window_up_ms, 1),
            "stall_p50_ms": round(percentile(self.stalls_ms, 50), 2),
            "stall_p99_ms": round(percentile(self.stalls_ms, 99), 2),
            "stall_max_ms": round(max(self.stalls_ms, default=0.0), 2),
            "samples": len(self.stalls_ms),
            "tokens": dict(self.tokens),
            "platform": self.platform,
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Runs a real event loop (no sleeping, which the probe would count as a stall) until
    ``condition()`` holds or ``timeout_s`` passes."""
    if condition():
        return True
    loop = QEventLoop()
    end = time.monotonic() + timeout_s
    poll = QTimer()
    poll.setInterval(20)
    poll.timeout.connect(lambda: (condition() or time.monotonic() > end) and loop.quit())
    poll.start()
    loop.exec()
    poll.stop()
    return condition()


class _FirstPaint(QObject):
    """Notes the time of the window's first paint (or expose, whichever comes first)."""

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if self.at is None and event.type() in (QEvent.Type.Paint, QEvent.Type.Expose):
            self.at = time.perf_counter()
        return False


class _Probe(QObject):
    """A 5 ms timer that records how late each firing came."""

    def __init__(self) -> None:
        super().__init__()
        self.stalls: list[float] = []
        self._last: float | None = None
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.stalls.append(max(0.0, (now - self._last) * 1000 - PROBE_MS))
        self._last = now


def run_ui_bench(
    models: Sequence[str] = DEFAULT_MODELS,
    prompt: str = "What is the capital of France?",
    max_tokens: int = 64,
    backend: str = "native",
    timeout_s: float = 300.0,
    t0: float | None = None,
) -> UiBenchResult:
    """Opens the window on ``models``, times its first paint, then probes the event loop
    while every pane answers ``prompt``. ``t0``: the start (perf_counter) to time from."""
    start = time.perf_counter() if t0 is None else t0
    app = make_app()
    window = MainWindow(models=models, backend=backend)
    painted = _FirstPaint()
    window.installEventFilter(painted)
    window.show_page("compare")
    window.show()
    try:
        if not wait_until(lambda: painted.at is not None, 30.0):
            raise StudioError("bench ui", "the window was never painted")
        assert painted.at is not None
        result = UiBenchResult((painted.at - start) * 1000, platform=app.platformName())
        window.removeEventFilter(painted)
        _measure(window, result, prompt, max_tokens, len(models), timeout_s)
        return result
    finally:
        window.shutdown(timeout_s=30)
        window.close()
        window.deleteLater()
        QApplication.processEvents()


def _measure(
    window: MainWindow,
    result: UiBenchResult,
    prompt: str,
    max_tokens: int,
    n: int,
    timeout_s: float,
) -> None:
    store, compare = window.store, window.compare
    if not wait_until(lambda: not store.is_loading(), timeout_s):
        raise StudioError("bench ui", f"models still loading after {timeout_s:.0f} s")
    if len(store.models()) < n:
        raise StudioError("bench ui", "a model failed to load: " + "; ".join(window.errors))
    compare.sampling.max_tokens.setValue(max_tokens)
    probe = _Probe()
    probe.start()
    try:
        if not compare.send(prompt):
            raise StudioError("bench ui", "the prompt could not be sent")
        if not wait_until(lambda: not compare.is_busy(), timeout_s):
            compare.stop()
            raise StudioError("bench ui", f"generation still running after {timeout_s:.0f} s")
    finally:
        probe.stop()
    compare.flush()
    result.stalls_ms = probe.stalls
    for pane in compare.panes:
        m = pane.model()
        key = m.label if m is not None else f"pane {pane.index + 1}"
        if key in result.tokens:
            key = f"{key} (pane {pane.index + 1})"
        result.tokens[key] = len(pane.turns[-1].tokens) if pane.turns else 0
