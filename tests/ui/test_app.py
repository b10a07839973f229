"""The app shell: errors as dialogs, settings, shortcuts, drag and drop, the gui command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import LOAD_TIMEOUT_MS, wait_idle
from PySide6.QtCore import QMimeData, QObject, QPointF, Qt, QUrl, Signal
from PySide6.QtGui import QDropEvent, QImage
from PySide6.QtWidgets import QMessageBox

from bitnet_studio import cli
from bitnet_studio.ui.main_window import MainWindow

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Message boxes record (text, details) instead of blocking."""
    shown: list[tuple[str, str]] = []

    def fake_exec(box: QMessageBox) -> int:
        shown.append((box.text(), box.detailedText()))
        return int(QMessageBox.StandardButton.Ok.value)

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    return shown


def test_corrupt_file_shows_an_error_and_the_app_goes_on(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, tmp_path: Path, dialogs: list[tuple[str, str]]
) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 64)
    window.open_model(str(bad))
    qtbot.waitUntil(lambda: bool(dialogs), timeout=LOAD_TIMEOUT_MS)
    text, details = dialogs[0]
    assert "broken.gguf" in text and "Traceback" not in text
    assert "Traceback" in details  # behind the "Show details" button
    assert len(window.store.models()) == 2
    window.compare.send("still there?")
    wait_idle(qtbot, window)
    assert all(p.last_done is not None for p in window.compare.panes)


def test_settings_round_trip(qtbot, tiny_models, settings_file: Path) -> None:  # type: ignore[no-untyped-def]
    w = MainWindow(models=list(tiny_models))
    qtbot.addWidget(w)
    w.resize(1000, 700)
    s = w.compare.sampling
    s.temperature.setValue(0.3)
    s.top_k.setValue(7)
    s.top_p.setValue(0.8)
    s.max_tokens.setValue(33)
    s.seed.setValue(42)
    s.system_prompt.setPlainText("you are terse")
    w.open_model(tiny_models[0])  # already loaded: only remembered as recent
    w.close()
    assert settings_file.exists()
    w2 = MainWindow(models=[])
    qtbot.addWidget(w2)
    assert w2.compare.sampling.to_dict() == s.to_dict()
    assert w2.settings.recent_models()[0] == tiny_models[0]
    assert w2.settings.geometry() is not None
    assert w2.height() == 700  # (the width is clamped to the offscreen screen)
    w2.close()


def test_keyboard_send_stop_and_new_chat(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.activateWindow()
    page = window.compare
    page.prompt.setFocus()
    page.prompt.setPlainText("brown fox")
    qtbot.keyClick(page.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: all(p.turns for p in page.panes), timeout=5000)
    qtbot.keyClick(page.prompt, Qt.Key.Key_Escape)
    wait_idle(qtbot, window)
    qtbot.keyClick(page.prompt, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert all(not p.turns for p in page.panes)


def test_drop_a_model_file_loads_it(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    copy = tmp_path / "dropped.gguf"
    shutil.copy(window.store.models()[0].path or "", copy)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(copy))])
    ev = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(ev)
    qtbot.waitUntil(lambda: window.store.get(str(copy)) is not None, timeout=LOAD_TIMEOUT_MS)
    assert all(p.selector.findData(str(copy)) >= 0 for p in window.compare.panes)


def test_pages_exist(window: MainWindow) -> None:
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles == ["Compare", "Inspect", "Measure", "QAT lab", "Evaluate"]
    assert "kernels:" in window.kernel_label.text() and "threads" in window.kernel_label.text()


def test_gui_screenshot_writes_a_png(qtbot, tiny_models, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    png = tmp_path / "shot.png"
    argv = ["gui", "--models", *tiny_models, "--prompt", "the fox", "--screenshot", str(png)]
    assert cli.main([*argv, "--timeout", "60"]) == 0
    img = QImage(str(png))
    assert not img.isNull() and img.width() >= 800 and img.height() >= 500


def test_gui_evaluate_page_screenshot(qtbot, tiny_models, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    png, text = tmp_path / "evaluate.png", tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 10, encoding="utf-8")
    argv = ["gui", "--page", "evaluate", "--models", *tiny_models, "--text", str(text)]
    assert cli.main([*argv, "--screenshot", str(png), "--timeout", "60"]) == 0
    img = QImage(str(png))
    assert not img.isNull() and img.width() >= 800 and img.height() >= 500


def test_no_command_starts_the_gui(monkeypatch: pytest.MonkeyPatch) -> None:
    from bitnet_studio.ui import app

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(app, "run_gui", lambda **kw: calls.append(kw) or 0)
    assert cli.main([]) == 0
    assert calls and calls[0]["models"] == ["default-vanilla", "default-ternary"]
    assert calls[0]["screenshot"] is None


def test_qt_binding_keeps_refcounts() -> None:
    """PySide6 6.12.0 on Python < 3.12 drops a reference to True/None per signal delivery
    (the process dies after a few thousand); requirements must pin a version without it."""

    class Emitter(QObject):
        sig = Signal(object)

    o = Emitter()
    o.sig.connect(lambda _v: None)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(50):
        o.sig.emit(1)
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert after[0] == before[0] and after[1] >= before[1] - 5, (before, after)
