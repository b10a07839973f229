"""Evaluate several models on one text: open sessions, group by tokenizer, score, summarize.

``evaluate_models(progress, cancel, models, text, ...)`` is a plain function (no Qt): the
page runs it on a worker, the CLI calls it directly. Models whose token stream for the text
equals the reference's share its tokenizer and are scored in lockstep with it (KL, top-1);
the others are scored alone (perplexity and bits per byte only, still comparable).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bitnet_studio.evaluate.cost import TokenCost, token_cost
from bitnet_studio.evaluate.scoring import TokenScores, score_stream
from bitnet_studio.evaluate.texts import EvalText, token_stream
from bitnet_studio.evaluate.windows import check_window
from bitnet_studio.models.weights import ModelWeights

MAX_DEFAULT_WINDOW = 1024  # the default window: the model's context, at most this


@dataclass
class ModelInput:
    name: str
    weights: ModelWeights
    backend: str = "native"  # "native" | "torch" | "llamacpp"
    label: str = ""
    decode_tps: float | None = None  # from Measure, when known
    source: str | None = None  # the file or folder it was read from (default: weights.source)


@dataclass
class ModelResult:
    name: str
    label: str
    backend: str
    format: str
    bits_per_weight: float
    weight_mb: float
    scores: TokenScores
    n_bytes: int
    cost: TokenCost
    group: int  # index into EvalReport.streams
    decode_tps: float | None = None
    source: str | None = None
    shape_key: tuple[int, ...] = ()  # the config's sizes: twins share them
    window: int = 0  # the sliding windows this model was scored with
    stride: int = 0

    @property
    def tokens(self) -> int:
        return self.scores.tokens

    @property
    def perplexity(self) -> float:
        return self.scores.perplexity

    @property
    def bits_per_byte(self) -> float:
        return float(self.scores.nll.sum()) / math.log(2) / max(1, self.n_bytes)

    @property
    def kl_mean(self) -> float | None:
        kl = self.scores.kl
        return float(kl.mean()) if kl is not None and kl.size else None

    @property
    def kl_p99(self) -> float | None:
        kl = self.scores.kl
        return float(np.percentile(kl, 99)) if kl is not None and kl.size else None

    @property
    def top1_agreement(self) -> float | None:
        a = self.scores.agree
        return float(a.mean()) if a is not None and a.size else None

    @property
    def top1_differs(self) -> float | None:
        a = self.top1_agreement
        return None if a is None else 1.0 - a

    @property
    def seconds(self) -> float:
        return self.scores.seconds


@dataclass
class EvalReport:
    text: EvalText
    window: int  # of the first tokenizer group (the reference's); per model: ModelResult
    stride: int
    reference: str | None
    results: list[ModelResult]
    streams: list[np.ndarray]  # token ids per tokenizer group
    decoders: list[Callable[[int], str]] = field(default_factory=list, repr=False)
    cancelled: bool = False
    seconds: float = 0.0

    def result(self, name: str) -> ModelResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(name)


def linear_format(weights: ModelWeights) -> str:
    """The stored type most of the model's linears have (F16, TQ2_0, Q4_1, PTQ ternary)."""
    kinds: dict[str, int] = {}
    for name, t in weights.tensors.items():
        if name.endswith("_proj"):
            k = weights.tensor_types.get(name) or type(t).__name__
            held = getattr(t, "dtype", None)
            if held is not None and k.upper() not in ("F16", "F32", "BF16"):
                k = f"{k}->{'F16' if held == np.float16 else 'F32'}"  # dequantized on load
            kinds[k] = kinds.get(k, 0) + 1
    if not kinds:
        return str(weights.format)
    best = max(kinds, key=lambda k: kinds[k])
    return {"ptq-absmean": "ternary (PTQ)"}.get(best, best)


def open_session(weights: ModelWeights, backend: str, n_ctx: int, threads: int | None) -> Any:
    """A fresh session whose prefill can return every position's logits."""
    if backend == "native":
        from bitnet_studio.engine.native_backend import NativeBackend

        return NativeBackend(n_ctx=n_ctx).load(weights, threads)
    if backend == "torch":
        from bitnet_studio.engine.torch_backend import TorchBackend

        return TorchBackend().load(weights, threads)
    if backend == "llamacpp":
        from bitnet_studio.engine.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend(n_ctx=n_ctx, logits_all=True).load(weights, threads)
    raise ValueError(f"unknown backend {backend!r}")


def default_window(models: list[ModelInput]) -> int:
    return min(MAX_DEFAULT_WINDOW, *(m.weights.config.max_position for m in models))


