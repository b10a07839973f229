"""Inspect: a model's tensors, their histograms, tiles and statistics, scales along depth,
bytes by component, and a "ternarize this" preview (one tensor, or the whole model as a
PTQ twin that joins the ModelStore).

All statistics run on worker threads (``ui.workers``); the numbers come from
``bitnet_studio.inspect`` and the page only draws them. What it drew stays readable as
attributes: ``histogram_counts``, ``view``, ``preview``, ``profile``, ``bytes``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bitnet_studio.inspect.ptq_preview import TernarizePreview, ternarize_preview
from bitnet_studio.inspect.summary import nonfinite_warning
from bitnet_studio.inspect.views import (
    DepthProfile,
    TensorView,
    component_bytes,
    depth_profile,
    tensor_groups,
    tensor_view,
)
from bitnet_studio.models.ptq import is_linear, ternarize_model
from bitnet_studio.models.weights import ModelWeights
from bitnet_studio.ui.charts import BarChart, HistogramPlot
from bitnet_studio.ui.inspect_widgets import NAME_ROLE, DepthPlots, StatsBox, TensorTree, TileView
from bitnet_studio.ui.model_store import LoadedModel, ModelStore, open_weights
from bitnet_studio.ui.workers import Worker, start_worker

TWIN_SUFFIX = "+ptq"


def _has_float_linears(w: ModelWeights) -> bool:
    return any(is_linear(n) and isinstance(t, np.ndarray) for n, t in w.tensors.items())


def build_twin(
    progress: Callable[[Any], None], cancel: Callable[[], bool], source: LoadedModel
) -> LoadedModel:
    """The PTQ twin of ``source``, opened on its backend (llama.cpp's: native), off the GUI
    thread."""
    progress("ternarizing every projection")
    twin = ternarize_model(source.weights)
    if cancel():
        raise RuntimeError("cancelled")
    progress("opening")
    backend = "native" if source.backend == "llamacpp" else source.backend
    return open_weights(
        twin,
        name=source.name + TWIN_SUFFIX,
        label=f"{source.label}, naive ternary (PTQ)",
        backend=backend,
        threads=source.threads,
    )


def _human_bytes(n: float) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n:.0f} B"


class InspectPage(QWidget):
    """Pick a model and a tensor; see what ternary weights look like and what PTQ does."""

    sig_twin_added = Signal(str)
    """name: a PTQ twin was built and added to the store."""
    sig_status = Signal(str)
    """A line for the status bar."""

    def __init__(self, models: ModelStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = models
        self.view: TensorView | None = None
        self.preview: TernarizePreview | None = None
        self.profile: DepthProfile | None = None
        self.bytes: dict[str, int] = {}
        self.current_model: str | None = None
        self.current_tensor: str | None = None
        self.last_twin: str | None = None
        self._workers: set[Worker] = set()
        self._token = {"tensor": 0, "depth": 0, "preview": 0}
        self._build()
        models.sig_loaded.connect(self._on_loaded)
        models.sig_removed.connect(self._on_removed)
        for m in models.models():
            self._on_loaded(m.name)

    # ---- layout -------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_combo = QComboBox()
        self.model_combo.setMinimumContentsLength(28)
        self.model_combo.currentIndexChanged.connect(self._on_model_index)
        self.context_spin = QSpinBox()
        self.context_spin.setRange(1, 1 << 20)
        self.context_spin.setSingleStep(256)
        self.context_spin.setSuffix(" tokens")
        self.context_spin.setToolTip("context length the KV cache bar is drawn for")
        self.context_spin.valueChanged.connect(self._update_bytes)
        self.twin_button = QPushButton("Ternarize whole model")
        self.twin_button.setToolTip(
            "absmean-ternarize every projection (naive PTQ) and add the twin to the models"
        )
        self.twin_button.clicked.connect(self.ternarize_model)
        self.status = QLabel("")
        self.status.setStyleSheet("color:#555")
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_combo, 1)
        top.addWidget(QLabel("KV context"))
        top.addWidget(self.context_spin)
        top.addWidget(self.twin_button)

        # the model-level summary's warning (non-finite weights): empty and hidden when fine
        self.warning = QLabel("")
        self.warning.setObjectName("warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("font-weight: bold")
        self.warning.setVisible(False)

        self.tree = TensorTree()
        self.tree.currentItemChanged.connect(self._on_tree_item)

        self.hist = HistogramPlot("values")
        self.hist_after = HistogramPlot("after absmean ternarization")
        self.hist_after.plot.setXLink(self.hist.plot)
        self.hist_after.hide()
        self.stats_box = StatsBox()
        self.tile = TileView()
        self.ternarize_button = QPushButton("Ternarize this tensor")
        self.ternarize_button.setEnabled(False)
        self.ternarize_button.clicked.connect(self.ternarize_tensor)
        self.preview_label = QLabel("")
        self.preview_label.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(self.stats_box)
        side.addWidget(self.ternarize_button)
        side.addWidget(self.preview_label)
        side.addStretch(1)
        tensor_tab = QWidget()
        grid = QGridLayout(tensor_tab)
        grid.addWidget(self.hist, 0, 0)
        grid.addWidget(self.hist_after, 0, 1)
        grid.addWidget(self.tile, 1, 0)
        grid.addLayout(side, 1, 1)
        grid.setRowStretch(0, 1)
        grid.setRowStretch(1, 1)

        self.depth = DepthPlots()
        self.bytes_chart = BarChart("bytes by component", "size", "B", _human_bytes)
        model_tab = QWidget()
        mlay = QVBoxLayout(model_tab)
        mlay.addWidget(self.depth, 3)
        mlay.addWidget(self.bytes_chart, 2)

        self.tabs = QTabWidget()
        self.tabs.addTab(tensor_tab, "Tensor")
        self.tabs.addTab(model_tab, "Model")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.tree)
        split.addWidget(self.tabs)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 900])
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.warning)
        lay.addWidget(split, 1)
        lay.addWidget(self.status)

    # ---- data the tests (and tooltips) read -------------------------------------------------
    @property
    def histogram_counts(self) -> np.ndarray:
        return self.hist.counts

    @property
    def histogram_edges(self) -> np.ndarray:
        return self.hist.edges

    def model(self) -> LoadedModel | None:
        return self.store.get(self.current_model) if self.current_model else None

    def busy(self) -> bool:
        return bool(self._workers)

    # ---- store ------------------------------------------------------------------------------
    def _on_loaded(self, name: str) -> None:
        m = self.store.get(name)
        if m is None or self.model_combo.findData(name) >= 0:
            return
        self.model_combo.addItem(f"{m.label}  [{m.backend}]", name)
        if self.model_combo.count() == 1 or name == self.last_twin:
            self.select_model(name)

    def _on_removed(self, name: str) -> None:
        i = self.model_combo.findData(name)
        if i >= 0:
            self.model_combo.removeItem(i)

    # ---- selection ----------------------------------------------------------------------
    def select_model(self, name: str) -> None:
        i = self.model_combo.findData(name)
        if i >= 0 and i != self.model_combo.currentIndex():
            self.model_combo.setCurrentIndex(i)
        elif i >= 0 and name != self.current_model:
            self._on_model_index(i)

    def _on_model_index(self, index: int) -> None:
        name = self.model_combo.itemData(index) if index >= 0 else None
        m = self.store.get(name) if name else None
        self.current_model = name if m else None
        self.current_tensor = None
        self.view = self.preview = self.profile = None
        self.tree.clear()
        warning = nonfinite_warning(m.summary) if m is not None else ""
        self.warning.setText(f"Warning: {warning}" if warning else "")
        self.warning.setVisible(bool(warning))
        if m is None:
            self.twin_button.setEnabled(False)
            return
        w = m.weights
        self.twin_button.setEnabled(
            _has_float_linears(w) and self.store.get(m.name + TWIN_SUFFIX) is None
        )
        self.context_spin.blockSignals(True)
        self.context_spin.setValue(min(w.config.max_position, 4096))
        self.context_spin.blockSignals(False)
        self._update_bytes()
        self.tree.populate(w, tensor_groups(w))
        self._run("depth", depth_profile, w, on_result=self._show_profile)
        names = self.tree.names()
        first = next((n for n in names if n.endswith("q_proj")), names[0] if names else None)
        if first:
            self.tree.select(first)

    def _on_tree_item(self, item: QTreeWidgetItem | None, _prev: object = None) -> None:
        name = item.data(0, NAME_ROLE) if item is not None else None
        if name:
            self.select_tensor(str(name))

    def select_tensor(self, name: str) -> None:
        """Computes (on a worker) and shows one tensor's histogram, statistics and tile."""
        m = self.model()
        if m is None or name not in m.weights.tensors:
            return
        if self.tree.currentItem() is None or self.tree.currentItem().data(0, NAME_ROLE) != name:
            self.tree.select(name)  # comes back here through currentItemChanged
            return
        self.current_tensor = name
        self.preview = None
        self.hist_after.hide()
        self.preview_label.setText("")
        self.ternarize_button.setEnabled(False)
        self._run("tensor", tensor_view, m.weights, name, on_result=self._show_view)

    def _show_view(self, v: TensorView) -> None:
        self.view = v
        self.hist.show_histogram(v.counts, v.edges, v.is_ternary)
        self.hist.plot.setTitle(f"values of {v.name}", color="#222", size="10pt")
        self.stats_box.show_stats(v.stats)
        self.tile.show_tile(v.tile)
        self.ternarize_button.setEnabled(not v.is_ternary)

    def _show_profile(self, p: DepthProfile) -> None:
        self.profile = p
        self.depth.show_profile(p)

    def _update_bytes(self) -> None:
        m = self.model()
        if m is None:
            return
        self.bytes = component_bytes(m.weights, self.context_spin.value())
        names = list(self.bytes)
        if m.weights.config.tie_word_embeddings:
            names[names.index("head")] = "head (tied)"
        self.bytes_chart.set_data(names, {"": list(self.bytes.values())})
        total = sum(self.bytes.values()) / 1e6
        self.bytes_chart.plot.setTitle(
            f"bytes by component: {total:,.1f} MB with {self.context_spin.value():,} tokens "
            "of fp16 KV cache",
            color="#222",
            size="10pt",
        )

    # ---- ternarize ----------------------------------------------------------------------
    def ternarize_tensor(self) -> None:
        """Absmean preview of the selected float tensor, next to the original."""
        m, name = self.model(), self.current_tensor
        if m is None or name is None:
            return
        t = m.weights.tensors[name]
        if not isinstance(t, np.ndarray):
            return
        self.ternarize_button.setEnabled(False)
        self._run("preview", ternarize_preview, t, on_result=self._show_preview)

    def _show_preview(self, p: TernarizePreview) -> None:
        self.preview = p
        self.hist_after.show_histogram(p.after[0], p.after[1], ternary=True)
        self.hist_after.show()
        e = self.hist.edges  # the x axes are linked: show both over the original's range
        if e.size:
            lo, hi = min(e[0], p.after[1][0]), max(e[-1], p.after[1][-1])
            self.hist.plot.setXRange(float(lo), float(hi), padding=0.02)
        self.preview_label.setText(
            f"<b>absmean</b> gamma = {p.gamma:.4g}<br>relative L2 error: <b>{p.rel_l2:.3f}</b>"
            f"<br>cosine similarity: <b>{p.cosine:.4f}</b><br>zeros after: "
            f"{100 * p.zero_share:.1f}%"
        )
        self.ternarize_button.setEnabled(True)

    def ternarize_model(self) -> None:
        """Builds the PTQ twin on a worker and adds it to the store (it shows up in Compare)."""
        m = self.model()
        if m is None:
            return
        self.twin_button.setEnabled(False)
        self.status.setText(f"building the PTQ twin of {m.label}...")
        self._run("twin", build_twin, m, on_result=self._twin_done, progress=True)

    def _twin_done(self, twin: LoadedModel) -> None:
        self.last_twin = twin.name
        self.store.add(twin)
        self.status.setText(f"added {twin.label}")
        self.sig_status.emit(self.status.text())
        self.sig_twin_added.emit(twin.name)

    # ---- workers ------------------------------------------------------------------------
    def _run(
        self,
        channel: str,
        fn: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], None],
        progress: bool = False,
    ) -> None:
        """Runs ``fn(*args)`` on a worker; only the newest request of a channel is shown."""
        token = self._token.get(channel, 0) + 1
        self._token[channel] = token

        def work(report: Callable[[Any], None], cancel: Callable[[], bool]) -> Any:
            return fn(report, cancel, *args) if progress else fn(*args)

        def result(value: Any) -> None:
            if self._token.get(channel) == token:
                on_result(value)

        def error(message: str, _details: str) -> None:
            self.status.setText(f"error: {message}")
            self.sig_status.emit(self.status.text())
            if channel == "twin":
                self.twin_button.setEnabled(True)

        started: list[Worker] = []

        def done() -> None:  # queued after the result, on this (GUI) thread
            for w in started:
                w.wait()  # sig_done is the thread's last act: this returns at once
                self._workers.discard(w)

        started.append(
            start_worker(
                work,
                on_result=result,
                on_error=error,
                on_progress=lambda v: self.status.setText(str(v)),
                on_done=done,
            )
        )
        self._workers.update(started)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Cancels and joins this page's workers (window close, test teardown)."""
        alive = [w for w in self._workers if shiboken6.isValid(w)]
        for w in alive:
            w.cancel()
        for w in alive:
            w.wait(int(timeout_s * 1000))
        self._workers.clear()
