"""File > Load trio: the vanilla, BitNet 1-bit and BitNet b1.58 trained twins in three
Compare panes, answering one prompt; Measure draws the three side by side.

``default-trained-bitnet`` is being trained by another change; tiny stand-ins written here
(F16, Q1_0, TQ2_0 files under the trained defaults' names) take the three places. The
models run on the torch backend until the native runtime has 1-bit linears.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox

from bitnet_studio.engine import registry
from bitnet_studio.formats import write_gguf
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.weights import BinaryTensor
from bitnet_studio.ui.main_window import MainWindow
from bitnet_studio.ui.pages import TRIO
from bitnet_studio.ui.side_by_side import linear_bits_per_weight, short_labels
from tests.ui.conftest import LOAD_TIMEOUT_MS, wait_idle

pytestmark = pytest.mark.timeout(180)
WIDE = dict(
    hidden_size=256,
    intermediate_size=512,
    n_heads=4,
    n_kv_heads=2,
    head_dim=64,
    tie_word_embeddings=False,
)
STAND_INS = {  # name -> (arch, GGUF type)
    "default-trained-vanilla": ("llama", "f16"),
    "default-trained-bitnet": ("llama", "q1_0"),
    "default-trained-ternary": ("bitnet-b1.58", "tq2_0"),
}


@pytest.fixture
def resources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(registry, "resource_path", lambda *parts: tmp_path.joinpath(*parts))
    return tmp_path


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Message boxes record their text instead of blocking."""
    shown: list[str] = []

    def fake_exec(box: QMessageBox) -> int:
        shown.append(box.text())
        return int(QMessageBox.StandardButton.Ok.value)

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    return shown


def _write_stand_ins(root: Path) -> None:
    (root / "models").mkdir()
    for seed, (name, (arch, dtype)) in enumerate(STAND_INS.items()):
        cfg = tiny_config(arch, **WIDE)  # type: ignore[arg-type]
        write_gguf(random_model(cfg, seed=seed), root / "models" / f"{name}.gguf", dtype)  # type: ignore[arg-type]


def test_trio_without_files_reports_each_missing_twin(  # type: ignore[no-untyped-def]
    qtbot, resources: Path, dialogs: list[str]
) -> None:
    w = MainWindow(models=[], backend="torch")
    qtbot.addWidget(w)
    assert w.trio_action in w.menuBar().actions()[0].menu().actions()
    w.trio_action.trigger()
    qtbot.waitUntil(lambda: len(dialogs) == 3, timeout=LOAD_TIMEOUT_MS)
    assert all("trained default is missing" in d for d in dialogs)
    assert w.tabs.currentWidget() is w.compare and not w.store.models()
    w.shutdown(timeout_s=20)


def test_trio_opens_three_panes_answers_and_measures(  # type: ignore[no-untyped-def]
    qtbot, resources: Path, tmp_path: Path
) -> None:
    _write_stand_ins(resources)
    w = MainWindow(models=[], backend="torch")
    qtbot.addWidget(w)
    w.resize(1500, 900)
    w.show()
    names = w.load_trio()
    assert TRIO[1] == tuple(STAND_INS)
    assert names == tuple(f"{n}@torch" for n in STAND_INS)  # the store's keys
    qtbot.waitUntil(lambda: len(w.store.models()) == 3, timeout=LOAD_TIMEOUT_MS)
    qtbot.waitUntil(
        lambda: [p.model().name if p.model() else None for p in w.compare.panes] == list(names),
        timeout=LOAD_TIMEOUT_MS,
    )
    assert len(w.compare.panes) == 3
    labels = [p.model().label for p in w.compare.panes]
    assert "1-bit" in labels[1] and "b1.58" in labels[2]
    bitnet = w.compare.panes[1].model().weights
    assert isinstance(bitnet.tensors["layers.0.mlp.up_proj"], BinaryTensor)

    w.compare.sampling.max_tokens.setValue(12)
    assert w.compare.send("the cat")
    wait_idle(qtbot, w)
    for pane in w.compare.panes:
        assert pane.turns and pane.turns[-1].tokens, f"{pane.model().label} said nothing"
    w.grab().save(str(tmp_path / "trio-compare.png"))

    w.show_page("measure")
    side = w.measure.side
    side.refresh()
    assert side.bits.categories == ["vanilla", "BitNet 1-bit", "BitNet b1.58"]
    assert all(lab in side.toolTip() for lab in labels)
    assert "14/14 1-bit linears" in w.compare.panes[1].facts.text()
    bits = side.bits.values[""]
    assert bits[0] > 15.9 and 1.0 <= bits[1] < 1.1 and 1.9 < bits[2] < 2.1
    for m, b in zip((p.model() for p in w.compare.panes), bits, strict=True):
        assert b == pytest.approx(linear_bits_per_weight(m.summary))
    assert side.weights.values[""][1] < side.weights.values[""][2] < side.weights.values[""][0]
    speeds = side.speed.values[""]
    assert all(np.isfinite(s) and s > 0 for s in speeds)  # each pane's decode fed Measure
    w.grab().save(str(tmp_path / "trio-measure.png"))
    w.shutdown(timeout_s=20)


def test_short_labels() -> None:
    assert short_labels(["a, x (1)", "a, y (2)"]) == ["x", "y"]
    assert short_labels(["same (1)", "same (2)"]) == ["same (1)", "same (2)"]  # would clash
    assert short_labels(["tiny llama"]) == ["tiny llama"]
