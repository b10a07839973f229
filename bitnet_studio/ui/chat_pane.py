"""One model's side of a comparison: model selector, facts, the streamed conversation, metrics.

Generation runs on a worker thread per pane (gpt4all style). The worker only appends the
engine's events to a locked list; the page's ~30 Hz timer calls ``flush()``, which moves them
into the view in one go: no signal per token, no redraw per token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bitnet_studio.engine.conversation import answer_reserve, context_limit, fit_conversation
from bitnet_studio.engine.generate import DoneEvent, GenerationEvent, TokenEvent, generate
from bitnet_studio.engine.metrics import rss_mb
from bitnet_studio.engine.sampling import SamplingParams
from bitnet_studio.models.chat_template import ChatTemplate
from bitnet_studio.ui.event_sink import EventSink
from bitnet_studio.ui.model_store import LoadedModel, ModelStore
from bitnet_studio.ui.token_view import TokenRecord, TokenView, Turn
from bitnet_studio.ui.workers import Worker, start_worker


def model_facts(m: LoadedModel) -> str:
    """One line: format, backend, bits per weight, parameters, ternary layers."""
    s = m.summary
    params = s.get("parameters", 0)
    size = f"{params / 1e6:.1f} M" if params >= 1e5 else f"{params / 1e3:.1f} k"
    tern = f"{s.get('ternary_linear_layers', 0)}/{s.get('linear_layers', 0)} ternary linears"
    return (
        f"{s.get('format') or '?'} · {m.backend} · {s.get('bits_per_weight', 0.0):.2f} bits/weight"
        f" · {size} params · {tern}"
    )


class _Sink(EventSink[GenerationEvent]):
    """Generation events waiting for the next flush, and when the first token came."""

    def __init__(self) -> None:
        super().__init__()
        self.t_start = time.perf_counter()
        self.t_first: float | None = None
        self.prompt_tokens = 0
        self.dropped_turns = 0  # oldest exchanges left out so the conversation fits
        self.context = 0  # the context it was fitted to

    def push(self, ev: GenerationEvent) -> None:
        if self.t_first is None and isinstance(ev, TokenEvent):
            self.t_first = time.perf_counter()
        super().push(ev)


def _generate_answer(
    progress: Callable[[Any], None],
    cancel: Callable[[], bool],
    model: LoadedModel,
    messages: list[dict[str, str]],
    params: SamplingParams,
    sink: _Sink,
) -> None:
    """Worker body: render the conversation, run the engine, leave events in ``sink``."""
    with model.lock:  # a session runs one generation at a time
        template = ChatTemplate.for_tokenizer(model.tokenizer)
        limit = context_limit(model.session)
        fitted = fit_conversation(
            messages,
            lambda msgs: model.tokenizer.encode(template.render(msgs), add_bos=False),
            limit,
            answer_reserve(limit, params.max_tokens),
            model.path,
        )
        ids = fitted.ids
        sink.prompt_tokens = len(ids)
        sink.dropped_turns, sink.context = fitted.dropped_turns, limit
        sink.t_start = time.perf_counter()
        for ev in generate(model.session, model.tokenizer, ids, params, cancel=cancel):
            sink.push(ev)


class ChatPane(QFrame):
    """A model selector, its facts, the conversation and live metrics."""

    sig_finished = Signal(int)
    """pane index: a generation ended (done, stopped or failed)."""
    sig_metrics = Signal(str, float, float)
    """model name, decode tokens/s, resident MB: live while a generation streams."""

    def __init__(self, store: ModelStore, index: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.index = index
        self.turns: list[Turn] = []
        self.last_done: DoneEvent | None = None
        self.last_error = ""
        self.dropped_turns = 0  # oldest exchanges the last answer's prompt left out
        self.used_params: SamplingParams | None = None
        self._worker: Worker | None = None
        self._generation = (
            0  # bumped per start and by clear(): late signals of old ones are dropped
        )
        self._sink: _Sink | None = None
        self._rss_at = 0.0
        self._rss = 0.0
        self.setFrameShape(QFrame.Shape.StyledPanel)

        self.selector = QComboBox()
        self.selector.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.selector.setMinimumContentsLength(16)
        self.selector.currentIndexChanged.connect(self._on_selected)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy this pane's last answer")
        self.copy_button.clicked.connect(self.copy_answer)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(80)
        self.busy.setMaximumHeight(12)
        self.busy.setVisible(False)
        top = QHBoxLayout()
        top.addWidget(self.selector, 1)
        top.addWidget(self.busy)
        top.addWidget(self.copy_button)
        self.facts = QLabel("No model yet")
        self.facts.setWordWrap(True)
        self.facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.view = TokenView()
        self.metrics = QLabel(" ")
        self.metrics.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.facts)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.metrics)

        store.sig_loaded.connect(self._on_loaded)
        store.sig_removed.connect(self._refresh_selector)
        store.sig_loading.connect(lambda _n: self._update_busy())
        store.sig_failed.connect(lambda _n, _m: self._update_busy())
        self._refresh_selector()

    # -- model ------------------------------------------------------------------------------
    def model(self) -> LoadedModel | None:
        name = self.selector.currentData()
        return self.store.get(name) if name else None

    def set_model(self, name: str) -> None:
        i = self.selector.findData(name)
        if i >= 0:
            self.selector.setCurrentIndex(i)

    def _refresh_selector(self, *_: object) -> None:
        current = self.selector.currentData()
        self.selector.blockSignals(True)
        self.selector.clear()
        for m in self.store.models():
            self.selector.addItem(f"{m.label} [{m.backend}]", m.name)
            self.selector.setItemData(
                self.selector.count() - 1, m.path or m.name, Qt.ItemDataRole.ToolTipRole
            )
        i = self.selector.findData(current)
        self.selector.setCurrentIndex(i if i >= 0 else (0 if self.selector.count() else -1))
        self.selector.blockSignals(False)
        self._on_selected()

    def _on_loaded(self, name: str) -> None:
        had = self.model()
        self._refresh_selector()
        m = self.store.get(name)
        if m is not None and (m.slot == self.index or (had is None and m.slot is None)):
            self.set_model(name)
        self._update_busy()

    def _on_selected(self, *_: object) -> None:
        m = self.model()
        if m is None:
            self.facts.setText("Loading a model…" if self.store.is_loading() else "No model")
        else:
            self.facts.setText(model_facts(m))
            self.facts.setToolTip(m.path or m.name)
            self.view.token_text = m.tokenizer.token_text
        self._update_busy()

    def _update_busy(self) -> None:
        loading = self.model() is None and self.store.is_loading()
        self.busy.setVisible(loading or self.is_busy())
        if self.model() is None:
            self.facts.setText("Loading a model…" if loading else "No model: File > Open model")

    # -- conversation -------------------------------------------------------------------------
    def is_busy(self) -> bool:
        return self._worker is not None

    def messages(self, system: str) -> list[dict[str, str]]:
        """The conversation as chat-template messages, ending with the last user turn."""
        out = [{"role": "system", "content": system}] if system else []
        last = len(self.turns) - 1
        for i, t in enumerate(self.turns):
            if t.failed and i < last:
                continue  # a failed turn never poisons the ones after it
            out.append({"role": "user", "content": t.user})
            if i < last:
                out.append({"role": "assistant", "content": t.answer})
        return out

    def send(self, text: str, params: SamplingParams, system: str = "") -> bool:
        """Starts answering ``text``; False when busy or without a model."""
        if self.is_busy() or self.model() is None:
            return False
        turn = Turn(text)
        turn.answer_start = self.view.add_user(text)
        self.turns.append(turn)
        self._start(params, system)
        return True

    def regenerate(self, params: SamplingParams, system: str = "") -> bool:
        """Answers the last user message again, replacing the last answer."""
        if self.is_busy() or self.model() is None or not self.turns:
            return False
        turn = self.turns[-1]
        self.view.truncate(turn.answer_start)
        turn.tokens.clear()
        turn.failed = False
        self._start(params, system)
        return True

    def _start(self, params: SamplingParams, system: str) -> None:
        model = self.model()
        assert model is not None
        self.last_done, self.last_error, self.used_params = None, "", params
        self.dropped_turns = 0
        self._generation += 1
        self._sink = _Sink()
        self.metrics.setText("prefill…")
        self._worker = start_worker(
            _generate_answer,
            model,
            self.messages(system),
            params,
            self._sink,
            on_error=lambda m, _d, g=self._generation: self._on_error(g, m),
            on_done=lambda g=self._generation: self._on_done(g),
        )
        self._update_busy()

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def clear(self) -> None:
        """A new conversation (stops a running answer first)."""
        was_busy = self._worker is not None
        self.stop()
        if self._worker is not None:
            self._worker.wait(10000)
        self._worker, self._sink = None, None
        self._generation += 1
        self.turns.clear()
        self.view.clear()
        self.last_done, self.last_error = None, ""
        self.metrics.setText(" ")
        self._update_busy()
        if was_busy:
            self.sig_finished.emit(self.index)

    def copy_answer(self) -> None:
        if self.turns:
            QGuiApplication.clipboard().setText(self.turns[-1].answer)

    def _on_error(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self.last_error = message

    def _on_done(self, generation: int) -> None:
        if generation != self._generation:
            return
        self.flush()
        self._worker, self._sink = None, None
        if self.last_error:
            if self.turns:
                self.turns[-1].failed = True
            self.view.add_note(
                f"error: {self.last_error} (this message is left out of the conversation)"
            )
            self.metrics.setText(f"error: {self.last_error}")
        self._update_busy()
        self.sig_finished.emit(self.index)

    # -- the timer's work ---------------------------------------------------------------------
    def flush(self) -> bool:
        """Moves buffered events into the view; updates live metrics. True if tokens came."""
        sink = self._sink
        if sink is None or not self.turns:
            return False
        events = sink.take()
        turn = self.turns[-1]
        new = [
            TokenRecord(e.id, e.text, e.logprob, e.top) for e in events if isinstance(e, TokenEvent)
        ]
        turn.tokens.extend(new)
        self.view.add_tokens(new)
        now = time.perf_counter()
        if now - self._rss_at > 0.5:
            self._rss, self._rss_at = rss_mb(), now
        done = next((e for e in events if isinstance(e, DoneEvent)), None)
        if done is not None:
            self.last_done = done
            self.dropped_turns = sink.dropped_turns
            note = f"{len(done.ids)} tokens, {done.stop_reason}"
            if sink.dropped_turns:
                n = sink.dropped_turns
                note += (
                    f"; the {n} oldest turn{'s' if n > 1 else ''} left out to fit the "
                    f"{sink.context}-token context (system prompt kept)"
                )
            self.view.add_note(note)
            self.metrics.setText(
                self._metrics_text(done.ttft_ms, done.prefill_tps, done.decode_tps, done.rss_mb)
            )
            self._report(done.decode_tps, done.rss_mb)
        elif sink.t_first is not None:
            n = len(turn.tokens)
            ttft = 1000.0 * (sink.t_first - sink.t_start)
            dec = (n - 1) / (now - sink.t_first) if n > 1 and now > sink.t_first else 0.0
            pre = sink.prompt_tokens / max(1e-9, sink.t_first - sink.t_start)
            self.metrics.setText(self._metrics_text(ttft, pre, dec, self._rss))
            if dec > 0:
                self._report(dec, self._rss)
        return bool(new) or done is not None

    def _report(self, decode_tps: float, rss: float) -> None:
        m = self.model()
        if m is not None:
            self.sig_metrics.emit(m.name, float(decode_tps), float(rss))

    def _metrics_text(self, ttft: float, pre: float, dec: float, rss: float) -> str:
        n = len(self.turns[-1].tokens) if self.turns else 0
        return (
            f"TTFT {ttft:.0f} ms · prefill {pre:.1f} tok/s · decode {dec:.1f} tok/s"
            f" · {n} tokens · RSS {rss:.0f} MB"
        )
