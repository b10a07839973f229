"""Evaluate: quality and cost of several models on one text, side by side.

Pick models (the loaded ones and the defaults), a reference and a text; Run scores them on
a worker (``evaluate.run.evaluate_models``: progress per chunk, Cancel between chunks); the
results fill a table, a quality-vs-size chart and a token view shaded by delta loss against
the reference. Export writes CSV or JSON with the text's digest and the files' sha256.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from bitnet_studio.engine.registry import DEFAULT_MODELS
from bitnet_studio.evaluate.cost import ENERGY_SOURCE
from bitnet_studio.evaluate.report import write_csv, write_json
from bitnet_studio.evaluate.run import EvalReport, evaluate_picks
from bitnet_studio.evaluate.texts import BUNDLED
from bitnet_studio.ui.evaluate_views import DeltaLossView, QualitySizeChart, ResultsTable
from bitnet_studio.ui.model_store import ModelStore
from bitnet_studio.ui.workers import Worker, start_worker

NO_REFERENCE = "(none)"
CHOOSE_FILE = "Choose a UTF-8 file..."


class EvaluatePage(QWidget):
    sig_done = Signal(object)
    """EvalReport: a run finished (or was cancelled, with the tokens scored so far)."""
    sig_error = Signal(str, str)
    """(message, details): a run failed (a bad text file, a model that cannot load)."""

    def __init__(self, store: ModelStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.report: EvalReport | None = None
        self.worker: Worker | None = None
        self.error: str | None = None
        self.speeds: dict[str, float] = {}  # decode tokens/s from Measure's feed
        self.text_file: str | None = None
        self._build()
        for name, m in DEFAULT_MODELS.items():
            self._add_model(name, m.label)
        store.sig_loaded.connect(self._on_loaded)
        for m in store.models():
            self._on_loaded(m.name)

    # ---- building ------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_list = QListWidget()
        self.model_list.setMaximumHeight(130)
        self.model_list.itemChanged.connect(lambda _i: self._refresh_reference())
        self.reference_combo = QComboBox()
        self.reference_combo.currentTextChanged.connect(self._reference_changed)
        self.text_combo = QComboBox()
        for key, label in BUNDLED.items():
            self.text_combo.addItem(label, key)
        self.text_combo.addItem(CHOOSE_FILE, "file")
        self.text_combo.activated.connect(self._text_picked)
        self.chars_spin = _spin(0, 10_000_000, 20_000, "all", "characters of each part")
        self.window_spin = _spin(
            0, 65_536, 0, "auto", "tokens per window (auto: the models' context, at most 1024)"
        )
        self.stride_spin = _spin(0, 65_536, 0, "auto", "tokens between windows (auto: half)")
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(lambda: self.run())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.csv_button = QPushButton("Export CSV...")
        self.json_button = QPushButton("Export JSON...")
        self.csv_button.clicked.connect(lambda: self._export_dialog("csv"))
        self.json_button.clicked.connect(lambda: self._export_dialog("json"))
        for b in (self.csv_button, self.json_button):
            b.setEnabled(False)
        self.status = QLabel("Pick models, a reference and a text, then Run.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        grid = QGridLayout()
        grid.addWidget(QLabel("Models"), 0, 0, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.model_list, 0, 1, 3, 1)
        grid.addWidget(QLabel("Reference"), 0, 2)
        grid.addWidget(self.reference_combo, 0, 3)
        grid.addWidget(QLabel("Text"), 1, 2)
        grid.addWidget(self.text_combo, 1, 3)
        grid.addWidget(QLabel("Characters"), 2, 2)
        grid.addWidget(self.chars_spin, 2, 3)
        grid.addWidget(QLabel("Window"), 0, 4)
        grid.addWidget(self.window_spin, 0, 5)
        grid.addWidget(QLabel("Stride"), 1, 4)
        grid.addWidget(self.stride_spin, 1, 5)
        grid.setColumnStretch(1, 2)
        grid.setColumnStretch(3, 2)
        buttons = QHBoxLayout()
        for w in (self.run_button, self.cancel_button):
            buttons.addWidget(w)
        buttons.addWidget(self.progress, 1)
        for w in (self.csv_button, self.json_button):
            buttons.addWidget(w)
        setup = QGroupBox("Evaluate: perplexity, KL against a reference, cost per token")
        lay = QVBoxLayout(setup)
        lay.addLayout(grid)
        lay.addLayout(buttons)
        lay.addWidget(self.status)

        self.table = ResultsTable()
        self.energy_note = QLabel(
            "Energy/token is an ESTIMATE of arithmetic energy, not a measurement: "
            "per-operation energies of BitNet (arXiv 2310.11453) Table 2, 7 nm process "
            "(45 nm in the exports); float multiply-add = FP16 MUL + ADD, ternary linears "
            "INT8 ADD only."
        )
        self.energy_note.setWordWrap(True)
        self.energy_note.setToolTip(ENERGY_SOURCE)
        self.chart = QualitySizeChart()
        self.view_model = QComboBox()
        self.view_model.currentTextChanged.connect(lambda _t: self._show_tokens())
        self.token_view = DeltaLossView()
        self.view_note = QLabel("")
        tokens_box = QWidget()
        tl = QVBoxLayout(tokens_box)
        tl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("Delta loss vs the reference (red: harder, blue: easier) for"))
        head.addWidget(self.view_model, 1)
        tl.addLayout(head)
        tl.addWidget(self.token_view, 1)
        tl.addWidget(self.view_note)

        table_box = QWidget()
        tb = QVBoxLayout(table_box)
        tb.setContentsMargins(0, 0, 0, 0)
        tb.addWidget(self.table, 1)
        tb.addWidget(self.energy_note)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.chart)
        lower.addWidget(tokens_box)
        lower.setSizes([420, 700])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(table_box)
        split.addWidget(lower)
        split.setSizes([200, 490])
        outer = QVBoxLayout(self)
        outer.addWidget(setup)
        outer.addWidget(split, 1)

    # ---- models ----------------------------------------------------------------------------
    def _add_model(self, name: str, label: str, checked: bool = False) -> None:
        for i in range(self.model_list.count()):
            if self.model_list.item(i).data(Qt.ItemDataRole.UserRole) == name:
                return
        item = QListWidgetItem(f"{label}  [{name}]" if label != name else name)
        item.setData(Qt.ItemDataRole.UserRole, name)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
        self.model_list.addItem(item)

    def _on_loaded(self, name: str) -> None:
        m = self.store.get(name)
        if m is not None:
            self._add_model(name, m.label)

    def model_names(self) -> list[str]:
        return [
            self.model_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(self.model_list.count())
        ]

    def checked_models(self) -> list[str]:
        out = []
        for i in range(self.model_list.count()):
            item = self.model_list.item(i)
            if item.checkState() == Qt.CheckState.Checked:
                out.append(item.data(Qt.ItemDataRole.UserRole))
        return out

    def set_checked(self, names: list[str]) -> None:
        for n in names:
            if n not in self.model_names():
                self._add_model(n, n)
        for i in range(self.model_list.count()):
            item = self.model_list.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def _refresh_reference(self) -> None:
        current = self.reference_combo.currentText()
        self.reference_combo.blockSignals(True)
        self.reference_combo.clear()
        self.reference_combo.addItems([NO_REFERENCE, *self.checked_models()])
        idx = self.reference_combo.findText(current)
        self.reference_combo.setCurrentIndex(max(0, idx if idx >= 0 else 1))
        self.reference_combo.blockSignals(False)

    def set_reference(self, name: str | None) -> None:
        self._refresh_reference()
        idx = self.reference_combo.findText(name or NO_REFERENCE)
        if idx < 0:
            raise ValueError(f"{name} is not a checked model")
        self.reference_combo.setCurrentIndex(idx)

    def reference(self) -> str | None:
        t = self.reference_combo.currentText()
        return None if t in ("", NO_REFERENCE) else t

    def _reference_changed(self, _text: str) -> None:
        if self.report is not None and self.report.reference != self.reference():
            self.status.setText("The reference changed: press Run to score against it.")

    def record_speed(self, name: str, tokens_per_s: float, _rss_mb: float = 0.0) -> None:
        """Measure's live feed: the latest decode tokens/s of a model (GUI thread)."""
        if tokens_per_s > 0:
            self.speeds[name] = float(tokens_per_s)

    # ---- text ------------------------------------------------------------------------------
    def _text_picked(self, _index: int) -> None:
        if self.text_combo.currentData() != "file":
            return
        path, _ = QFileDialog.getOpenFileName(self, "Evaluation text", "", "Text (*.txt);;All (*)")
        if path:
            self.set_text_file(path)
        else:
            self.text_combo.setCurrentIndex(0)

    def set_text_file(self, path: str) -> None:
        self.text_file = path
        i = self.text_combo.findData("file")
        self.text_combo.setItemText(i, Path(path).name)
        self.text_combo.setCurrentIndex(i)

    def set_text(self, key: str) -> None:
        """``heldout``, ``prose`` or a file path."""
        if key in BUNDLED:
            self.text_combo.setCurrentIndex(self.text_combo.findData(key))
        else:
            self.set_text_file(key)

    def text_spec(self) -> str:
        key = self.text_combo.currentData()
        return (self.text_file or "") if key == "file" else str(key)

    # ---- running ---------------------------------------------------------------------------
    def running(self) -> bool:
        return self.worker is not None

    def run(self) -> bool:
        """Starts scoring the checked models; False (and a message) if it cannot."""
        if self.worker is not None:
            return False
        names = self.checked_models()
        if not names:
            self.status.setText("Check at least one model.")
            return False
        picks = []
        for n in names:
            m = self.store.get(n)
            if m is not None:
                picks.append((n, m.label, m.weights, m.backend))
            else:
                label = DEFAULT_MODELS[n].label if n in DEFAULT_MODELS else n
                picks.append((n, label, None, "native"))
        self.error = None
        self.progress.setRange(0, 0)
        self.status.setText("starting...")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.worker = start_worker(
            evaluate_picks,
            picks,
            self.text_spec(),
            self.chars_spin.value() or None,
            self.reference(),
            self.window_spin.value() or None,
            self.stride_spin.value() or None,
            on_result=self._on_result,
            on_error=self._on_error,
            on_progress=self._on_progress,
            on_done=self._on_done,
        )
        return True

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.status.setText("cancelling...")

    def _on_progress(self, value: Any) -> None:
        done, total, message = value
        self.progress.setRange(0, max(1, int(total)))
        self.progress.setValue(int(done))
        self.status.setText(str(message))

    def _on_result(self, rep: EvalReport) -> None:
        self.report = rep
        self.table.show_report(rep, self.speeds)
        self.chart.show_report(rep)
        self.view_model.blockSignals(True)
        self.view_model.clear()
        if rep.reference and any(r.name == rep.reference for r in rep.results):
            ref_group = rep.result(rep.reference).group
            others = [r.name for r in rep.results if r.group == ref_group]
            self.view_model.addItems([n for n in others if n != rep.reference])
        self.view_model.blockSignals(False)
        self._show_tokens()
        state = "CANCELLED (partial)" if rep.cancelled else "done"
        plans = sorted({(r.window, r.stride) for r in rep.results}, reverse=True)
        windows = "; ".join(f"window {w}, stride {st}" for w, st in plans)
        self.status.setText(
            f"{state}: {rep.text.label}, {rep.text.n_bytes} bytes (sha256 "
            f"{rep.text.sha256[:12]}...), {windows}, {rep.seconds:.1f} s"
        )
        for b in (self.csv_button, self.json_button):
            b.setEnabled(bool(rep.results))
        self.sig_done.emit(rep)

    def _show_tokens(self) -> None:
        rep, name = self.report, self.view_model.currentText()
        if rep is None or not name or not rep.reference:
            self.token_view.clear()
            self.view_note.setText("Choose a reference to see where a model loses.")
            return
        d = self.token_view.show_delta(rep, name)
        total = rep.result(name).tokens
        self.view_note.setText(
            f"{len(d)} of {total} tokens shown; mean delta {d.mean() if len(d) else 0:+.3f} "
            "nats (hover a token for both models' top tokens)"
        )

    def _on_error(self, message: str, _details: str) -> None:
        self.error = message
        self.status.setText(f"error: {message}")
        self.sig_error.emit(message, _details)

    def _on_done(self) -> None:
        w, self.worker = self.worker, None
        if w is not None:
            w.wait()
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.report and not self.report.cancelled else 0)
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    # ---- export ----------------------------------------------------------------------------
    def export(self, path: str | Path, fmt: str | None = None) -> None:
        if self.report is None:
            return
        fmt = fmt or Path(path).suffix.lstrip(".").lower()
        (write_csv if fmt == "csv" else write_json)(self.report, path)
        self.status.setText(f"wrote {path}")

    def _export_dialog(self, fmt: str) -> None:
        if self.report is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export {fmt.upper()}", f"evaluate.{fmt}", f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            self.export(path, fmt)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        w = self.worker
        if w is not None:
            w.cancel()
            w.wait(int(timeout_s * 1000))


def _spin(lo: int, hi: int, value: int, special: str, tip: str) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setValue(value)
    s.setSpecialValueText(special)
    s.setToolTip(tip)
    return s
