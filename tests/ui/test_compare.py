"""The Compare page: streaming to every pane, stop, regenerate, clear, export, partings."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GEN_TIMEOUT_MS, wait_idle

from bitnet_studio.ui import chat_pane
from bitnet_studio.ui.main_window import MainWindow
from bitnet_studio.ui.token_view import TokenRecord, shade

pytestmark = pytest.mark.timeout(120)


def test_both_panes_stream_to_the_end(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    assert [p.model().name for p in page.panes] == [m.name for m in window.store.models()]
    page.prompt.setPlainText("the quick brown fox")
    assert page.send()
    assert page.is_busy() and page.timer.isActive()
    wait_idle(qtbot, window)
    assert not page.timer.isActive()
    for pane in page.panes:
        done = pane.last_done
        assert done is not None and done.stop_reason in ("eos", "length")
        assert pane.turns[-1].answer == done.text
        assert [t.id for t in pane.turns[-1].tokens] == done.ids
        assert "decode" in pane.metrics.text() and "TTFT" in pane.metrics.text()
        assert "You: the quick brown fox" in pane.view.toPlainText()
    assert page.prompt.toPlainText() == ""


def test_stop_mid_stream(qtbot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    real = chat_pane.generate

    def slow(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for ev in real(*args, **kwargs):
            time.sleep(0.01)
            yield ev

    monkeypatch.setattr(chat_pane, "generate", slow)
    page = window.compare
    page.sampling.max_tokens.setValue(200)
    pane = page.panes[0]
    assert page.send("the quick brown fox")
    qtbot.waitUntil(lambda: len(pane.turns[-1].tokens) >= 3, timeout=GEN_TIMEOUT_MS)
    assert page.stop_button.isEnabled()
    page.stop()
    wait_idle(qtbot, window)
    assert pane.last_done is not None and pane.last_done.stop_reason == "cancel"
    assert len(pane.turns[-1].tokens) < 200
    assert page.send_button.isEnabled() and not page.stop_button.isEnabled()


def test_regenerate_replaces_the_answer(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    page.send("ternary weights")
    wait_idle(qtbot, window)
    first = [p.turns[-1].answer for p in page.panes]
    assert page.regenerate()
    wait_idle(qtbot, window)
    # Same seed, same settings: the same answers, still one turn per pane, shown once.
    assert [p.turns[-1].answer for p in page.panes] == first
    for pane in page.panes:
        assert len(pane.turns) == 1
        assert pane.view.toPlainText().count("You: ternary weights") == 1


def test_clear_starts_a_new_chat(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    page.send("one")
    wait_idle(qtbot, window)
    page.send("two")
    wait_idle(qtbot, window)
    assert all(len(p.turns) == 2 for p in page.panes)
    page.clear()
    assert all(not p.turns and p.view.toPlainText() == "" for p in page.panes)
    assert page.send("three")
    wait_idle(qtbot, window)
    assert all(len(p.turns) == 1 for p in page.panes)


def test_export_json_and_markdown(qtbot, window: MainWindow, tmp_path, tiny_models) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    page.sampling.seed.setValue(7)
    page.sampling.system_prompt.setPlainText("be brief")
    page.send("a small model")
    wait_idle(qtbot, window)
    page.export(tmp_path / "c.json")
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["kernel_path"] and doc["threads"] >= 1 and doc["system_prompt"] == "be brief"
    assert len(doc["panes"]) == 2
    for rec, path in zip(doc["panes"], tiny_models, strict=True):
        m = rec["model"]
        assert m["path"] == path and m["format"] and m["backend"] == "native"
        assert m["sha256"] == hashlib.sha256(Path(path).read_bytes()).hexdigest()
        assert rec["sampling"]["seed"] == 7
        assert rec["conversation"][0]["user"] == "a small model"
        assert rec["timings"]["decode_tokens_per_s"] >= 0 and rec["timings"]["ttft_ms"] > 0
    page.export(tmp_path / "c.md")
    md = (tmp_path / "c.md").read_text()
    assert "# BitNet Studio comparison" in md and "be brief" in md and "sha256" in md


def test_answers_part_is_marked(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    page.sampling.temperature.setValue(0.0)
    page.send("the lazy dog")
    wait_idle(qtbot, window)
    a, b = (p.turns[-1].tokens for p in page.panes)
    k = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x.id != y.id), None)
    assert k is not None, "two random models gave the same answer"
    assert "answers part here" in a[k].note and "answers part here" in b[k].note
    assert not any(t.note for t in a[:k])
    assert "answers part here" in page.panes[0].view.tooltip(a[k])


def test_same_model_in_both_panes_never_parts(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    page.panes[1].set_model(page.panes[0].model().name)
    page.sampling.temperature.setValue(0.0)
    page.send("the lazy dog")  # the two panes share one session: they take turns
    wait_idle(qtbot, window)
    a, b = (p.turns[-1].tokens for p in page.panes)
    assert [t.id for t in a] == [t.id for t in b]
    assert not any(t.note for t in a + b)


def test_add_pane(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    pane = page.add_pane()
    assert pane is not None and len(page.panes) == 3 and pane.model() is not None
    page.send("quick")
    wait_idle(qtbot, window)
    assert all(p.last_done is not None for p in page.panes)


def test_shading_follows_probability() -> None:
    assert shade(1.0).alpha() == 0
    assert shade(0.01).alpha() > shade(0.5).alpha() > 0
    assert TokenRecord(1, "x", 0.0, []).p == 1.0


@pytest.mark.timeout(120)
def test_generation_feeds_the_live_plots(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """Compare reports each pane's decode speed to Measure while it streams."""
    live = window.measure.live
    names = [p.model().name for p in window.compare.panes]
    assert window.compare.send("the quick brown fox")
    wait_idle(qtbot, window)
    with live._lock:
        latest = {n: live._latest[n].tps for n in names if n in live._latest}
    assert set(latest) == set(names) and all(v > 0 for v in latest.values())


