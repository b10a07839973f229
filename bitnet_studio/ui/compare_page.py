"""Compare: one prompt, every pane answers at once, streaming, with the same settings.

One ~30 Hz timer drives all panes while any is busy: it flushes their buffered tokens and
looks for the first token where two answers part (panes whose models share a vocabulary).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from bitnet_studio.ui.chat_pane import ChatPane
from bitnet_studio.ui.export import build_export, write_export
from bitnet_studio.ui.model_store import LoadedModel, ModelStore
from bitnet_studio.ui.sampling_panel import SamplingPanel

FLUSH_MS = 33
MAX_PANES = 4
_VOCAB_KEYS: dict[int, str] = {}


def vocab_key(m: LoadedModel) -> str:
    """Equal for models whose token ids mean the same text (cached per tokenizer)."""
    k = id(m.tokenizer)
    if k not in _VOCAB_KEYS:
        _VOCAB_KEYS[k] = hashlib.sha1(m.tokenizer.hf.to_str().encode()).hexdigest()
    return _VOCAB_KEYS[k]


class ComparePage(QWidget):
    """Panes side by side, a shared prompt box and shared sampling settings."""

    sig_busy_changed = Signal(bool)
    """True when the first pane starts, False when the last one ends."""
    sig_metrics = Signal(str, float, float)
    """model name, decode tokens/s, resident MB, relayed from every pane (for Measure)."""

    def __init__(self, store: ModelStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.panes: list[ChatPane] = []
        self.sampling = SamplingPanel()
        self.timer = QTimer(self)
        self.timer.setInterval(FLUSH_MS)
        self.timer.timeout.connect(self.flush)

        self.pane_split = QSplitter(Qt.Orientation.Horizontal)
        self.pane_split.setChildrenCollapsible(False)
        holder = QWidget()
        holder_lay = QVBoxLayout(holder)
        holder_lay.setContentsMargins(0, 0, 0, 0)
        holder_lay.addWidget(self.sampling)
        holder_lay.addStretch(1)
        side = QScrollArea()
        side.setWidget(holder)
        side.setWidgetResizable(True)
        side.setMinimumWidth(240)
        side.setMaximumWidth(360)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.pane_split)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        split.setChildrenCollapsible(False)

        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText("Ask every model at once (Ctrl+Enter to send, Esc to stop)")
        self.prompt.setMaximumHeight(80)
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.regen_button = QPushButton("Regenerate")
        self.regen_button.clicked.connect(self.regenerate)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("New chat in every pane (Ctrl+N)")
        self.clear_button.clicked.connect(self.clear)
        self.export_md = QToolButton(text="Export Markdown…")
        self.export_md.clicked.connect(lambda: self.export_dialog("md"))
        self.export_json = QToolButton(text="Export JSON…")
        self.export_json.clicked.connect(lambda: self.export_dialog("json"))
        self.add_button = QToolButton(text="Add pane")
        self.add_button.clicked.connect(self.add_pane)
        buttons = QVBoxLayout()
        for b in (self.send_button, self.stop_button):
            buttons.addWidget(b)
        row = QHBoxLayout()
        row.addWidget(self.prompt, 1)
        row.addLayout(buttons)
        tools = QHBoxLayout()
        for w in (self.regen_button, self.clear_button, self.export_md, self.export_json):
            tools.addWidget(w)
        tools.addStretch(1)
        tools.addWidget(self.add_button)

        lay = QVBoxLayout(self)
        lay.addWidget(split, 1)
        lay.addLayout(tools)
        lay.addLayout(row)
        for _ in range(2):
            self.add_pane()
        self._update_buttons()

    # -- panes --------------------------------------------------------------------------------
    def add_pane(self) -> ChatPane | None:
        if len(self.panes) >= MAX_PANES:
            return None
        pane = ChatPane(self.store, len(self.panes))
        pane.sig_finished.connect(self._on_pane_finished)
        pane.sig_metrics.connect(self.sig_metrics)
        self.panes.append(pane)
        self.pane_split.addWidget(pane)
        self.add_button.setEnabled(len(self.panes) < MAX_PANES)
        return pane

    def is_busy(self) -> bool:
        return any(p.is_busy() for p in self.panes)

    def _update_buttons(self) -> None:
        busy = self.is_busy()
        self.stop_button.setEnabled(busy)
        self.send_button.setEnabled(not busy)
        self.regen_button.setEnabled(not busy)

    def _started(self, started: list[bool]) -> None:
        if any(started):
            self.timer.start()
            self._update_buttons()
            self.sig_busy_changed.emit(True)

    def _on_pane_finished(self, _index: int) -> None:
        self.flush()
        self.mark_partings()  # the pane flushed its last tokens itself: flush() saw none
        if not self.is_busy():
            self.timer.stop()
            self._update_buttons()
            self.sig_busy_changed.emit(False)
            self._give_back_failed_message()

    def _give_back_failed_message(self) -> None:
        """When every pane refused the last message (e.g. too long for the context), it goes
        back into the empty prompt box, so the user can shorten it and send it again."""
        asked = [p for p in self.panes if p.turns]
        if (
            asked
            and all(p.turns[-1].failed for p in asked)
            and not self.prompt.toPlainText().strip()
        ):
            self.prompt.setPlainText(asked[0].turns[-1].user)

    # -- actions ------------------------------------------------------------------------------
    def send(self, text: str | None = None) -> bool:
        """Sends the prompt box's text (or ``text``) to every pane with a model."""
        msg = (text if isinstance(text, str) else self.prompt.toPlainText()).strip()
        if not msg or self.is_busy():
            return False
        params, system = self.sampling.params(), self.sampling.system()
        started = [p.send(msg, params, system) for p in self.panes]
        if any(started):
            self.prompt.clear()
        self._started(started)
        return any(started)

    def regenerate(self) -> bool:
        if self.is_busy():
            return False
        params, system = self.sampling.params(), self.sampling.system()
        started = [p.regenerate(params, system) for p in self.panes]
        self._started(started)
        return any(started)

    def stop(self) -> None:
        for p in self.panes:
            p.stop()

    def clear(self) -> None:
        for p in self.panes:
            p.clear()
        self._update_buttons()

    def export(self, path: str | Path) -> None:
        """Writes the comparison: JSON for ``*.json``, Markdown otherwise."""
        write_export(path, build_export(self.panes, self.sampling.system()))

    def export_dialog(self, fmt: str) -> None:
        filt = "JSON (*.json)" if fmt == "json" else "Markdown (*.md)"
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison", f"comparison.{fmt}", filt)
        if path:
            self.export(path)

    # -- the timer ----------------------------------------------------------------------------
    def flush(self) -> None:
        changed = [p.flush() for p in self.panes]
        if any(changed):
            self.mark_partings()

    def mark_partings(self) -> None:
        """Marks, in each pane, the first token where its answer parts from another's."""
        for pane in self.panes:
            m = pane.model()
            if m is None or not pane.turns:
                continue
            other = self._reference(pane, m)
            if other is None:
                continue
            mine, theirs = pane.turns[-1].tokens, other.turns[-1].tokens
            k = next(
                (i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a.id != b.id),
                None,
            )
            if k is None or mine[k].note:
                continue
            om = other.model()
            name = om.label if om else f"pane {other.index + 1}"
            t, o = mine[k], theirs[k]
            own_p = dict(t.top).get(o.id)
            said = f"{own_p:.0%}" if own_p is not None else "not in its top"
            pane.view.mark_parting(
                t,
                f"answers part here: {name} picked {pane.view.token_text(o.id)!r} "
                f"(p = {o.p:.0%} there; this model: {said})",
            )

    def _reference(self, pane: ChatPane, m: LoadedModel) -> ChatPane | None:
        """The first other pane with a model of the same vocabulary and as many turns."""
        for other in self.panes:
            om = other.model()
            if (
                other is not pane
                and om is not None
                and len(other.turns) == len(pane.turns)
                and vocab_key(om) == vocab_key(m)
            ):
                return other
        return None