def evaluate_models(
    progress: Callable[[Any], None] | None,
    cancel: Callable[[], bool] | None,
    models: list[ModelInput],
    text: EvalText,
    reference: str | None = None,
    window: int | None = None,
    stride: int | None = None,
    threads: int | None = None,
) -> EvalReport:
    """Scores every model on ``text``; ``progress((done, total, message))`` per chunk."""
    from bitnet_studio.models.tokenizer import Tokenizer

    if not models:
        raise ValueError("no models to evaluate")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError("a model is listed twice")
    if reference is not None and reference not in names:
        raise ValueError(f"the reference {reference!r} is not among the models")
    if window is not None:
        check_window(window, stride or max(1, window // 2))
        for m in models:
            if window > m.weights.config.max_position:
                raise ValueError(
                    f"window {window} exceeds {m.name}'s context of {m.weights.config.max_position}"
                )
    t_start = time.perf_counter()
    report = progress or (lambda _v: None)
    report((0, 1, "tokenizing"))
    toks = {m.name: Tokenizer.for_model(m.weights) for m in models}  # clear error if missing
    streams: list[np.ndarray] = []
    decoders: list[Callable[[int], str]] = []
    group_of: dict[str, int] = {}
    ordered = sorted(models, key=lambda m: m.name != reference)  # the reference first
    for m in ordered:
        ids = token_stream(toks[m.name], m.weights.tokenizer, text)
        for g, s in enumerate(streams):
            if s.shape == ids.shape and np.array_equal(s, ids):
                group_of[m.name] = g
                break
        else:
            group_of[m.name] = len(streams)
            streams.append(ids)
            tok = toks[m.name]
            decoders.append(lambda i, t=tok: t.decode([int(i)]))
    total = sum(
        int(s.size - 1) * sum(1 for n in names if group_of[n] == g) for g, s in enumerate(streams)
    )
    done_before = 0
    plans: dict[int, tuple[int, int]] = {}  # group -> (window, stride)
    scores: dict[str, TokenScores] = {}
    cancelled = False
    for g, ids in enumerate(streams):
        members = [m for m in ordered if group_of[m.name] == g]
        ref = reference if reference in {m.name for m in members} else None
        win = window or default_window(members)  # auto: this group's own context
        step = stride or max(1, win // 2)
        check_window(win, step)
        plans[g] = (win, step)
        report((done_before, total, f"opening {', '.join(m.name for m in members)}"))
        sessions = {m.name: open_session(m.weights, m.backend, win, threads) for m in members}
        k = len(members)

        def tick(done: int, n: int, base: int = done_before, k: int = k) -> None:
            report((base + done * k, total, f"scored {done}/{n} tokens"))

        try:
            got, cancelled = score_stream(sessions, ids, win, step, ref, tick, cancel)
        finally:
            for s in sessions.values():
                s.close()
        scores.update(got)
        done_before += int(ids.size - 1) * k
        if cancelled:
            break
    results = []
    for m in models:
        if m.name not in scores:
            continue
        from bitnet_studio.inspect.summary import summarize

        s = summarize(m.weights, with_tensors=False)
        kv_value = 4 if m.backend == "native" else 2
        results.append(
            ModelResult(
                name=m.name,
                label=m.label or m.name,
                backend=m.backend,
                format=linear_format(m.weights),
                bits_per_weight=float(s["bits_per_weight"]),
                weight_mb=float(s["bytes"]) / 1e6,
                scores=scores[m.name],
                n_bytes=text.n_bytes,
                cost=token_cost(m.weights, plans[group_of[m.name]][0], kv_value, s),
                group=group_of[m.name],
                decode_tps=m.decode_tps,
                source=m.source or (str(m.weights.source) if m.weights.source else None),
                shape_key=_shape_key(m.weights),
                window=plans[group_of[m.name]][0],
                stride=plans[group_of[m.name]][1],
            )
        )
    return EvalReport(
        text=text,
        window=plans[0][0] if plans else (window or 0),
        stride=plans[0][1] if plans else (stride or 0),
        reference=reference,
        results=results,
        streams=streams,
        decoders=decoders,
        cancelled=cancelled,
        seconds=time.perf_counter() - t_start,
    )


def _shape_key(w: ModelWeights) -> tuple[int, ...]:
    c = w.config
    return (c.vocab_size, c.hidden_size, c.intermediate_size, c.n_layers, c.n_heads)


def evaluate_picks(
    progress: Callable[[Any], None],
    cancel: Callable[[], bool],
    picks: list[tuple[str, str, ModelWeights | None, str]],
    text_spec: str,
    chars: int | None,
    reference: str | None,
    window: int | None,
    stride: int | None,
    threads: int | None = None,
) -> EvalReport:
    """The page's work: ``picks`` = (name, label, weights or None, backend); a default not
    loaded yet is read here (on the caller's worker thread); ``text_spec``: ``load_text``."""
    from bitnet_studio.engine.registry import load_named_model
    from bitnet_studio.evaluate.texts import load_text

    text = load_text(text_spec).head(chars)
    models = []
    for name, label, weights, backend in picks:
        if cancel():
            break
        if weights is None:
            progress((0, 1, f"reading {name}"))
        w = weights if weights is not None else load_named_model(name)
        models.append(ModelInput(name, w, backend, label))
    if len(models) < len(picks):  # cancelled while reading: nothing scored
        return EvalReport(text, window or 0, stride or 0, reference, [], [], cancelled=True)
    return evaluate_models(progress, cancel, models, text, reference, window, stride, threads)


def delta_loss(report: EvalReport, model: str) -> np.ndarray:
    """Per scored token: the model's loss minus the reference's (nats); they share a
    tokenizer and were scored in lockstep, so the positions line up."""
    if report.reference is None:
        raise ValueError("no reference model was chosen")
    ref, m = report.result(report.reference), report.result(model)
    if ref.group != m.group:
        raise ValueError(f"{model} does not share the reference's tokenizer")
    return m.scores.nll - ref.scores.nll