def test_too_long_prompt_does_not_lock_the_pane(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """A message longer than the 256-token context fails in view with what to do; the next
    message is answered (the failed one is not kept in the conversation)."""
    page = window.compare
    long = "the quick brown fox jumps " * 60
    assert page.send(long)
    wait_idle(qtbot, window)
    for pane in page.panes:
        assert pane.last_done is None and "does not fit the 256-token context" in pane.last_error
        assert pane.turns[-1].failed
        text = pane.view.toPlainText()
        assert "shorten it" in text and "left out of the conversation" in text
    assert page.prompt.toPlainText() == long.strip()  # given back to edit
    page.prompt.clear()
    assert page.send("the quick brown fox")
    wait_idle(qtbot, window)
    for pane in page.panes:
        assert pane.last_error == "" and pane.last_done is not None
        msgs = pane.messages("")
        assert [m["content"] for m in msgs if m["role"] == "user"] == ["the quick brown fox"]


def test_long_conversation_drops_oldest_turns(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    page.sampling.system_prompt.setPlainText("answer briefly")
    pane = page.panes[0]
    for i in range(12):
        assert page.send(f"message number {i}: tell me about the quick brown fox")
        wait_idle(qtbot, window)
        assert pane.last_error == "", pane.last_error
        if pane.dropped_turns:
            break
    assert pane.dropped_turns > 0 and pane.last_done is not None
    assert "oldest turn" in pane.view.toPlainText()
    assert "fit the 256-token context (system prompt kept)" in pane.view.toPlainText()


def test_window_opens_one_pane_per_model_asked_for(
    qtbot, tiny_models: tuple[str, str], tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """`gui --models A B C` puts three models side by side, not two."""
    third = tmp_path / "tiny-third.gguf"
    third.write_bytes(Path(tiny_models[0]).read_bytes())
    w = MainWindow(models=[*tiny_models, str(third)])
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: len(w.store.models()) == 3, timeout=30_000)
    assert len(w.compare.panes) == 3
    qtbot.waitUntil(lambda: all(p.model() is not None for p in w.compare.panes), timeout=30_000)
    assert [p.model().name for p in w.compare.panes] == w.store.names()
    w.shutdown(timeout_s=20)
