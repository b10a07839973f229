"""Start the desktop app, or run it once for a screenshot (``bitnet-studio gui --screenshot``)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QThread
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QApplication

from bitnet_studio.errors import StudioError
from bitnet_studio.resources import resource_path
from bitnet_studio.ui.app_icon import ICON_NAME, app_icon
from bitnet_studio.ui.main_window import DEFAULT_MODELS, PAGES, MainWindow
from bitnet_studio.ui.theme import follow_system

FONTS_DIR = resource_path("fonts")


def make_app() -> QApplication:
    """The process's QApplication (created once), named, with our bundled fonts if any."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(sys.argv[:1])
    if not app.property("bitnet_themed"):
        app.setApplicationName("BitNet Studio")
        app.setOrganizationName("BitNet Studio")
        app.setDesktopFileName(ICON_NAME)  # the installed .desktop entry (packaging/)
        app.setWindowIcon(app_icon())
        follow_system(app)
        app.setProperty("bitnet_themed", True)
    if FONTS_DIR.is_dir():
        for font in sorted(FONTS_DIR.glob("*.ttf")):
            QFontDatabase.addApplicationFont(str(font))
    return app


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Runs the event loop until ``condition()`` holds or ``timeout_s`` passes."""
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            return False
        QCoreApplication.processEvents()
        QThread.msleep(10)
    return True


def run_gui(
    models: Sequence[str] = DEFAULT_MODELS,
    backend: str = "native",
    threads: int | None = None,
    page: str = "compare",
    screenshot: str | None = None,
    prompt: str | None = None,
    timeout_s: float = 300.0,
    size: tuple[int, int] | None = None,
    bench: str | None = None,
    lab_steps: int | None = None,
    eval_text: str | None = None,
) -> int:
    """Opens the main window; with ``screenshot`` runs the scripted session and exits.

    ``size``: the window's (width, height); ``bench``: with ``screenshot``, the Measure
    benchmark to run first (``"quick"``: the quick kernel benchmark); ``lab_steps``: with
    ``screenshot``, train the QAT lab's twins that many steps first; ``eval_text``: with
    ``screenshot`` on the Evaluate page, the text its run scores (``heldout``, ``prose``, a
    file)."""
    if page not in PAGES:
        raise StudioError(page, f"unknown page (expected one of {', '.join(PAGES)})")
    app = make_app()
    window = MainWindow(models=models, backend=backend, threads=threads)
    window.show_page(page)
    if size is not None:
        window.resize(*size)
    window.show()
    if screenshot is None:
        return int(app.exec())
    try:
        if lab_steps is not None:
            _train_lab(window, screenshot, lab_steps, timeout_s)
        if page == "evaluate":
            _evaluate(window, screenshot, list(models), eval_text, timeout_s)
        return _screenshot(window, screenshot, prompt, len(models), timeout_s, bench)
    finally:
        window.close()
        window.deleteLater()
        QCoreApplication.processEvents()


def _train_lab(window: MainWindow, path: str, steps: int, timeout_s: float) -> None:
    """Trains the QAT lab's twins ``steps`` steps (while the models load)."""
    lab = window.qat_lab
    if steps < 1 or not lab.start(steps=steps):
        raise StudioError(path, f"the QAT lab could not start {steps} steps")
    if not wait_until(lambda: not lab.running(), timeout_s):
        lab.stop()
        raise StudioError(path, f"the QAT lab still training after {timeout_s:.0f} s")
    if lab.error is not None:
        raise StudioError(path, f"the QAT lab failed: {lab.error}")


def _evaluate(
    window: MainWindow, path: str, models: list[str], text: str | None, timeout_s: float
) -> None:
    """Scores ``models`` on the Evaluate page (the first is the reference) and waits."""
    page = window.evaluate
    page.set_checked(models)
    page.set_reference(models[0] if len(models) > 1 else None)
    page.set_text(text or "prose")
    if not page.run():
        raise StudioError(path, "the evaluation could not start")
    if not wait_until(lambda: not page.running(), timeout_s):
        page.cancel()
        raise StudioError(path, f"the evaluation still running after {timeout_s:.0f} s")
    if page.error is not None:
        raise StudioError(path, f"the evaluation failed: {page.error}")


def _screenshot(
    window: MainWindow, path: str, prompt: str | None, n: int, timeout_s: float, bench: str | None
) -> int:
    store = window.store
    if not wait_until(lambda: not store.is_loading(), timeout_s):
        raise StudioError(path, f"models still loading after {timeout_s:.0f} s")
    if len(store.models()) < n:
        raise StudioError(path, "a model failed to load: " + "; ".join(window.errors))
    if prompt:
        if not window.compare.send(prompt):
            raise StudioError(path, "the prompt could not be sent")
        if not wait_until(lambda: not window.compare.is_busy(), timeout_s):
            window.compare.stop()
            raise StudioError(path, f"generation still running after {timeout_s:.0f} s")
    if window.tabs.currentWidget() is window.inspect and store.models():
        # Show the last pane's model (the ternary one of the default pair) and its tensor.
        window.inspect.select_model(store.models()[-1].name)
        wait_until(lambda: not window.inspect.busy(), timeout_s)
    if bench:
        label = f"kernels ({bench})"
        if label not in window.measure.kinds:
            raise StudioError(
                bench, f"unknown benchmark (expected one of {list(window.measure.kinds)})"
            )
        window.measure.run_benchmark(label)
        if not wait_until(lambda: not window.measure.running(), timeout_s):
            window.measure.cancel_benchmark()
            raise StudioError(path, f"the benchmark still running after {timeout_s:.0f} s")
    wait_until(lambda: False, 0.2)  # let the last layout and paint happen
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out), "PNG"):
        raise StudioError(path, "could not write the PNG")
    print(f"wrote {out}")
    return 0
