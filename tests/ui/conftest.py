"""UI fixtures: two tiny models on disk, a main window built on them, and a teardown that
joins every worker thread and fails the test if one is still running (a leaked thread)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bitnet_studio.formats import write_gguf
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.ui import workers
from bitnet_studio.ui.main_window import MainWindow

LOAD_TIMEOUT_MS = 30_000
GEN_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(vanilla f16 GGUF, ternary TQ2_0 GGUF): tiny, random, sharing one vocabulary."""
    d = tmp_path_factory.mktemp("models")
    vanilla, ternary = d / "tiny-vanilla.gguf", d / "tiny-ternary.gguf"
    write_gguf(random_model(tiny_config("llama")), vanilla, "f16")
    # 256-wide so that TQ2_0 blocks fit: the projections are really stored ternary.
    cfg = tiny_config("bitnet-b1.58", hidden_size=256, intermediate_size=512, head_dim=64)
    write_gguf(random_model(cfg, seed=1), ternary, "tq2_0")
    return str(vanilla), str(ternary)


@pytest.fixture(autouse=True)
def settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own settings file, never the user's."""
    path = tmp_path / "settings.ini"
    monkeypatch.setenv("BITNET_STUDIO_SETTINGS", str(path))
    return path


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Joins every worker after the test; a worker still running after that fails it."""
    yield
    ok = workers.join_all(timeout_s=20)
    leaked = [w.objectName() for w in workers.active_workers() if w.isRunning()]
    assert ok and not leaked, f"worker threads still running: {leaked}"


@pytest.fixture
def window(qtbot, tiny_models: tuple[str, str]) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    """The main window with the two tiny models loaded (left vanilla, right ternary)."""
    w = MainWindow(models=list(tiny_models))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: len(w.store.models()) == 2, timeout=LOAD_TIMEOUT_MS)
    w.compare.sampling.max_tokens.setValue(24)
    yield w
    w.shutdown(timeout_s=20)


def wait_idle(qtbot, w: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """Until no pane is generating (bounded)."""
    t0 = time.monotonic()
    qtbot.waitUntil(lambda: not w.compare.is_busy(), timeout=GEN_TIMEOUT_MS)
    assert time.monotonic() - t0 < GEN_TIMEOUT_MS / 1000
