"""Measure: live tokens/s and memory of every loaded model, and the benchmarks.

``record(name, tokens_per_s, rss_mb)`` is the live feed (the Compare page and generation
workers call it, from any thread); ``side`` draws the loaded models side by side (bits per
weight, weight bytes, last decode speed). The benchmark section runs ``bench kernels`` and, when
its module is installed, ``bench e2e`` on a worker with progress and Cancel, draws bars and
a roofline (``bench_view``), and exports the records to CSV or JSON.

The quick kernel run here times one BitNet b1.58 2B4T shape with copies of its weights that
together exceed the last-level cache, so a cold call reads from memory as decoding does; a
few-kB shape that lives in cache would make the ternary kernel's fixed costs look like its
speed. The page says which shape, and how the weights compare with the cache.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from bitnet_studio import kernels
from bitnet_studio.bench.backends import weight_bytes
from bitnet_studio.bench.bandwidth import last_level_cache_bytes, sysfs_cache_bytes
from bitnet_studio.bench.export import write_csv, write_json
from bitnet_studio.bench.kernel_bench import SHAPES, KernelBenchConfig, run_kernel_bench
from bitnet_studio.bench.timing import BenchCancelled, Budget
from bitnet_studio.engine.model_memory import model_memory
from bitnet_studio.ui.bench_view import BenchResultsView
from bitnet_studio.ui.live_plots import LivePlots
from bitnet_studio.ui.model_store import ModelStore
from bitnet_studio.ui.side_by_side import SideBySide
from bitnet_studio.ui.theme import mute
from bitnet_studio.ui.workers import Worker, start_worker


def _e2e_module() -> Any | None:
    """``bench.e2e_run`` when it is installed (it is optional), else None."""
    try:
        return importlib.import_module("bitnet_studio.bench.e2e_run")
    except ImportError:
        return None


MIB = 1 << 20
QUICK_SHAPE = next(s for s in SHAPES if s.model.startswith("bitnet") and s.role == "mlp gate/up")
QUICK_BACKENDS = ("ternary", "f16", "f32", "torch-f32")


def cache_bytes() -> int:
    """The CPU's last-level cache (sysconf, else sysfs); 0 when unknown."""
    return last_level_cache_bytes() or sysfs_cache_bytes()


def quick_kernel_config() -> KernelBenchConfig:
    """One 2B4T shape, its copies together at least twice the last-level cache (256 MiB at
    least): cold calls stream their weights from memory, as batch-1 decoding does."""
    cold = max(256 * MIB, 2 * cache_bytes())
    return KernelBenchConfig(
        shapes=(QUICK_SHAPE,),
        backends=QUICK_BACKENDS,
        cold_bytes=cold,
        bandwidth_bytes=cold,
        budget=Budget(seconds=0.15, min_calls=5, max_calls=400, warmup=1),
    )


def describe_kernel_run(cfg: KernelBenchConfig) -> str:
    """Which shapes, how large their weights are per call, and against what cache."""
    llc = cache_bytes()
    shapes = ", ".join(
        f"{s.rows}x{s.cols} ({s.model} {s.role}: "
        + " / ".join(f"{b} {weight_bytes(b, s.rows, s.cols) / 1e6:.1f} MB" for b in cfg.backends)
        + " per call)"
        for s in cfg.shapes
    )
    cache = f"{llc / MIB:.0f} MiB last-level cache" if llc else "a cache of unknown size"
    where = "from memory" if cfg.cold_bytes > llc else "possibly from cache"
    return (
        f"shapes: {shapes}; cold calls rotate over {cfg.cold_bytes / MIB:.0f} MiB of copies "
        f"vs {cache}: their weights come {where}"
    )


def quick_e2e_config() -> Any:
    """SmolLM2-135M (the default pair's model, 270 MB of fp16 weights per token) on our
    ternary and fp16 runtimes, 32 tokens: a real model, not a tiny random one whose few kB
    of weights sit in cache and leave only fixed per-token costs to compare."""
    e2e = _e2e_module()
    assert e2e is not None
    cold = max(256 * MIB, 2 * cache_bytes())
    return e2e.E2EConfig(
        models=["smollm2"],
        backends=["native-ternary", "native-fp16"],
        threads=[int(kernels.info()["threads"])],
        prompt_tokens=32,
        new_tokens=32,
        bandwidth_bytes=cold,
        bandwidth_repeats=2,
    )


