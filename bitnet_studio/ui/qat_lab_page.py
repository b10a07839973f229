"""QAT lab: the vanilla, the 1-bit BitNet and the b1.58 twin trained side by side, live, on the
bundled corpus, each at its own peak LR.

``train.lab.QatLab`` builds the three trainers (a BPE tokenizer and the tokenized corpus first:
seconds) and steps them in turn on a worker thread. Its step events go into a locked list;
a 10 Hz timer on the GUI thread moves them into the chart and the status lines, so the event
loop sees at most ten redraws a second however fast the steps are. Pause, Resume and Stop go
through the trainer's ``Control``; a cancelled worker (window close) stops as Stop does.
The Qt-free half (the worker body, the status figures) is ``lab_worker``.
Before a run the page shows its expected time: one round of the three twins' steps is timed
on a worker (``train.lab.measure_round``) and scaled by the steps in the box.

``bitnet_studio.train`` imports PyTorch (seconds), so it is imported on a worker the first
time the page is shown, never while the window starts.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from bitnet_studio.ui import lab_worker
from bitnet_studio.ui.event_sink import EventSink
from bitnet_studio.ui.lab_worker import LabStatus, clock, make_control, run_lab
from bitnet_studio.ui.loss_plot import VARIANT_LABELS, LossPlot, variant_color
from bitnet_studio.ui.workers import Worker, start_worker

if TYPE_CHECKING:
    from bitnet_studio.train.recipe import Recipe
    from bitnet_studio.train.trainer import Control, StepEvent

FLUSH_MS = 100
EXPLAIN = (
    "Same recipe, data and seed; only the linear layers differ, and each twin trains at the "
    "peak LR a sweep picked for it. The BitNet twin computes with 1-bit weights (−1, +1), the "
    "b1.58 twin with ternary ones (−1, 0, +1), from their first step and learn through them: "
    "a little behind per step, their curves follow the vanilla one down. Ternarizing a "
    "trained vanilla model afterwards breaks it instead: <a href='pair:smollm2'>SmolLM2 vs "
    "its naive ternary twin</a>; <a href='pair:trained'>the Shakespeare twins trained for "
    "longer</a>."
)


class QatLabPage(QWidget):
    """Steps and seed, Start / Pause / Stop, a status line per twin and the loss chart."""

    sig_finished = Signal(bool)
    """A run ended: True when every twin finished, False when stopped or failed."""
    sig_error = Signal(str, str)
    """(message, details): the run failed (the window shows it)."""
    sig_load_pair = Signal(str)
    """A ``pages.PAIRS`` key: the user asked to load that pair into Compare."""

    def __init__(self, recipe: Recipe | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.recipe = recipe
        self.lrs: dict[str, float] = {}
        self.round_s: float | None = None  # one measured round of the three twins' steps
        self._measurer: Worker | None = None
        self.worker: Worker | None = None
        self.control: Control | None = None
        self.error: str | None = None
        self.finished: bool | None = None  # the last run's outcome
        self.status = LabStatus()
        self._sink: EventSink[StepEvent] = EventSink()
        self._steps = 0
        self._t0 = 0.0
        self._phase = ""
        self._loader: Worker | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(FLUSH_MS)
        self.timer.timeout.connect(self.flush)
        self._build()
        self._update_buttons()
        if recipe is not None:
            self.set_recipe(recipe)

    def _build(self) -> None:
        self.steps_box = QSpinBox()
        # 0 stands for "not known yet" (PyTorch loading): the box says so, not "1 steps"
        self.steps_box.setRange(0, 100_000)
        self.steps_box.setSpecialValueText("loading…")
        self.steps_box.setSuffix(" steps")
        self.steps_box.valueChanged.connect(self._show_expected)
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(lambda: self.start())
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.state = QLabel("")
        row = QHBoxLayout()
        for w in (QLabel("Train"), self.steps_box, QLabel("seed"), self.seed_box):
            row.addWidget(w)
        for b in (self.start_button, self.pause_button, self.stop_button):
            row.addWidget(b)
        row.addWidget(self.state, 1)
        self.expected = QLabel("")
        row.addWidget(self.expected)
        self.explain = QLabel(EXPLAIN)
        self.explain.setWordWrap(True)
        self.explain.linkActivated.connect(self._on_link)
        self.lines: dict[str, QLabel] = {}
        self.names: dict[str, QLabel] = {}
        status = QGridLayout()
        for i, variant in enumerate(VARIANT_LABELS):
            self.names[variant] = name = QLabel(self._name(variant))
            self.lines[variant] = QLabel("–")
            status.addWidget(name, i, 0)
            status.addWidget(self.lines[variant], i, 1)
        status.setColumnStretch(1, 1)
        self.plot = LossPlot()
        lay = QGridLayout(self)
        lay.addLayout(row, 0, 0)
        lay.addWidget(self.explain, 1, 0)
        lay.addLayout(status, 2, 0)
        lay.addWidget(self.plot, 3, 0)
        lay.setRowStretch(3, 1)

    def _name(self, variant: str) -> str:
        lr = self.lrs.get(variant)
        return (
            f"<span style='color:{variant_color(variant)}'>&#9632;</span> "
            f"<b>{VARIANT_LABELS[variant]}</b>" + (f" · peak LR {lr:g}" if lr else "")
        )

    # -- the recipe (PyTorch is imported on a worker) -----------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.recipe is None and self._loader is None:
            self.state.setText("loading PyTorch…")
            self._loader = start_worker(
                lab_worker.load_recipe, on_result=self._on_recipe, on_error=self._on_error
            )

    def _on_recipe(self, recipe: Recipe) -> None:
        if self.recipe is None:  # (start() may have imported it meanwhile)
            self.set_recipe(recipe)

    def set_recipe(self, recipe: Recipe, lrs: dict[str, float] | None = None) -> None:
        """The recipe Start trains (default: ``train.recipe.LAB``) and each twin's peak LR
        (default: the lab's swept ones); the boxes take its steps and seed, and a worker
        times one round for the expected time."""
        self.recipe = recipe
        self.lrs = dict(lab_worker.lab_lrs() if lrs is None else lrs)
        for variant, name in self.names.items():
            name.setText(self._name(variant))
        self.steps_box.setSpecialValueText("")
        self.steps_box.setMinimum(1)
        self.steps_box.setValue(recipe.steps)
        self.seed_box.setValue(recipe.seed)
        s = recipe.shape
        self.steps_box.setToolTip(
            f"{recipe.tokens_per_step:,} tokens per step; model: hidden {s.hidden_size}, "
            f"{s.n_layers} layers, context {s.context}, vocabulary {s.vocab_size}"
        )
        if not self.running():
            self.state.setText("Press Start to train the three twins.")
        self._update_buttons()
        self.round_s = None
        self._show_expected()
        if self._measurer is None:
            self._measurer = start_worker(
                lab_worker.measure_round,
                recipe,
                on_result=self._on_measured,
                on_error=lambda _m, _d: None,  # no estimate then; training still works
                on_done=self._on_measure_done,
            )

    def _on_measured(self, round_s: float | None) -> None:
        if round_s is not None:
            self.round_s = float(round_s)
            self._show_expected()

    def _on_measure_done(self) -> None:
        w, self._measurer = self._measurer, None
        if w is not None:
            w.wait()

    def expected_s(self) -> float | None:
        """The expected training time of a run of the box's steps, once a round is timed."""
        if self.recipe is None or self.round_s is None:
            return None
        recipe = replace(self.recipe, steps=self.steps_box.value())
        return lab_worker.expected_seconds(recipe, self.round_s)

    def _show_expected(self, *_args: object) -> None:
        if self.recipe is None:
            self.expected.setText("")
            return
        seconds = self.expected_s()
        self.expected.setText(
            "timing one round…" if seconds is None else f"expected ≈ {clock(seconds)}"
        )
        if seconds is not None:
            self.expected.setToolTip(
                f"{self.round_s:.2f} s per round of three steps measured on this machine, "
                f"times {self.steps_box.value()} steps, plus the held-out evaluations; "
                "tokenizing the corpus first takes a few seconds more"
            )

    # -- running ------------------------------------------------------------------------------
    def running(self) -> bool:
        return self.worker is not None

    def paused(self) -> bool:
        return self.control is not None and not self.control.running.is_set()

    def start(self, steps: int | None = None, seed: int | None = None) -> bool:
        """A fresh run of ``steps`` (default: the box's) steps per twin; False if one runs."""
        if self.running():
            return False
        if self.recipe is None:
            self.set_recipe(lab_worker.load_recipe(lambda _v: None, lambda: False))
        assert self.recipe is not None
        if steps is not None:
            self.steps_box.setValue(steps)
        if seed is not None:
            self.seed_box.setValue(seed)
        recipe = replace(self.recipe, steps=self.steps_box.value(), seed=self.seed_box.value())
        self.control = make_control()
        self._sink, self.status = EventSink(), LabStatus()
        self.error, self.finished = None, None
        self._steps, self._t0 = recipe.steps, time.monotonic()
        self.plot.reset(recipe.steps)
        for line in self.lines.values():
            line.setText(f"step 0/{recipe.steps}")
        self._phase = "starting…"
        self.state.setText(self._phase)
        self.worker = start_worker(
            run_lab,
            recipe,
            self.control,
            self._sink,
            self.lrs,
            on_progress=self._on_phase,
            on_result=self._on_result,
            on_error=self._on_error,
            on_done=self._on_done,
        )
        self.timer.start()
        self._update_buttons()
        return True

    def toggle_pause(self) -> None:
        if self.paused():
            self.resume()
        else:
            self.pause()

    def pause(self) -> None:
        if self.control is not None and self.running():
            self.control.pause()
            self.flush()
            self._show_paused()
            self._update_buttons()

    def _show_paused(self) -> None:
        """The step every twin has reached; the round in flight when Pause was pressed still
        ends, and ``flush`` calls this again as its events arrive."""
        self.state.setText(f"paused at step {self.status.step()}/{self._steps}")
        self._redraw_lines(eta=False)

    def _redraw_lines(self, eta: bool) -> None:
        for variant, label in self.lines.items():
            if variant in self.status.last:
                label.setText(self.status.line(variant, self.plot.series[variant].heldout, eta))

    def resume(self) -> None:
        if self.control is not None and self.running():
            self.control.resume()
            self.state.setText(self._phase)
            self._update_buttons()

    def stop(self) -> None:
        if self.control is not None and self.running():
            self.control.request_stop()
            self.state.setText("stopping…")
            self.stop_button.setEnabled(False)

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Stops the run and waits for its worker (window close, tests); True if it ended."""
        self.stop()
        w, m = self.worker, self._measurer
        if m is not None:
            m.cancel()
        ok = w is None or w.wait(int(timeout_s * 1000))
        ok = (m is None or m.wait(int(timeout_s * 1000))) and ok
        self.timer.stop()
        return ok

    def _update_buttons(self) -> None:
        running = self.running()
        self.start_button.setEnabled(not running and self.recipe is not None)
        self.steps_box.setEnabled(not running and self.recipe is not None)
        self.seed_box.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Resume" if self.paused() else "Pause")
        self.stop_button.setEnabled(running)

    # -- the timer ----------------------------------------------------------------------------
    def flush(self) -> bool:
        """Moves the waiting step events into the chart and the status lines."""
        events = self._sink.take()
        for ev in events:
            self.plot.add(ev.variant, ev.step, ev.loss, ev.eval_loss)
            self.status.add(ev)
        if events:
            self.plot.redraw()
            if self.paused():
                self._show_paused()
            else:
                self._redraw_lines(eta=True)
        return bool(events)

    def _on_phase(self, phase: object) -> None:
        self._phase = str(phase)
        if not self.paused():
            self.state.setText(self._phase)

    def _on_result(self, finished: bool) -> None:
        self.finished = bool(finished)

    def _on_error(self, message: str, details: str) -> None:
        self.error = message
        self.state.setText(f"error: {message}")
        self.sig_error.emit(message, details)

    def _on_done(self) -> None:
        w, self.worker = self.worker, None
        if w is not None:
            w.wait()  # sig_done comes just before the thread ends
        self.timer.stop()
        self.flush()
        self._redraw_lines(eta=False)  # nothing runs any more: no time left to show
        took = clock(time.monotonic() - self._t0)
        if self.error is None:
            if self.finished:
                self.state.setText(f"done: {self._steps} steps per twin in {took}")
            else:
                self.state.setText(
                    f"stopped at step {self.status.step()}/{self._steps} after {took}; "
                    "Start begins a fresh run"
                )
        self._update_buttons()
        self.sig_finished.emit(bool(self.finished))

    def _on_link(self, href: str) -> None:
        if href.startswith("pair:"):
            self.sig_load_pair.emit(href.split(":", 1)[1])
