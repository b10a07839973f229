"""Sampling and the generation loop: determinism, filters, stops, cancel, streaming, metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from bitnet_studio.engine.generate import DoneEvent, TokenEvent, generate, generate_all
from bitnet_studio.engine.sampling import (
    Sampler,
    SamplingParams,
    apply_repetition_penalty,
    filter_probs,
    softmax,
)
from bitnet_studio.engine.torch_backend import TorchBackend, TorchSession
from bitnet_studio.errors import StudioError
from bitnet_studio.models.config import ModelConfig
from bitnet_studio.models.random_model import random_model, tiny_config, tiny_tokenizer_spec
from bitnet_studio.models.tokenizer import Tokenizer

PROMPT = [1, 42, 99, 17, 250, 3, 64]
FREE = dict(temperature=1.0, top_k=0, top_p=1.0, min_p=0.0)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.from_spec(tiny_tokenizer_spec())


def torch_session(arch: str = "llama", **overrides: object) -> TorchSession:
    return TorchBackend().load(random_model(tiny_config(arch, **overrides), seed=11), threads=1)


class ScriptedSession:
    """A Session whose logits pick ``script[k]`` at generation step k (then repeat the last)."""

    def __init__(self, config: ModelConfig, script: Sequence[int], delay: float = 0.0) -> None:
        self.config, self.script, self.delay = config, list(script), delay
        self._n = self.steps = 0

    def _logits(self) -> np.ndarray:
        out = np.full(self.config.vocab_size, -10.0, np.float32)
        out[self.script[min(self.steps, len(self.script) - 1)]] = 10.0
        return out

    def prefill(self, tokens: Sequence[int]) -> np.ndarray:
        self._n += len(tokens)
        return np.stack([self._logits()] * len(tokens))

    def decode(self, token: int) -> np.ndarray:
        time.sleep(self.delay)
        self._n += 1
        self.steps += 1
        return self._logits()

    def reset(self) -> None:
        self._n = self.steps = 0

    @property
    def n_past(self) -> int:
        return self._n

    def memory(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        pass


def run(session, tok, params, **kw) -> tuple[list[TokenEvent], DoneEvent]:
    events = list(generate(session, tok, PROMPT, params, **kw))
    done = events[-1]
    assert isinstance(done, DoneEvent)
    tokens = [e for e in events[:-1] if isinstance(e, TokenEvent)]
    assert len(tokens) == len(events) - 1 == len(done.ids)
    assert "".join(e.text for e in tokens) == done.text  # the streaming invariant
    return tokens, done


# ----------------------------------------------------------------------------- sampler


def test_filters_on_hand_made_distributions() -> None:
    p = np.array([0.5, 0.3, 0.15, 0.05])
    np.testing.assert_allclose(filter_probs(p, 2, 1.0, 0.0), [0.625, 0.375, 0, 0])
    np.testing.assert_allclose(filter_probs(p, 0, 0.7, 0.0), [0.625, 0.375, 0, 0])
    np.testing.assert_allclose(filter_probs(p, 0, 0.5, 0.0), [1, 0, 0, 0])
    np.testing.assert_allclose(
        filter_probs(p, 0, 0.81, 0.0), [0.5, 0.3, 0.15, 0] / np.float64(0.95)
    )
    np.testing.assert_allclose(filter_probs(p, 0, 1.0, 0.2), [0.5, 0.3, 0.15, 0] / np.float64(0.95))
    np.testing.assert_allclose(filter_probs(p, 0, 1.0, 0.0), p)
    # Unsorted input: the filters work on probabilities, not positions.
    np.testing.assert_allclose(filter_probs(p[::-1], 1, 1.0, 0.0), [0, 0, 0, 1])


def test_repetition_penalty_ctrl_rule() -> None:
    logits = np.array([2.0, -2.0, 1.0, 0.5], np.float32)
    out = apply_repetition_penalty(logits, [0, 1, 1], 2.0)
    np.testing.assert_allclose(out, [1.0, -4.0, 1.0, 0.5])
    assert apply_repetition_penalty(logits, [0], 1.0) is logits
    # Greedy with the penalty moves off the repeated token.
    s = Sampler(SamplingParams(greedy=True, repetition_penalty=2.0))
    assert s.sample(np.array([2.0, 1.5, 0.0], np.float32), history=[0]).id == 1
    assert s.sample(np.array([2.0, 1.5, 0.0], np.float32), history=[]).id == 0


def test_sampler_draws_follow_the_distribution_and_report_raw_probs() -> None:
    logits = np.log(np.array([0.6, 0.3, 0.1], np.float32))
    s = Sampler(SamplingParams(seed=3, **FREE))
    counts = np.bincount([s.sample(logits).id for _ in range(3000)], minlength=3) / 3000
    np.testing.assert_allclose(counts, [0.6, 0.3, 0.1], atol=0.03)
    one = Sampler(SamplingParams(temperature=5.0, top_k=1)).sample(logits)
    assert one.id == 0
    assert one.logprob == pytest.approx(np.log(0.6), rel=1e-5)
    assert [i for i, _ in one.top] == [0, 1, 2]
    assert sum(p for _, p in one.top) == pytest.approx(1.0)
    # Greedy ties go to the lowest id; low temperature concentrates on the best token.
    assert Sampler(SamplingParams(greedy=True)).sample(np.zeros(4, np.float32)).id == 0
    cold = Sampler(SamplingParams(seed=1, temperature=0.05, top_k=0, top_p=1.0, min_p=0.0))
    assert {cold.sample(logits).id for _ in range(50)} == {0}
    np.testing.assert_allclose(softmax(np.array([0.0, 0.0])), [0.5, 0.5])


# ----------------------------------------------------------------------------- torch model


def test_greedy_is_deterministic_and_is_the_argmax_chain(tok: Tokenizer) -> None:
    s = torch_session()
    params = SamplingParams(greedy=True, max_tokens=12)
    _, a = run(s, tok, params, record_logits=True)
    _, b = run(s, tok, params, prefill_chunk=3)  # chunked prefill changes nothing
    assert a.ids == b.ids and a.text == b.text
    assert a.logits is not None and a.logits.shape == (len(a.ids), 300)
    # By hand: prefill, then feed back the arg-max.
    s.reset()
    logits, want = s.prefill(PROMPT)[-1], []
    for _ in range(len(a.ids)):
        want.append(int(np.argmax(logits)))
        if want[-1] in (0, 2):
            break
        logits = s.decode(want[-1])
    assert a.ids == want
    np.testing.assert_array_equal(a.logits.argmax(-1), a.ids)


def test_seeded_sampling_is_reproducible_and_seeds_differ(tok: Tokenizer) -> None:
    s = torch_session("bitnet-b1.58")
    runs = [
        run(s, tok, SamplingParams(seed=seed, max_tokens=20, **FREE))[1].ids for seed in (5, 5, 6)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_stops_at_context_and_reports_metrics(tok: Tokenizer) -> None:
    s = torch_session(max_position=16)
    seen: list[object] = []
    tokens, done = run(s, tok, SamplingParams(greedy=True, max_tokens=100), on_event=seen.append)
    if done.stop_reason == "context":
        assert len(done.ids) == 16 - len(PROMPT) + 1 and s.n_past == 16
    else:  # the random model may well say EOS first
        assert done.stop_reason == "eos"
    assert len(seen) == len(tokens) + 1 and seen[-1] is done
    assert done.ttft_ms > 0 and done.prefill_tps > 0 and done.rss_mb > 10
    assert done.decode_tps > 0 or len(done.ids) == 1
    assert done.prompt_ids == PROMPT
    with pytest.raises(StudioError, match="context"):
        generate_all(s, tok, list(range(3, 19)), SamplingParams())


def test_cancel_from_another_thread_stops_within_one_token(tok: Tokenizer) -> None:
    script = tok.encode("the quick brown fox jumps over the lazy dog " * 4)
    session = ScriptedSession(tiny_config(), script, delay=0.02)
    stop = threading.Event()
    third = threading.Event()
    box: dict[str, object] = {}

    def on_event(e: object) -> None:
        if isinstance(e, TokenEvent) and e.index == 2:
            third.set()

    def worker() -> None:
        box["done"] = generate_all(
            session, tok, PROMPT, SamplingParams(greedy=True, max_tokens=1000),
            cancel=stop.is_set, on_event=on_event,
        )  # fmt: skip

    th = threading.Thread(target=worker)
    th.start()
    assert third.wait(10)
    stop.set()
    at_cancel = session.steps + 1  # tokens sampled so far (at most)
    th.join(10)
    done = box["done"]
    assert isinstance(done, DoneEvent) and done.stop_reason == "cancel"
    assert len(done.ids) <= at_cancel + 1


def test_cancel_during_prefill(tok: Tokenizer) -> None:
    s = torch_session()
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 2

    _, done = run(s, tok, SamplingParams(), cancel=cancel, prefill_chunk=2)
    assert done.stop_reason == "cancel" and done.ids == [] and s.n_past == 4


# ----------------------------------------------------------------------------- text handling


def scripted(tok: Tokenizer, text: str, end: int | None = 2) -> ScriptedSession:
    ids = tok.encode(text, special=False)
    return ScriptedSession(tiny_config(), ids + ([end] if end is not None else []))


def test_eos_and_length(tok: Tokenizer) -> None:
    tokens, done = run(scripted(tok, "Hello world."), tok, SamplingParams(greedy=True))
    assert done.stop_reason == "eos" and done.text == "Hello world." and done.ids[-1] == 2
    assert tokens[-1].text == ""  # the EOS token shows nothing
    _, done = run(scripted(tok, "Hello world.", None), tok, SamplingParams(max_tokens=3))
    assert done.stop_reason == "length" and len(done.ids) == 3
    assert done.text == tok.decode(done.ids)


def test_stop_strings_are_cut_and_never_shown(tok: Tokenizer) -> None:
    text = "Hello world. STOP here and more"
    ids = tok.encode(text)
    assert len(tok.encode("STOP")) > 1  # the stop string spans several tokens
    tokens, done = run(scripted(tok, text), tok, SamplingParams(greedy=True, stop=["STOP"]))
    assert done.stop_reason == "stop" and done.text == "Hello world. "
    assert len(done.ids) < len(ids)
    assert not any("S" in t.text for t in tokens)
    # A stop string that only begins to match is held back, then released.
    tokens, done = run(scripted(tok, text), tok, SamplingParams(greedy=True, stop=["world!"]))
    assert done.stop_reason == "eos" and done.text == text
    # Stop string inside one token's text, several stop strings: the earliest wins.
    _, done = run(scripted(tok, text), tok, SamplingParams(greedy=True, stop=["e", "here"]))
    assert done.text == "H"


def test_streamed_text_never_splits_a_character(tok: Tokenizer) -> None:
    text = "fox 🚀 über 東京 ✓"
    tokens, done = run(scripted(tok, text), tok, SamplingParams(greedy=True))
    assert done.text == text
    assert not any("\ufffd" in t.text for t in tokens)
    assert any(t.text == "" for t in tokens[:-1])  # multi-token characters were held back
