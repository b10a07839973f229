"""Models that cannot be used say so in a dialog that names the file or folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from bitnet_studio.ui.main_window import MainWindow
from tests.tiny_models import make_model, write_hf_llama
from tests.ui.conftest import LOAD_TIMEOUT_MS

pytestmark = pytest.mark.timeout(120)


def test_folder_without_tokenizer_names_the_folder(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[str] = []

    def fake_exec(box: QMessageBox) -> int:
        shown.append(box.text())
        return int(QMessageBox.StandardButton.Ok.value)

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    folder = write_hf_llama(make_model("llama"), tmp_path / "notok", "f16")
    (folder / "tokenizer.json").unlink()
    window.open_model(str(folder))
    qtbot.waitUntil(lambda: bool(shown), timeout=LOAD_TIMEOUT_MS)
    assert shown[0] == f"{folder}: no tokenizer (tokenizer.json / tokenizer.model not found)"
    assert len(window.store.models()) == 2
