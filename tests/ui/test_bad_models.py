"""Models that cannot be used say so in a dialog that names the file or folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from bitnet_studio.formats import write_gguf
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.ui.main_window import MainWindow
from bitnet_studio.ui.model_store import ModelStore
from tests.fuzz_mutations import mutate_gguf, walk_gguf
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


def test_mutated_files_fail_in_the_app_with_their_path(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The app's load path (ModelStore, what the dialog shows) on a few fuzzed files: each
    loads, or fails with a message that starts with the file's path (never a bare
    ``ValueError: ...``)."""
    src = tmp_path / "src.gguf"
    write_gguf(random_model(tiny_config("llama"), seed=5), src, "f16")
    data = src.read_bytes()
    layout = walk_gguf(data)
    store = ModelStore()
    results: dict[str, str] = {}
    store.sig_loaded.connect(lambda name: results.__setitem__(name, "ok"))
    store.sig_failed.connect(lambda name, message: results.__setitem__(name, message))
    kinds = ["bitflip", "integer", "truncate", "tensor_data", "tokenizer"]
    paths = []
    for seed in range(15):
        path = tmp_path / f"m{seed}.gguf"
        path.write_bytes(mutate_gguf(data, layout, kinds[seed % 5], np.random.default_rng(seed)))
        paths.append(path)
        store.load(str(path))
    qtbot.waitUntil(lambda: len(results) == len(paths), timeout=LOAD_TIMEOUT_MS)
    failed = {n: m for n, m in results.items() if m != "ok"}
    assert failed  # the mutations do break files
    for name, message in failed.items():
        assert message.startswith(f"{name}: "), message
    store.close_all()


def test_non_finite_model_fails_in_the_pane_not_the_app(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Weights with NaN: the Compare pane says where generation broke (it used to be an
    IndexError in the sampler), and the Inspect page's summary flags the model."""
    w = random_model(tiny_config("llama"), seed=3)
    t = np.array(w.tensors["layers.0.mlp.up_proj"], dtype=np.float16)
    t[:, :3] = np.nan
    w.tensors["layers.0.mlp.up_proj"] = t
    path = tmp_path / "nan.gguf"
    write_gguf(w, path, "f16")
    window = MainWindow(models=[str(path)])
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: len(window.store.models()) == 1, timeout=LOAD_TIMEOUT_MS)
    pane = window.compare.panes[0]
    assert window.compare.send("hello")
    qtbot.waitUntil(lambda: not window.compare.is_busy(), timeout=LOAD_TIMEOUT_MS)
    assert pane.last_error.startswith(f"{path}: the model's logits are not finite at prefill")
    assert "not finite" in pane.view.toPlainText()
    window.inspect.select_model(window.store.models()[0].name)
    assert not window.inspect.warning.isHidden()
    assert "non-finite weights" in window.inspect.warning.text()
    window.shutdown(timeout_s=20)
