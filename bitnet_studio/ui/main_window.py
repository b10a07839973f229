"""The main window: Compare, Inspect, Measure and QAT lab pages, model loading, menus, settings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QProgressBar,
    QTabWidget,
)

from bitnet_studio import kernels
from bitnet_studio.engine.registry import DEFAULT_MODELS as NAMED_MODELS
from bitnet_studio.ui import workers
from bitnet_studio.ui.compare_page import ComparePage
from bitnet_studio.ui.dialogs import show_about, show_error
from bitnet_studio.ui.evaluate_page import EvaluatePage
from bitnet_studio.ui.first_run import REPO_2B4T, FirstRunBanner
from bitnet_studio.ui.get_models_dialog import GetModelsDialog
from bitnet_studio.ui.inspect_page import InspectPage
from bitnet_studio.ui.measure_page import MeasurePage
from bitnet_studio.ui.model_manager import ModelManagerDialog
from bitnet_studio.ui.model_store import ModelStore, model_key
from bitnet_studio.ui.pages import PAGES, PAIRS, TRIO
from bitnet_studio.ui.qat_lab_page import QatLabPage
from bitnet_studio.ui.settings import Settings

DEFAULT_MODELS = PAIRS["smollm2"][1]
MODEL_FILTER = "Models (*.gguf *.safetensors config.json);;All files (*)"


def kernel_summary() -> str:
    """The kernels' SIMD path and threads, e.g. "avx2 · 2 threads"."""
    info = kernels.info()
    forced = " (forced)" if info.get("forced_by_env") else ""
    return f"{info['path']}{forced} · {info['threads']} threads"


def kernel_line() -> str:
    return f"kernels: {kernel_summary()}"