def describe_e2e_run(records: list[Any]) -> str:
    """Per case, the weight bytes each token reads against the last-level cache."""
    llc = cache_bytes()
    parts = []
    for r in records:
        mb = r.bytes_per_token / 1e6
        where = "from memory" if r.bytes_per_token > llc else "can sit in cache"
        parts.append(f"{r.model} {r.case or r.backend}: {mb:,.0f} MB per token ({where})")
    cache = f"{llc / MIB:.0f} MiB last-level cache" if llc else "a cache of unknown size"
    return "; ".join(parts) + f"; vs {cache}"


def bench_kinds() -> dict[str, tuple[str, Callable[[], Any]]]:
    """label -> (runner kind, config factory) for every benchmark this install has."""
    kinds: dict[str, tuple[str, Callable[[], Any]]] = {
        "kernels (quick)": ("kernels", quick_kernel_config),
        "kernels (full)": ("kernels", KernelBenchConfig),
    }
    e2e = _e2e_module()
    if e2e is not None:
        kinds["end-to-end (quick)"] = ("e2e", quick_e2e_config)
        kinds["end-to-end (full)"] = ("e2e", e2e.E2EConfig)
    return kinds


@dataclass
class BenchOutcome:
    kind: str  # "kernels" | "e2e"
    label: str
    records: list[Any]
    bandwidth_gbps: dict[int, float]  # threads -> measured read GB/s
    cancelled: bool = False
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def meta(self) -> dict[str, Any]:
        return {
            "benchmark": self.label,
            "kind": self.kind,
            "cancelled": self.cancelled,
            "bandwidth_gbps": {str(k): v for k, v in self.bandwidth_gbps.items()},
            "skipped": self.skipped,
            "notes": self.notes,
        }


def run_bench(
    progress: Callable[[Any], None], cancel: Callable[[], bool], kind: str, label: str, cfg: Any
) -> BenchOutcome:
    """Runs one benchmark (no Qt); a cancel returns what was measured so far."""

    def report(done: int, total: int, message: str) -> None:
        progress((done, total, message))

    try:
        if kind == "kernels":
            res = run_kernel_bench(cfg, report, cancel)
        else:
            e2e = _e2e_module()
            if e2e is None:
                raise RuntimeError("the end-to-end benchmark is not installed")
            res = e2e.run_e2e_bench(cfg, report, cancel)
    except BenchCancelled as c:
        return BenchOutcome(kind, label, list(c.records), {}, cancelled=True)
    bw = {int(t): float(b.gbps) for t, b in res.bandwidth.items()}
    skipped, notes = list(getattr(res, "skipped", [])), list(getattr(res, "notes", []))
    if kind == "kernels":
        notes.insert(0, describe_kernel_run(cfg))
    elif res.records:
        notes.insert(0, describe_e2e_run(list(res.records)))
    return BenchOutcome(kind, label, list(res.records), bw, False, skipped, notes)


