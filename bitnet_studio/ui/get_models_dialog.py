"""File > Get models…: the hub catalog, one download at a time on a worker thread."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bitnet_studio import hub
from bitnet_studio.ui.model_store import ModelStore
from bitnet_studio.ui.workers import Worker, start_worker

COLUMNS = ("Model", "Size", "Kind", "License", "Downloaded")


def _download_work(
    progress: Callable[[Any], None],
    cancel: Callable[[], bool],
    entry: hub.HubModel,
    dest_root: str | None,
) -> Path | None:
    """On the worker thread: the download, or None when the user cancelled it."""
    try:
        return hub.download(entry, dest_root, lambda d, t, m: progress((d, t, m)), cancel)
    except hub.DownloadCancelled:
        return None


class GetModelsDialog(QDialog):
    """Lists ``hub.CATALOG``; Download fetches the selected model, Open loads it in ``store``."""

    def __init__(
        self,
        store: ModelStore,
        parent: QWidget | None = None,
        dest_root: str | Path | None = None,
        backend: str = "native",
        threads: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Get models")
        self.resize(760, 360)
        self.store, self.backend, self.threads = store, backend, threads
        self.dest_root = str(dest_root) if dest_root is not None else None
        self.worker: Worker | None = None
        self.paths: dict[str, Path] = {}  # repo id -> path to open, once downloaded
        self.opened: list[str] = []  # the store names Open started loading

        self.table = QTableWidget(len(hub.CATALOG), len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = QLabel("Pick a model to download.")
        self.status.setWordWrap(True)
        self.download_button = QPushButton("&Download")
        self.cancel_button = QPushButton("&Cancel")
        self.open_button = QPushButton("&Open")
        self.close_button = QPushButton("Close")
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.open_button.clicked.connect(self.open_selected)
        self.close_button.clicked.connect(self.close)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        buttons = QHBoxLayout()
        for b in (self.download_button, self.cancel_button, self.open_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.refresh()
        self.table.selectRow(0)

    # -- state --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-reads which catalog models are in the cache (no network)."""
        for row, entry in enumerate(hub.CATALOG):
            path = hub.is_downloaded(entry, self.dest_root)
            if path is not None:
                self.paths[entry.repo_id] = path
            cells = (entry.name, entry.size_text, entry.kind, entry.license)
            cells += ("yes" if entry.repo_id in self.paths else "no",)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(entry.repo_id)
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self._update_buttons()

    def selected(self) -> hub.HubModel | None:
        rows = self.table.selectionModel().selectedRows()
        return hub.CATALOG[rows[0].row()] if rows else None

    def select(self, repo_id: str) -> None:
        self.table.selectRow([e.repo_id for e in hub.CATALOG].index(repo_id))

    def is_busy(self) -> bool:
        return self.worker is not None

    def _update_buttons(self) -> None:
        entry = self.selected()
        busy = self.is_busy()
        self.download_button.setEnabled(entry is not None and not busy)
        self.cancel_button.setEnabled(busy)
        self.open_button.setEnabled(entry is not None and entry.repo_id in self.paths)

    # -- actions ------------------------------------------------------------------------------
    def start_download(self) -> None:
        entry = self.selected()
        if entry is None or self.is_busy():
            return
        self.progress.setValue(0)
        self.status.setText(f"Downloading {entry.repo_id}…")
        self.worker = start_worker(
            _download_work,
            entry,
            self.dest_root,
            on_result=lambda path: self._finished(entry, path),
            on_error=self._failed,
            on_progress=self._on_progress,
            on_done=self._done,
        )
        self._update_buttons()

    def cancel_download(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.setText("Cancelling…")

    def open_selected(self) -> str | None:
        """Loads the selected downloaded model in the store; returns the store's name."""
        entry = self.selected()
        path = self.paths.get(entry.repo_id) if entry is not None else None
        if path is None:
            return None
        name = self.store.load(str(path), self.backend, self.threads)
        self.opened.append(name)
        self.status.setText(f"Opening {entry.name if entry else path}…")
        return name

    # -- worker signals (GUI thread) ----------------------------------------------------------
    def _on_progress(self, value: Any) -> None:
        done, total, message = value
        self.progress.setValue(int(1000 * done / max(total, 1)))
        self.status.setText(f"{message}: {done / 1e6:.1f} / {total / 1e6:.1f} MB")

    def _finished(self, entry: hub.HubModel, path: Path | None) -> None:
        if path is None:
            self.status.setText(
                f"Cancelled {entry.repo_id}; finished files stay cached, Download resumes."
            )
            return
        self.paths[entry.repo_id] = path
        self.progress.setValue(self.progress.maximum())
        self.status.setText(f"Downloaded {entry.repo_id}. Open loads it.")
        self.refresh()

    def _failed(self, message: str, _details: str) -> None:
        self.status.setText(message)

    def _done(self) -> None:
        self.worker = None
        self._update_buttons()

    def shutdown(self, timeout_s: float = 20.0) -> bool:
        """Cancels and waits for the download, if any."""
        worker = self.worker
        if worker is None:
            return True
        worker.cancel()
        return bool(worker.wait(int(timeout_s * 1000)))

    def closeEvent(self, event: Any) -> None:
        self.shutdown()
        super().closeEvent(event)
