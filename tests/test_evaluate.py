"""The evaluation engine on tiny models: windows, perplexity, KL, delta loss, cross-checks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from bitnet_studio.evaluate.run import ModelInput, delta_loss, evaluate_models
from bitnet_studio.evaluate.scoring import kl_divergence, log_softmax
from bitnet_studio.evaluate.texts import EvalText
from bitnet_studio.evaluate.windows import plan_windows
from bitnet_studio.models.ptq import ternarize_model
from tests.tiny_models import make_model

TEXT = EvalText(
    "tiny",
    "tiny",
    (
        "the quick brown fox jumps over the lazy dog. " * 3,
        "ternary weights take three values: minus one, zero and plus one. " * 2,
    ),
    "test",
)


def test_windows_score_every_target_once() -> None:
    for n, w, s in [(1000, 64, 32), (1000, 65, 64), (10, 64, 32), (257, 16, 1), (2, 2, 1)]:
        plan = plan_windows(n, w, s)
        scored = [t for win in plan for t in range(win.score_from, win.end)]
        assert scored == list(range(1, n))
        assert all(win.end - win.begin <= w for win in plan)
        assert all(win.context >= min(w - s - 1, win.score_from - 1) for win in plan[1:])
    with pytest.raises(ValueError, match="stride"):
        plan_windows(100, 16, 16)


def test_kl_is_zero_for_equal_rows_and_positive_otherwise() -> None:
    rng = np.random.default_rng(0)
    a = log_softmax(rng.standard_normal((4, 50)))
    assert np.array_equal(kl_divergence(a, a), np.zeros(4))
    assert (kl_divergence(a, log_softmax(rng.standard_normal((4, 50)))) > 0.01).all()


def _naive_ppl(session_logits: np.ndarray, ids: np.ndarray) -> float:
    logp = log_softmax(session_logits[:-1])
    return math.exp(-logp[np.arange(ids.size - 1), ids[1:]].mean())


def test_one_window_matches_a_direct_forward_pass() -> None:
    """window >= stream: the score is plain next-token loss of one torch forward pass."""
    from bitnet_studio.engine.torch_backend import TorchBackend

    m = make_model("llama", seed=3)
    rep = evaluate_models(None, None, [ModelInput("m", m, "torch")], TEXT, window=256, stride=128)
    ids = rep.streams[0]
    assert ids.size < 256
    s = TorchBackend().load(m)
    direct = _naive_ppl(s.prefill(ids.tolist()), ids)
    assert rep.results[0].perplexity == pytest.approx(direct, rel=1e-6)
    assert rep.results[0].tokens == ids.size - 1


def test_native_matches_torch_and_windows_change_little() -> None:
    m = make_model("llama", seed=1)
    models = [ModelInput("native", m, "native"), ModelInput("torch", m, "torch")]
    rep = evaluate_models(None, None, models, TEXT, reference="torch", window=48, stride=16)
    nat, ref = rep.result("native"), rep.result("torch")
    assert nat.tokens == ref.tokens == rep.streams[0].size - 1
    assert nat.perplexity == pytest.approx(ref.perplexity, rel=2e-3)
    assert nat.kl_mean is not None and nat.kl_mean < 1e-4 and nat.top1_agreement > 0.95
    assert rep.window == 48 and rep.stride == 16
    bpb = float(ref.scores.nll.sum()) / math.log(2) / TEXT.n_bytes
    assert ref.bits_per_byte == pytest.approx(bpb)


def test_kl_self_zero_ptq_large_and_delta_loss_sums_to_the_gap() -> None:
    m = make_model("llama", seed=2)
    twin = ternarize_model(m)
    models = [ModelInput("ref", m), ModelInput("same", m), ModelInput("ptq", twin)]
    rep = evaluate_models(None, None, models, TEXT, reference="ref", window=64, stride=32)
    same, ptq, ref = rep.result("same"), rep.result("ptq"), rep.result("ref")
    assert same.kl_mean == 0.0 and same.kl_p99 == 0.0 and same.top1_agreement == 1.0
    assert ref.kl_mean == 0.0
    assert ptq.kl_mean > 0.05 and ptq.kl_p99 > ptq.kl_mean and ptq.top1_differs > 0.05
    d = delta_loss(rep, "ptq")
    assert d.size == ptq.tokens
    gap = math.log(ptq.perplexity) - math.log(ref.perplexity)
    assert d.mean() == pytest.approx(gap, abs=1e-9)
    assert d.sum() == pytest.approx(gap * d.size, rel=1e-9, abs=1e-9)
    assert ptq.cost.int_adds > 0 and ref.cost.int_adds == 0
    assert ptq.cost.energy_pj_7nm < ref.cost.energy_pj_7nm


def test_cancel_stops_between_chunks_with_aligned_partial_scores() -> None:
    m = make_model("llama", seed=2)
    calls = {"n": 0}

    def cancel() -> bool:
        calls["n"] += 1
        return calls["n"] > 2

    seen: list[tuple[int, int, str]] = []
    models = [ModelInput("a", m), ModelInput("b", ternarize_model(m))]
    rep = evaluate_models(seen.append, cancel, models, TEXT, reference="a", window=16, stride=8)
    assert rep.cancelled
    a, b = rep.result("a"), rep.result("b")
    assert 0 < a.tokens == b.tokens < rep.streams[0].size - 1
    assert np.array_equal(a.scores.positions, b.scores.positions)
    assert seen and all(d <= t for d, t, _m in seen)


def test_models_with_another_tokenizer_get_no_kl() -> None:
    from dataclasses import replace

    from bitnet_studio.models.weights import TokenizerSpec

    m = make_model("llama", seed=1)
    other = replace(m, tokenizer=TokenizerSpec(**{**vars(m.tokenizer), "eos_token_ids": [0]}))
    models = [ModelInput("a", m), ModelInput("b", other)]
    rep = evaluate_models(None, None, models, TEXT, reference="a", window=64, stride=32)
    assert len(rep.streams) == 2
    assert rep.result("b").kl_mean is None and rep.result("a").kl_mean == 0.0
    with pytest.raises(ValueError, match="tokenizer"):
        delta_loss(rep, "b")
    # auto windows: each tokenizer group gets its own models' context
    short = replace(other, config=replace(other.config, max_position=40))
    rep = evaluate_models(None, None, [ModelInput("a", m), ModelInput("b", short)], TEXT)
    assert (rep.result("a").window, rep.result("a").stride) == (256, 128)
    assert (rep.result("b").window, rep.result("b").stride) == (40, 20)


def test_perplexity_agrees_with_llama_cpp_logits_on_an_f16_gguf(tmp_path: Path) -> None:
    """Same F16 GGUF, same text: ours (native) vs a perplexity from llama-cpp-python's own
    logits (``logits_all``), within 1%; and our llama.cpp path gives the latter exactly."""
    llama_cpp = pytest.importorskip("llama_cpp")
    from bitnet_studio.formats import load_model
    from bitnet_studio.formats.gguf_writer import write_gguf

    path = tmp_path / "tiny-f16.gguf"
    write_gguf(make_model("llama", seed=4), path, "f16")
    w = load_model(path)
    models = [ModelInput("native", w, "native"), ModelInput("llamacpp", w, "llamacpp")]
    rep = evaluate_models(None, None, models, TEXT, window=256, stride=128, threads=1)
    ids = rep.streams[0]
    llm = llama_cpp.Llama(str(path), n_ctx=256, logits_all=True, verbose=False, n_threads=1)
    try:
        llm.eval(ids.tolist())
        theirs = _naive_ppl(np.array(llm.scores[: ids.size]), ids)
    finally:
        llm.close()
    ours = rep.result("native").perplexity
    assert abs(ours / theirs - 1) < 0.01, (ours, theirs)
    assert rep.result("llamacpp").perplexity == pytest.approx(theirs, rel=1e-5)


def test_context_form_reproduces_the_training_evaluator() -> None:
    """``--context N`` = windows of N + 1, stride N: the numbers of ``train/evaluate.py``."""
    from bitnet_studio.train.evaluate import evaluate_weights

    m = make_model("llama", seed=5)
    old = evaluate_weights(m, list(TEXT.parts), context=32)
    rep = evaluate_models(None, None, [ModelInput("m", m, "torch")], TEXT, window=33, stride=32)
    new = rep.results[0]
    assert new.tokens == old.tokens
    assert new.scores.loss == pytest.approx(old.loss, rel=1e-5)
    assert new.bits_per_byte == pytest.approx(old.bits_per_byte, rel=1e-5)