class MeasurePage(QWidget):
    """Live plots on top, benchmarks below."""

    sig_bench_done = Signal(object)
    """BenchOutcome: a benchmark finished (or was cancelled, with its partial records)."""

    def __init__(self, models: ModelStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = models
        self.kinds = bench_kinds()
        self.outcome: BenchOutcome | None = None
        self.worker: Worker | None = None
        self.error: str | None = None
        self._build()
        models.sig_loaded.connect(self._on_loaded)
        models.sig_removed.connect(self.live.remove_series)
        for m in models.models():
            self._on_loaded(m.name)

    def _build(self) -> None:
        self.live = LivePlots()
        live_box = QGroupBox("Live: decode speed and memory of the loaded models")
        QVBoxLayout(live_box).addWidget(self.live)
        self.side = SideBySide(self.store)
        side_box = QGroupBox("Side by side: the loaded models")
        QVBoxLayout(side_box).addWidget(self.side)

        self.kind_combo = QComboBox()
        self.kind_combo.addItems(list(self.kinds))
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(lambda: self.run_benchmark())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_benchmark)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.csv_button = QPushButton("Export CSV...")
        self.json_button = QPushButton("Export JSON...")
        self.csv_button.clicked.connect(lambda: self._export_dialog("csv"))
        self.json_button.clicked.connect(lambda: self._export_dialog("json"))
        for b in (self.csv_button, self.json_button):
            b.setEnabled(False)
        self.bench_status = QLabel("Pick a benchmark and press Run.")
        mute(self.bench_status)
        self.bench_status.setWordWrap(True)
        self.bench_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row = QHBoxLayout()
        row.addWidget(QLabel("Benchmark"))
        row.addWidget(self.kind_combo)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.csv_button)
        row.addWidget(self.json_button)
        self.results = BenchResultsView()
        bench_box = QGroupBox("Benchmarks")
        blay = QVBoxLayout(bench_box)
        blay.addLayout(row)
        blay.addWidget(self.bench_status)
        blay.addWidget(self.results, 1)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(live_box)
        split.addWidget(side_box)
        split.addWidget(bench_box)
        split.setSizes([300, 220, 400])
        lay = QVBoxLayout(self)
        lay.addWidget(split)

    # ---- live ---------------------------------------------------------------------------
    def record(self, model_name: str, tokens_per_s: float, memory_mb: float | None = None) -> None:
        """Live feed: a model's current decode tokens/s (and its memory, MB); any thread."""
        self.live.record(model_name, tokens_per_s, memory_mb)
        self.side.record(model_name, tokens_per_s)

    def _on_loaded(self, name: str) -> None:
        m = self.store.get(name)
        self.live.add_series(name, m.label if m else name)
        if m is not None and m.lock.acquire(blocking=False):  # not while it generates
            try:
                mem = model_memory(m.session, m.backend, m.weights.config, m.weights_file)
            finally:
                m.lock.release()
            self.live.record_memory(name, mem.total_at(0) / 1e6)

    # ---- benchmarks ---------------------------------------------------------------------
    def running(self) -> bool:
        return self.worker is not None

    def run_benchmark(self, label: str | None = None, cfg: Any = None) -> None:
        """Starts the benchmark named ``label`` (default: the picked one); ``cfg`` replaces
        its default configuration."""
        if self.worker is not None:
            return
        label = label or self.kind_combo.currentText()
        kind, factory = self.kinds[label]
        cfg = cfg if cfg is not None else factory()
        self.error = None
        self.progress.setRange(0, 0)  # busy until the first report
        self.bench_status.setText(f"running {label}...")
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.worker = start_worker(
            run_bench,
            kind,
            label,
            cfg,
            on_result=self._bench_result,
            on_error=self._bench_error,
            on_progress=self._bench_progress,
            on_done=self._bench_done,
        )

    def cancel_benchmark(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.bench_status.setText("cancelling...")

    def _bench_progress(self, value: Any) -> None:
        done, total, message = value
        self.progress.setRange(0, max(1, int(total)))
        self.progress.setValue(int(done))
        self.bench_status.setText(str(message))

    def _bench_result(self, outcome: BenchOutcome) -> None:
        self.outcome = outcome
        n = len(outcome.records)
        state = "cancelled" if outcome.cancelled else "done"
        extra = f"; not measured: {len(outcome.skipped)}" if outcome.skipped else ""
        about = f"\n{outcome.notes[0]}" if outcome.notes else ""
        self.bench_status.setText(f"{outcome.label}: {state}, {n} records{extra}{about}")
        self.bench_status.setToolTip("\n".join(outcome.skipped + outcome.notes))
        self.results.show_records(outcome.kind, outcome.records)
        for b in (self.csv_button, self.json_button):
            b.setEnabled(bool(outcome.records))
        self.sig_bench_done.emit(outcome)

    def _bench_error(self, message: str, _details: str) -> None:
        self.error = message
        self.bench_status.setText(f"error: {message}")

    def _bench_done(self) -> None:
        w, self.worker = self.worker, None
        if w is not None:
            w.wait()  # sig_done comes just before the thread ends
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.outcome and not self.outcome.cancelled else 0)
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    # ---- export -------------------------------------------------------------------------
    def export_csv(self, path: str | Path) -> None:
        if self.outcome is not None:
            write_csv(self.outcome.records, path)

    def export_json(self, path: str | Path) -> None:
        if self.outcome is not None:
            write_json(self.outcome.records, path, self.outcome.meta())

    def _export_dialog(self, fmt: str) -> None:
        if self.outcome is None:
            return
        default = f"bench-{self.outcome.kind}.{fmt}"
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export {fmt.upper()}", default, f"{fmt.upper()} (*.{fmt})"
        )
        if path:
            (self.export_csv if fmt == "csv" else self.export_json)(path)
            self.bench_status.setText(f"wrote {len(self.outcome.records)} records to {path}")

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Stops the live timer, cancels and joins the benchmark (window close, tests)."""
        self.live.stop()
        self.side.stop()
        w = self.worker
        if w is not None:
            w.cancel()
            w.wait(int(timeout_s * 1000))
