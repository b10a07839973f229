"""File > Models…: every loaded model's facts, and opening it on another backend or thread count.

A model is keyed by its source and backend in the store, so "Open" with another backend adds a
second entry (``path@torch``) that the Compare panes can pick next to the first.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bitnet_studio.engine.model_memory import model_memory
from bitnet_studio.engine.registry import BACKENDS, DEFAULT_MODELS
from bitnet_studio.ui.model_store import LoadedModel, ModelStore

COLUMNS = (
    "model",
    "backend",
    "format",
    "architecture",
    "parameters",
    "bits/weight",
    "MB by kind",
    "holds now (MB)",
)


def source_of(m: LoadedModel) -> str | None:
    """What ``ModelStore.load`` can open again: a default's name or a file; None if in memory."""
    spec = m.name.rsplit("@", 1)[0]
    return spec if spec in DEFAULT_MODELS or m.path else None


def holds_now(m: LoadedModel) -> str:
    """What the model holds in memory now: weights, the KV cache of its current context,
    scratch (its own, not the process's RSS); "busy" while it generates."""
    if not m.lock.acquire(blocking=False):
        return "busy (generating)"
    try:
        mem = model_memory(m.session, m.backend, m.weights.config, m.weights_file)
        n = int(getattr(m.session, "n_past", 0) or 0)
    finally:
        m.lock.release()
    return (
        f"{mem.total_at(n) / 1e6:,.1f} (weights {mem.weights / 1e6:,.1f}, "
        f"KV {mem.kv_at(n) / 1e6:,.2f} at {n:,} tokens, scratch {mem.scratch / 1e6:,.1f})"
    )


def facts_row(m: LoadedModel) -> list[str]:
    s = m.summary
    kinds = ", ".join(
        f"{k} {v['bytes'] / 1e6:.1f}" for k, v in sorted(s.get("by_kind", {}).items())
    )
    return [
        m.label,
        m.backend,
        str(s.get("format", "?")),
        str(s.get("architecture", "?")),
        f"{s.get('parameters', 0):,}",
        f"{s.get('bits_per_weight', 0.0):.2f}",
        kinds,
        holds_now(m),
    ]


class ModelManagerDialog(QDialog):
    """A table of loaded models; pick one, a backend and threads, and open it."""

    def __init__(self, store: ModelStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(1000, 320)
        self.store = store
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.backend = QComboBox()
        self.backend.addItems(list(BACKENDS))
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("all cores")
        self.open_button = QPushButton("Open on this backend")
        self.open_button.clicked.connect(self.open_selected)
        self.remove_button = QPushButton("Close model")
        self.remove_button.clicked.connect(self.remove_selected)
        self.status = QLabel("")
        row = QHBoxLayout()
        for w in (
            QLabel("Backend"),
            self.backend,
            QLabel("Threads"),
            self.threads,
            self.open_button,
            self.remove_button,
        ):
            row.addWidget(w)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addLayout(row)
        lay.addWidget(self.status)
        self.table.itemSelectionChanged.connect(self._on_selection)
        for sig in (store.sig_loaded, store.sig_removed):
            sig.connect(lambda _n: self.refresh())
        self.refresh()

    def refresh(self) -> None:
        models = self.store.models()
        self.table.setRowCount(len(models))
        for r, m in enumerate(models):
            for c, text in enumerate(facts_row(m)):
                item = QTableWidgetItem(text)
                if c == 0:
                    item.setData(0x0100, m.name)  # Qt.UserRole: the store's key
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self._on_selection()

    def selected(self) -> LoadedModel | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.store.get(self.table.item(rows[0].row(), 0).data(0x0100))

    def _on_selection(self) -> None:
        m = self.selected()
        self.open_button.setEnabled(m is not None and source_of(m) is not None)
        self.remove_button.setEnabled(m is not None)
        if m is not None:
            self.backend.setCurrentText(m.backend)
            self.threads.setValue(m.threads or 0)
            if source_of(m) is None:
                self.status.setText("built in memory (e.g. a PTQ twin): it cannot be reopened")

    def open_selected(self) -> str | None:
        m = self.selected()
        spec = source_of(m) if m is not None else None
        if spec is None:
            return None
        backend, threads = self.backend.currentText(), self.threads.value() or None
        name = self.store.load(spec, backend, threads)
        self.status.setText(f"opening {spec} on {backend}…")
        return name

    def remove_selected(self) -> None:
        m = self.selected()
        if m is not None:
            self.store.remove(m.name)