class MainWindow(QMainWindow):
    """Loads the default pair (left: vanilla, right: ternary) in the background at start."""

    def __init__(
        self,
        store: ModelStore | None = None,
        settings: Settings | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        backend: str = "native",
        threads: int | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("BitNet Studio")
        self.setAcceptDrops(True)
        self.store = store if store is not None else ModelStore(self)
        self.settings = settings if settings is not None else Settings()
        self.backend, self.threads = backend, threads
        self.errors: list[str] = []  # every error shown to the user, for tests and logs
        self._opening: dict[str, str] = {}  # store name -> the path a user opened (for recent)

        self.compare = ComparePage(self.store)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.compare, "Compare")
        self.inspect = InspectPage(self.store)
        self.measure = MeasurePage(self.store)
        self.tabs.addTab(self.inspect, "Inspect")
        self.tabs.addTab(self.measure, "Measure")
        self.qat_lab = QatLabPage()
        self.tabs.addTab(self.qat_lab, "QAT lab")
        self.compare.sig_metrics.connect(self.measure.record)
        self.qat_lab.sig_error.connect(lambda m, d: self.show_error("The QAT lab stopped", m, d))
        self.qat_lab.sig_load_pair.connect(self.load_pair)
        self.evaluate = EvaluatePage(self.store)
        self.tabs.addTab(self.evaluate, "Evaluate")
        self.compare.sig_metrics.connect(self.evaluate.record_speed)
        self.evaluate.sig_error.connect(lambda m, d: self.show_error("Evaluate stopped", m, d))
        self.setCentralWidget(self.tabs)
        self._build_menus()
        self._build_status()
        self._build_shortcuts()

        self.store.sig_loading.connect(self._on_loading)
        self.store.sig_loaded.connect(self._on_loaded)
        self.store.sig_failed.connect(self._on_failed)
        self.store.sig_progress.connect(
            lambda n, s: self.statusBar().showMessage(f"Loading {n}: {s}…")
        )
        self.compare.sampling.set_from_dict(self.settings.sampling())
        geometry, state = self.settings.geometry(), self.settings.window_state()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        if state is not None:
            self.restoreState(state)
        self.intro: FirstRunBanner | None = None
        if tuple(models) == tuple(DEFAULT_MODELS) and not self.settings.intro_seen():
            self._show_intro()
        # One pane per model asked for (`gui --models A B C` opens three).
        while len(self.compare.panes) < len(models) and self.compare.add_pane() is not None:
            pass
        for slot, name in enumerate(models):
            self.store.load(name, backend, threads, slot=slot)

    def _show_intro(self) -> None:
        """The first start: say what the default pair shows, once (remembered at once)."""
        self.intro = FirstRunBanner()
        self.intro.sig_load_trained.connect(self._intro_load_trained)
        self.intro.sig_get_2b4t.connect(self.get_bitnet_2b4t)
        self.compare.layout().insertWidget(0, self.intro)
        self.settings.set_intro_seen()

    def _intro_load_trained(self) -> None:
        self.load_pair("trained")
        if self.intro is not None:
            self.intro.dismiss()  # it speaks of the SmolLM2 pair, gone now

    def get_bitnet_2b4t(self) -> GetModelsDialog:
        """One click to the real BitNet b1.58 2B4T: opens it if downloaded, else downloads."""
        dialog = self.get_models_dialog()
        dialog.select(REPO_2B4T)
        if REPO_2B4T in dialog.paths:
            dialog.open_selected()
        else:
            dialog.start_download()
        return dialog

    # -- building -----------------------------------------------------------------------------
    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_action = QAction("&Open model…", self, shortcut=QKeySequence.StandardKey.Open)
        open_action.triggered.connect(self.open_dialog)
        open_folder = QAction("Open Hugging Face &folder…", self)
        open_folder.triggered.connect(self.open_folder_dialog)
        get_models = QAction("&Get models…", self)
        get_models.triggered.connect(self.get_models_dialog)
        manage = QAction("&Models…", self, shortcut=QKeySequence("Ctrl+M"))
        manage.triggered.connect(self.model_manager)
        self.recent_menu = QMenu("Open &recent", self)
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        self.defaults_menu = QMenu("Open &default model", self)
        for name, model in NAMED_MODELS.items():
            action = self.defaults_menu.addAction(model.label)
            action.setToolTip(model.description)
            action.triggered.connect(lambda _=False, n=name: self.open_model(n))
        self.defaults_menu.setToolTipsVisible(True)
        self.pairs_menu = QMenu("Load &pair into Compare", self)
        for key, (text, _names) in PAIRS.items():
            action = self.pairs_menu.addAction(text)
            action.triggered.connect(lambda _=False, k=key: self.load_pair(k))
        self.trio_action = QAction(TRIO[0], self)
        self.trio_action.setToolTip(", ".join(TRIO[1]))
        self.trio_action.triggered.connect(self.load_trio)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(open_action)
        file_menu.addAction(open_folder)
        file_menu.addAction(get_models)
        file_menu.addAction(manage)
        file_menu.addMenu(self.recent_menu)
        file_menu.addMenu(self.defaults_menu)
        file_menu.addMenu(self.pairs_menu)
        file_menu.addAction(self.trio_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About BitNet Studio", self)
        about.triggered.connect(lambda: show_about(self, kernel_summary()))
        help_menu.addAction(about)

    def _build_status(self) -> None:
        self.load_bar = QProgressBar()
        self.load_bar.setRange(0, 0)
        self.load_bar.setMaximumWidth(140)
        self.load_bar.setVisible(False)
        self.kernel_label = QLabel(kernel_line())
        self.statusBar().addPermanentWidget(self.load_bar)
        self.statusBar().addPermanentWidget(self.kernel_label)

    def _build_shortcuts(self) -> None:
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, activated=self.compare.send)
        QShortcut(QKeySequence("Esc"), self, activated=self.compare.stop)
        QShortcut(QKeySequence("Ctrl+N"), self, activated=self.compare.clear)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_models()
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_model(p))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # -- models -------------------------------------------------------------------------------
    def open_model(self, path: str, slot: int | None = None) -> str:
        """Loads a model file or folder in the background; remembers it as recent once it
        has opened (a file that fails to open is not offered again)."""
        self._opening[model_key(str(path), self.backend)] = str(path)
        return self.store.load(str(path), self.backend, self.threads, slot=slot)

    def load_pair(self, key: str) -> tuple[str, str]:
        """Loads a ``pages.PAIRS`` pair into Compare's first two panes and shows Compare; a
        missing model (e.g. an untrained twin) is reported like any failed load."""
        left, right = PAIRS[key][1]
        self.show_page("compare")
        return (
            self.store.load(left, self.backend, self.threads, slot=0),
            self.store.load(right, self.backend, self.threads, slot=1),
        )

    def load_trio(self) -> tuple[str, ...]:
        """File > Load trio: the vanilla, BitNet 1-bit and BitNet b1.58 trained twins in
        Compare's first three panes (a third pane is added if needed); a missing twin is
        reported like any failed load."""
        self.show_page("compare")
        while len(self.compare.panes) < len(TRIO[1]) and self.compare.add_pane() is not None:
            pass
        return tuple(
            self.store.load(name, self.backend, self.threads, slot=i)
            for i, name in enumerate(TRIO[1])
        )

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", "", MODEL_FILTER)
        if path:
            # A Hugging Face model is its folder: picking its config or weights opens that.
            p = Path(path)
            self.open_model(str(p.parent if p.suffix != ".gguf" else p))

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open Hugging Face model folder")
        if path:
            self.open_model(path)

    def get_models_dialog(self) -> GetModelsDialog:
        """File > Get models…: download catalog models from the hub, open them here."""
        found = self.findChildren(GetModelsDialog)  # one dialog, reused
        dialog = found[0] if found else GetModelsDialog(self.store, self, None, self.backend)
        dialog.threads = self.threads
        dialog.show()
        dialog.raise_()
        return dialog

    def model_manager(self) -> ModelManagerDialog:
        """File > Models…: facts of every loaded model; reopen one on another backend."""
        found = self.findChildren(ModelManagerDialog)
        dialog = found[0] if found else ModelManagerDialog(self.store, self)
        dialog.refresh()
        dialog.show()
        dialog.raise_()
        return dialog

    def _on_loading(self, name: str) -> None:
        self.load_bar.setVisible(True)
        self.statusBar().showMessage(f"Loading {name}…")

    def _on_loaded(self, name: str) -> None:
        opened = self._opening.pop(name, None)
        if opened is not None:
            self.settings.add_recent_model(opened)
        self.load_bar.setVisible(self.store.is_loading())
        self.statusBar().showMessage(f"Loaded {name}", 5000)
        self.kernel_label.setText(kernel_line())

    def _on_failed(self, name: str, message: str) -> None:
        self._opening.pop(name, None)
        self.load_bar.setVisible(self.store.is_loading())
        self.statusBar().showMessage(f"Could not load {name}", 5000)
        details = self.store.last_error_details.get(name, "")
        self.show_error("Could not open the model", message, details)

    def show_error(self, title: str, message: str, details: str = "") -> None:
        self.errors.append(message)
        show_error(self, title, message, details)

    def show_page(self, page: str) -> None:
        self.tabs.setCurrentIndex(PAGES.index(page))

    # -- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_model(url.toLocalFile())
        event.acceptProposedAction()

    # -- closing ------------------------------------------------------------------------------
    def save_settings(self) -> None:
        self.settings.set_window(self.saveGeometry(), self.saveState())
        self.settings.set_sampling(self.compare.sampling.to_dict())
        self.settings.sync()

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Stops every generation, waits for every worker, closes the models."""
        self.compare.stop()
        self.inspect.shutdown(timeout_s)
        self.measure.shutdown(timeout_s)
        self.qat_lab.shutdown(timeout_s)
        self.evaluate.shutdown(timeout_s)
        ok = workers.join_all(timeout_s)
        self.compare.timer.stop()
        if ok:
            self.store.close_all()
            # Pages may react to the removals with work of their own: end that too.
            ok = workers.join_all(timeout_s)
        return ok

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        self.shutdown()
        super().closeEvent(event)
