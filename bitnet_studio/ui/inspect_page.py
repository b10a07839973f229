"""Inspect: a model's tensors, their histograms, tiles and statistics, scales along depth,
bytes by component, and "ternarize / binarize this" previews (one tensor, or the whole model
as a naive PTQ twin that joins the ModelStore).

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

from bitnet_studio.inspect.ptq_preview import (
    BinarizePreview,
    TernarizePreview,
    binarize_preview,
    ternarize_preview,
)
from bitnet_studio.inspect.summary import nonfinite_warning
from bitnet_studio.inspect.views import (
    DepthProfile,
    TensorView,
    component_bytes,
    depth_profile,
    tensor_groups,
    tensor_view,
)
from bitnet_studio.ui.charts import BarChart, HistogramPlot, set_title
from bitnet_studio.ui.inspect_widgets import NAME_ROLE, DepthPlots, StatsBox, TensorTree, TileView
from bitnet_studio.ui.model_store import LoadedModel, ModelStore
from bitnet_studio.ui.ptq_actions import (
    TWIN_SUFFIX,
    build_twin,
    has_float_linears,
    preview_html,
    twin_name,
)
from bitnet_studio.ui.theme import mute
from bitnet_studio.ui.workers import Worker, start_worker

__all__ = ["TWIN_SUFFIX", "InspectPage"]


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
        self.preview: TernarizePreview | BinarizePreview | None = None
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
        self.binary_twin_button = QPushButton("Binarize whole model")
        self.binary_twin_button.setToolTip(
            "centred-sign binarize every projection (naive 1-bit PTQ: breaks a model even "
            "harder than ternarizing) and add the twin to the models"
        )
        self.binary_twin_button.clicked.connect(self.binarize_model)
        self.status = QLabel("")
        mute(self.status)
        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_combo, 1)
        top.addWidget(QLabel("KV context"))
        top.addWidget(self.context_spin)
        top.addWidget(self.twin_button)
        top.addWidget(self.binary_twin_button)

        # the model-level summary's warning (non-finite weights): empty and hidden when fine
        self.warning = QLabel("")
        self.warning.setObjectName("warning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet("font-weight: bold")
        self.warning.setVisible(False)

        self.tree = TensorTree()
        self.tree.currentItemChanged.connect(self._on_tree_item)

        self.hist = HistogramPlot("values")
        # Its own x range: gamma * {-1, 0, +1} drawn over the float range would squeeze the
        # three spikes (and their labels) into a few pixels.
        self.hist_after = HistogramPlot("after absmean ternarization")
        self.hist_after.hide()
        self.stats_box = StatsBox()
        self.tile = TileView()
        self.ternarize_button = QPushButton("Ternarize this tensor")
        self.ternarize_button.setEnabled(False)
        self.ternarize_button.clicked.connect(self.ternarize_tensor)
        self.binarize_button = QPushButton("Binarize this tensor")
        self.binarize_button.setToolTip("the original BitNet's 1-bit rule, as naive PTQ")
        self.binarize_button.setEnabled(False)
        self.binarize_button.clicked.connect(self.binarize_tensor)
        buttons = QHBoxLayout()
        buttons.addWidget(self.ternarize_button)
        buttons.addWidget(self.binarize_button)
        self.preview_label = QLabel("")
        self.preview_label.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(self.stats_box)
        side.addLayout(buttons)
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
        self._update_twin_buttons()
        warning = nonfinite_warning(m.summary) if m is not None else ""
        self.warning.setText(f"Warning: {warning}" if warning else "")
        self.warning.setVisible(bool(warning))
        if m is None:
            return
        w = m.weights
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

    def _update_twin_buttons(self) -> None:
        """A twin button is live for a model with float projections and no such twin yet."""
        m = self.model()
        floats = m is not None and has_float_linears(m.weights)
        for button, method in ((self.twin_button, "ternary"), (self.binary_twin_button, "binary")):
            live = floats and m is not None and self.store.get(twin_name(m.name, method)) is None
            button.setEnabled(live)

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
        self.binarize_button.setEnabled(False)
        self._run("tensor", tensor_view, m.weights, name, on_result=self._show_view)

    def _show_view(self, v: TensorView) -> None:
        self.view = v
        self.hist.show_histogram(v.counts, v.edges, v.is_ternary or v.is_binary)
        set_title(self.hist.plot, f"values of {v.name}")
        self.stats_box.show_stats(v.stats)
        self.tile.show_tile(v.tile)
        self.ternarize_button.setEnabled(v.stats.kind == "float")
        self.binarize_button.setEnabled(v.stats.kind == "float")

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
        set_title(
            self.bytes_chart.plot,
            f"bytes by component: {total:,.1f} MB with {self.context_spin.value():,} tokens "
            "of fp16 KV cache",
        )

    # ---- ternarize ----------------------------------------------------------------------
    def ternarize_tensor(self) -> None:
        """Absmean preview of the selected float tensor, next to the original."""
        self._preview_tensor(ternarize_preview, "after absmean ternarization")

    def binarize_tensor(self) -> None:
        """Centred-sign (1-bit, naive PTQ) preview of the selected float tensor."""
        self._preview_tensor(binarize_preview, "after centred-sign binarization (1-bit)")

    def _preview_tensor(self, fn: Callable[[np.ndarray], Any], title: str) -> None:
        m, name = self.model(), self.current_tensor
        if m is None or name is None:
            return
        t = m.weights.tensors[name]
        if not isinstance(t, np.ndarray):
            return
        self.ternarize_button.setEnabled(False)
        self.binarize_button.setEnabled(False)
        set_title(self.hist_after.plot, title)
        self._run("preview", fn, t, on_result=self._show_preview)

    def _show_preview(self, p: TernarizePreview | BinarizePreview) -> None:
        self.preview = p
        self.hist_after.show_histogram(p.after[0], p.after[1], ternary=True)
        self.hist_after.show()
        e = self.hist.edges  # the x axes are linked: show both over the original's range
        if e.size:
            lo, hi = min(e[0], p.after[1][0]), max(e[-1], p.after[1][-1])
            self.hist.plot.setXRange(float(lo), float(hi), padding=0.02)
        self.preview_label.setText(preview_html(p))
        self.ternarize_button.setEnabled(True)
        self.binarize_button.setEnabled(True)

    def ternarize_model(self) -> None:
        """Builds the PTQ twin on a worker and adds it to the store (it shows up in Compare)."""
        self._build_twin("ternary", self.twin_button)

    def binarize_model(self) -> None:
        """Builds the naive 1-bit twin on a worker and adds it to the store."""
        self._build_twin("binary", self.binary_twin_button)

    def _build_twin(self, method: str, button: QPushButton) -> None:
        m = self.model()
        if m is None:
            return
        button.setEnabled(False)
        kind = "1-bit PTQ" if method == "binary" else "PTQ"
        self.status.setText(f"building the {kind} twin of {m.label}...")
        self._run("twin", build_twin, m, method, on_result=self._twin_done, progress=True)

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
                self._update_twin_buttons()

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
