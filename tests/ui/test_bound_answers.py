"""Compare's numbers name the right model: an answer stays bound to the model that produced it
(issue 12.1), each pane shows its own model's memory (12.2), tooltips speak of the
temperature the token was drawn at and decode the alternatives, and the seed actually used
is exported (12.4)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import GEN_TIMEOUT_MS, wait_idle

from bitnet_studio.engine.model_memory import ModelMemory, mapped_resident_bytes
from bitnet_studio.engine.sampling import Sampler, SamplingParams, softmax
from bitnet_studio.ui import chat_pane
from bitnet_studio.ui.main_window import MainWindow
from bitnet_studio.ui.token_view import TokenRecord, TokenView

pytestmark = pytest.mark.timeout(120)


def _slow_generation(monkeypatch: pytest.MonkeyPatch, delay: float = 0.02) -> None:
    real = chat_pane.generate

    def slow(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for ev in real(*args, **kwargs):
            time.sleep(delay)
            yield ev

    monkeypatch.setattr(chat_pane, "generate", slow)


def test_switching_models_mid_answer_keeps_the_answer_bound(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, tiny_models: tuple[str, str], tmp_path: Path, monkeypatch
) -> None:
    _slow_generation(monkeypatch)
    vanilla, ternary = tiny_models
    page, pane = window.compare, window.compare.panes[0]
    page.sampling.max_tokens.setValue(60)
    page.sampling.temperature.setValue(1.0)  # random weights rarely stop early when sampling
    seen: list[str] = []
    pane.sig_metrics.connect(lambda name, _t, _m: seen.append(name))
    assert page.send("Write a long essay about the history of Rome.")
    qtbot.waitUntil(lambda: len(pane.turns[-1].tokens) >= 2, timeout=GEN_TIMEOUT_MS)
    # File > Load pair while it streams: the other model is asked for into pane 0.
    window.store.load(ternary, slot=0)
    qtbot.wait(100)
    assert pane.is_busy(), "the answer ended before the switch: the test proves nothing"
    assert pane.selector.currentData() == vanilla and not pane.selector.isEnabled()
    assert pane.model().name == vanilla
    assert pane.facts.text() == chat_pane.model_facts(window.store.get(vanilla))
    wait_idle(qtbot, window)
    # Once it has ended, the pane moves to the model asked for; the answer stays labelled.
    assert pane.selector.currentData() == ternary and pane.selector.isEnabled()
    assert pane.answered_by is not None and pane.answered_by.name == vanilla
    assert pane.turns[-1].model == vanilla
    assert seen and set(seen) == {vanilla}  # Measure heard of the model that answered
    page.export(tmp_path / "c.json")
    rec = json.loads((tmp_path / "c.json").read_text())["panes"][0]
    assert rec["model"]["path"] == vanilla
    assert rec["model"]["sha256"] == hashlib.sha256(Path(vanilla).read_bytes()).hexdigest()
    assert rec["conversation"][0]["model"] == vanilla


def test_clear_mid_answer_moves_to_the_model_asked_for(  # type: ignore[no-untyped-def]
    qtbot, window: MainWindow, tiny_models: tuple[str, str], monkeypatch
) -> None:
    _slow_generation(monkeypatch)
    vanilla, ternary = tiny_models
    page, pane = window.compare, window.compare.panes[0]
    page.sampling.max_tokens.setValue(60)
    page.sampling.temperature.setValue(1.0)
    assert page.send("Write a long essay about the history of Rome.")
    qtbot.waitUntil(lambda: len(pane.turns[-1].tokens) >= 1, timeout=GEN_TIMEOUT_MS)
    window.store.load(ternary, slot=0)
    assert pane.selector.currentData() == vanilla
    page.clear()
    assert pane.selector.currentData() == ternary and pane.selector.isEnabled()
    assert pane.model().name == ternary


def test_each_pane_shows_its_own_models_memory(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    got: dict[str, float] = {}
    window.compare.sig_metrics.connect(lambda name, _t, mb: got.__setitem__(name, mb))
    assert window.compare.send("the quick brown fox")
    wait_idle(qtbot, window)
    figures = []
    for pane in window.compare.panes:
        m = pane.model()
        parts = m.session.memory()
        weights = sum(v for k, v in parts.items() if k not in ("kv_cache", "scratch"))
        assert pane.memory is not None and pane.memory.weights == weights
        n = pane.context_tokens()
        assert n == len(pane.last_done.prompt_ids) + len(pane.turns[-1].tokens)
        expected = (weights + parts["kv_cache"] * n / m.session.n_ctx + parts["scratch"]) / 1e6
        assert pane.memory_mb() == pytest.approx(expected, rel=1e-3)
        assert got[m.name] == pytest.approx(pane.memory_mb())
        text = pane.metrics.text()
        assert "model memory" in text and "KV cache" in text and "RSS" not in text
        figures.append(pane.memory_mb())
    assert figures[0] != figures[1]  # two models, two figures (RSS would be one)


def test_model_memory_arithmetic_and_smaps() -> None:
    mem = ModelMemory(1_000_000, None, 100.0, 409_600, 4096, 5_000)
    assert mem.kv_at(0) == 0 and mem.kv_at(10) == 1000 and mem.kv_at(10**6) == 409_600
    assert mem.total_at(10) == 1_006_000
    assert "10/4,096 tokens" in mem.describe(10)
    smaps = (
        "7f00-7f10 r--s 00000000 08:01 12 /models/a.gguf\n"
        "Size:  64 kB\nRss:  16 kB\n"
        "7f10-7f20 rw-p 00000000 00:00 0 \nRss:  400 kB\n"
        "7f20-7f30 r--s 00001000 08:01 12 /models/a.gguf\nRss:  8 kB\n"
    )
    assert mapped_resident_bytes("/models/a.gguf", smaps) == 24 * 1024
    assert mapped_resident_bytes("/models/b.gguf", smaps) is None
    assert mapped_resident_bytes(None, smaps) is None


def test_sampler_reports_tempered_probabilities() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=50).astype(np.float32) * 3
    params = SamplingParams(temperature=0.5, top_k=0, top_p=1.0, min_p=0.0, seed=3)
    s = Sampler(params).sample(logits)
    warm = softmax(logits / 0.5)
    assert s.tempered is not None
    p_tok, alts = s.tempered
    assert p_tok == pytest.approx(warm[s.id])
    assert alts == pytest.approx([warm[i] for i, _ in s.top])
    assert alts[0] > s.top[0][1]  # a low temperature sharpens the best token
    assert Sampler(SamplingParams(temperature=0.0)).sample(logits).tempered is None


def test_tooltips_show_tempered_p_and_decoded_alternatives(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    page.sampling.temperature.setValue(0.7)
    assert page.send("the quick brown fox jumps over the lazy dog")
    wait_idle(qtbot, window)
    pane = page.panes[0]
    tok = pane.model().tokenizer
    t = pane.turns[-1].tokens[0]
    assert t.tempered is not None and t.temperature == pytest.approx(0.7)
    tip = pane.view.tooltip(t)
    assert f"p = {t.tempered[0]:.1%} at temperature 0.7" in tip and f"model: {t.p:.1%}" in tip
    # A byte-level vocabulary entry ('Ġthe') is shown as the text it stands for (' the').
    raw_id = next(i for i in range(3, 256) if tok.token_text(i).startswith("Ġ"))
    view = pane.view
    fake = TokenRecord(raw_id, "x", -1.0, [(raw_id, 0.3)], tempered=(0.4, [0.4]), temperature=0.7)
    assert repr(tok.decode([raw_id])) in view.tooltip(fake) and "Ġ" not in view.tooltip(fake)


def test_greedy_tooltip_says_so(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = TokenView()
    qtbot.addWidget(view)
    tip = view.tooltip(TokenRecord(5, "x", np.log(0.25), [(5, 0.25)]))
    assert "p = 25.0% (greedy)" in tip


def test_new_seed_each_time_exports_the_seed_used(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    page = window.compare
    page.sampling.random_seed.setChecked(True)
    page.sampling.temperature.setValue(1.0)
    page.send("a small model")
    wait_idle(qtbot, window)
    page.export(tmp_path / "c.json")
    recs = json.loads((tmp_path / "c.json").read_text())["panes"]
    seeds = {r["sampling"]["seed"] for r in recs}
    assert len(seeds) == 1 and isinstance(next(iter(seeds)), int)  # one seed, both panes
    first = [p.turns[-1].answer for p in page.panes]
    # The recorded seed reproduces the answers.
    page.sampling.random_seed.setChecked(False)
    page.sampling.seed.setValue(next(iter(seeds)))
    assert page.regenerate()
    wait_idle(qtbot, window)
    assert [p.turns[-1].answer for p in page.panes] == first


def test_a_ptq_twin_does_not_claim_its_sources_file_mapping(window: MainWindow) -> None:
    m = window.store.models()[0]
    assert m.weights_file == m.path
    twin = dataclasses.replace(m, summary={**m.summary, "format": "gguf+ptq"})
    assert twin.weights_file is None
