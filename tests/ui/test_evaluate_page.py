"""The Evaluate page with tiny models: run, cancel mid-run, export, switch reference, and the
main window's tab."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.models.ptq import ternarize_model
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.ui import workers
from bitnet_studio.ui.evaluate_page import EvaluatePage
from bitnet_studio.ui.model_store import ModelStore, open_weights

pytestmark = pytest.mark.timeout(180)
RUN_MS = 60_000
TEXT = "The quick brown fox jumps over the lazy dog, and the dog sleeps on. " * 6


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    p = tmp_path / "text.txt"
    p.write_text(TEXT, encoding="utf-8")
    return p


@pytest.fixture
def page(qtbot, text_file: Path) -> Iterator[EvaluatePage]:  # type: ignore[no-untyped-def]
    store = ModelStore()
    w = random_model(tiny_config("llama"), seed=3)
    store.add(open_weights(w, name="tiny", label="tiny llama"))
    store.add(open_weights(ternarize_model(w), name="tiny-ptq", label="tiny llama, PTQ"))
    p = EvaluatePage(store)
    qtbot.addWidget(p)
    p.resize(1300, 900)
    p.show()
    p.set_checked(["tiny", "tiny-ptq"])
    p.set_reference("tiny")
    p.set_text(str(text_file))
    p.chars_spin.setValue(0)
    p.window_spin.setValue(64)
    p.stride_spin.setValue(32)
    yield p
    p.shutdown()
    assert workers.join_all(timeout_s=30)
    store.close_all()


def _run(qtbot, page: EvaluatePage):  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(page.sig_done, timeout=RUN_MS) as blocker:
        assert page.run()
    qtbot.waitUntil(lambda: not page.running(), timeout=RUN_MS)
    return blocker.args[0]


def test_run_fills_table_chart_and_token_view(qtbot, page: EvaluatePage) -> None:  # type: ignore[no-untyped-def]
    rep = _run(qtbot, page)
    assert not rep.cancelled and rep.window == 64 and rep.stride == 32
    assert page.table.rowCount() == 2
    assert page.table.cell_text(0, "KL mean") == "0.0000"
    assert float(page.table.cell_text(1, "KL mean")) > 0
    assert "est." in page.table.cell_text(1, "energy/token (estimate, 7 nm)")
    ptq = rep.result("tiny-ptq")
    assert float(page.table.cell_text(1, "perplexity")) == pytest.approx(ptq.perplexity, rel=1e-3)
    # quality vs size: one point per model, the twins joined by a line
    assert {p[0] for p in page.chart.points} == {"tiny", "tiny-ptq"}
    assert page.chart.lines == [["tiny-ptq", "tiny"]]
    # token view: the PTQ twin's delta loss against the reference, summing to the gap
    assert page.view_model.currentText() == "tiny-ptq"
    d = page.token_view.deltas
    gap = np.log(ptq.perplexity) - np.log(rep.result("tiny").perplexity)
    assert d.size == ptq.tokens and d.mean() == pytest.approx(gap, abs=1e-9)
    s, e = page.token_view.ranges[3]
    tip = page.token_view.tooltip_at(*_point_of(page, s))
    assert "tiny-ptq:" in tip and "tiny:" in tip and "delta" in tip
    assert e > s


def _point_of(page: EvaluatePage, position: int) -> tuple[int, int]:
    from PySide6.QtGui import QTextCursor

    c = QTextCursor(page.token_view.document())
    c.setPosition(position)
    r = page.token_view.cursorRect(c)
    return r.x() + 2, r.center().y()


def test_cancel_mid_run_keeps_partial_results(qtbot, page: EvaluatePage) -> None:  # type: ignore[no-untyped-def]
    page.set_text_file(_long_text(page))
    page.window_spin.setValue(16)
    page.stride_spin.setValue(8)
    seen: list[int] = []
    show = page._on_progress

    def on_progress(value) -> None:  # type: ignore[no-untyped-def]
        show(value)
        if int(value[0]) > 0:  # tokens scored: cancel after the third chunk
            seen.append(int(value[0]))
        if len(seen) == 3:
            page.cancel()

    page._on_progress = on_progress  # type: ignore[method-assign]
    assert page.run()
    qtbot.waitUntil(lambda: not page.running(), timeout=RUN_MS)
    rep = page.report
    assert rep is not None and rep.cancelled
    assert 0 < rep.result("tiny").tokens < rep.streams[0].size - 1
    assert "CANCELLED" in page.status.text()
    assert page.run_button.isEnabled() and not page.cancel_button.isEnabled()


def _long_text(page: EvaluatePage) -> str:
    p = Path(page.text_file or ".").with_name("long.txt")
    p.write_text(TEXT * 20, encoding="utf-8")
    return str(p)


def test_export_csv_and_json_with_hashes(
    qtbot, page: EvaluatePage, tmp_path: Path, text_file
) -> None:  # type: ignore[no-untyped-def]
    _run(qtbot, page)
    page.export(tmp_path / "e.json")
    page.export(tmp_path / "e.csv")
    doc = json.loads((tmp_path / "e.json").read_text())
    assert doc["text"]["sha256"] == hashlib.sha256(text_file.read_bytes()).hexdigest()
    assert doc["window"] == 64 and doc["stride"] == 32 and doc["reference"] == "tiny"
    assert [m["model"] for m in doc["models"]] == ["tiny", "tiny-ptq"]
    with (tmp_path / "e.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows[1]["text_sha256"] == doc["text"]["sha256"] and rows[1]["stride"] == "32"


def test_switch_reference(qtbot, page: EvaluatePage) -> None:  # type: ignore[no-untyped-def]
    first = _run(qtbot, page)
    page.set_reference("tiny-ptq")
    assert "reference changed" in page.status.text()
    second = _run(qtbot, page)
    assert second.reference == "tiny-ptq"
    assert second.result("tiny-ptq").kl_mean == 0.0 and second.result("tiny").kl_mean > 0
    assert page.view_model.currentText() == "tiny"
    # KL is not symmetric, but both directions are positive for different models
    assert first.result("tiny-ptq").kl_mean > 0
    page.set_reference(None)
    third = _run(qtbot, page)
    assert third.reference is None and third.result("tiny").kl_mean is None
    assert page.table.cell_text(0, "KL mean") == "-"


def test_a_bad_text_file_is_an_error_not_a_crash(qtbot, page: EvaluatePage, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    page.set_text_file(str(bad))
    errors: list[str] = []
    page.sig_error.connect(lambda m, _d: errors.append(m))
    page.run()
    qtbot.waitUntil(lambda: not page.running(), timeout=RUN_MS)
    assert errors and "not UTF-8" in errors[0] and "not UTF-8" in page.status.text()


def test_cancel_while_reading_a_default_ends_quietly(
    qtbot, page: EvaluatePage, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A default not loaded yet is read on the worker; a cancel then scores nothing."""
    import bitnet_studio.engine.registry as registry

    def slow_load(name: str):  # type: ignore[no-untyped-def]
        page.worker.cancel()  # the user pressed Cancel while the model was being read
        return random_model(tiny_config("llama"), seed=3)

    monkeypatch.setattr(registry, "load_named_model", slow_load)
    page.set_checked(["tiny", "default-trained-vanilla", "tiny-ptq"])
    page.set_reference("tiny")
    rep = _run(qtbot, page)
    assert rep.cancelled and rep.results == [] and page.error is None
    assert page.table.rowCount() == 0 and "CANCELLED" in page.status.text()
