"""End-to-end benchmark core: each backend generates the same workload through ``generate()``.

Plain functions, no Qt: :func:`run_e2e_bench` takes an optional progress callback
``(done, total, message)`` and a cancel check ``() -> bool`` (a GUI calls it from a worker
thread); a cancel raises :class:`~bitnet_studio.bench.timing.BenchCancelled` carrying the
records measured so far.

Every case runs ``generate()`` on a greedy workload of P prompt tokens and N new tokens,
with end-of-generation ids switched off so that exactly N tokens are generated, the prompt
given to the backend in one piece (each batches it its own way), and a tokenizer that
decodes no text (the same zero cost for every backend). Backends that can compute the
last token's logits alone during prefill (native, torch) are asked to, as llama.cpp does.
One session is loaded per case and model form and closed before the next; llama.cpp is
reloaded per thread count (its threads are fixed at load).
"""

from __future__ import annotations

import gc
import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import psutil

from bitnet_studio.bench.bandwidth import Bandwidth, BandwidthSamples, sample_read_bandwidth
from bitnet_studio.bench.e2e_models import (
    MODELS,
    BenchModel,
    Form,
    bench_prompt,
    default_cache_dir,
    ensure_gguf,
)
from bitnet_studio.bench.e2e_storage import Storage, gguf_storage, session_storage
from bitnet_studio.bench.machine import llamacpp_build, machine_info
from bitnet_studio.bench.timing import BenchCancelled, CancelFn, ProgressFn
from bitnet_studio.engine.generate import generate_all
from bitnet_studio.engine.sampling import Sampler, SamplingParams
from bitnet_studio.models.tokenizer import Tokenizer
from bitnet_studio.models.weights import ModelWeights

MIB = 1 << 20


@dataclass(frozen=True)
class Case:
    """One row kind: a backend running one form of a model, stored one way."""

    name: str  # what --backends names
    backend: str  # "native" | "torch" | "llamacpp"
    form: Form  # which form of the model it runs
    weights: str  # record["weights"]: the linears' stored type
    gguf: str | None = None  # the GGUF type llama.cpp reads
    head: str | None = None  # native only: the output head's storage ("i8"), else as loaded


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case("native-ternary", "native", "ternary", "I2"),
        # Our best configuration: with an F16 head the head is the largest single read.
        Case("native-ternary-i8head", "native", "ternary", "I2", head="i8"),
        Case("native-ternary-q4head", "native", "ternary", "I2", head="q4"),
        # 1-bit linears (original BitNet, 1 bit + one scale per tensor), the same two heads.
        Case("native-binary", "native", "binary", "Q1"),
        Case("native-binary-i8head", "native", "binary", "Q1", head="i8"),
        Case("native-fp16", "native", "fp16", "F16"),
        Case("torch-fp32", "torch", "fp16", "F32"),
        Case("llamacpp-f16", "llamacpp", "fp16", "F16", gguf="f16"),
        Case("llamacpp-tq2_0", "llamacpp", "ternary", "TQ2_0", gguf="tq2_0"),
    )
}


@dataclass
class E2EConfig:
    models: list[str] = field(default_factory=lambda: ["smollm2", "2b4t"])
    backends: list[str] = field(default_factory=lambda: list(CASES))
    threads: list[int] = field(default_factory=lambda: [1, 2])
    prompt_tokens: int = 128
    new_tokens: int | None = None  # None: the model's default (32 SmolLM2, 16 2B4T)
    repeats: int = 1  # runs per row; the one with the best decode tokens/s is kept
    cache_dir: Path | None = None  # None: default_cache_dir()
    bandwidth_bytes: int | None = None  # None: measure_read_bandwidth's default
    bandwidth_repeats: int = 3  # passes per sample (the best is the sample)
    bandwidth_samples: int = 5  # separate samples: median and spread are reported
    kv_f16: bool = False  # native sessions keep their KV cache in fp16
    warmup: bool = True


def quick_config() -> E2EConfig:
    """Tiny random models only: seconds, for tests."""
    return E2EConfig(
        models=["tiny"],
        threads=[1],
        prompt_tokens=16,
        new_tokens=4,
        bandwidth_bytes=16 * MIB,
        bandwidth_repeats=2,
        bandwidth_samples=3,
        warmup=False,
    )


@dataclass
class E2ERecord:
    # the contract fields
    model: str
    backend: str
    weights: str
    threads: int
    prompt_tokens: int
    new_tokens: int
    ttft_ms: float
    prefill_tps: float
    decode_tps: float
    rss_mb: float
    weight_mb: float
    # extensions
    case: str = ""
    embedding_type: str = ""
    head_type: str = ""
    bytes_per_token: int = 0  # linears as stored + the head, read once per decoded token
    effective_gbps: float = 0.0  # bytes_per_token x decode_tps
    dram_gbps: float = 0.0  # measured streaming read bandwidth at these threads
    bandwidth_share: float = 0.0  # effective_gbps / dram_gbps
    bound_tps: float = 0.0  # dram_gbps / bytes_per_token
    sampler_ms: float = 0.0  # the generate loop's own cost per token (sampling a vocab)
    decode_tps_net: float = 0.0  # decode_tps with sampler_ms taken out of each token
    load_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    # the machine and the bandwidth behind dram_gbps (its median), measured in the same run
    cpu_model: str = ""
    simd_path: str = ""
    dram_gbps_min: float = 0.0
    dram_gbps_max: float = 0.0
    dram_samples: list[float] = field(default_factory=list)


@dataclass
class E2EResult:
    records: list[E2ERecord]
    bandwidth: dict[int, Bandwidth]  # the median sample, by thread count
    skipped: list[str]  # "model / case: why"
    notes: list[str]  # per model
    samples: dict[int, BandwidthSamples] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)


class _NoText:
    """A tokenizer for generate() that ends nothing and decodes nothing."""

    def __init__(self) -> None:
        self.eos_ids: list[int] = []

    def stream(self) -> _NoText:
        return self

    def push(self, token_id: int) -> str:
        return ""

    def flush(self) -> str:
        return ""


class _BenchSession:
    """A session with end-of-generation ids off and last-token-only prefill logits."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.config = replace(inner.config, eos_token_ids=[])
        params = inspect.signature(inner.prefill).parameters
        self._last_only = "all_logits" in params

    def prefill(self, tokens: Sequence[int]) -> np.ndarray:
        if self._last_only:
            return cast(np.ndarray, self.inner.prefill(tokens, all_logits=False))
        return cast(np.ndarray, self.inner.prefill(tokens))

    def decode(self, token: int) -> np.ndarray:
        return cast(np.ndarray, self.inner.decode(token))

    def reset(self) -> None:
        self.inner.reset()

    @property
    def n_past(self) -> int:
        return int(self.inner.n_past)


def _sampler_ms(vocab: int, params: SamplingParams, scale: float = 1.0) -> float:
    """Median time of one ``Sampler.sample`` on random logits (after a warm-up call); a
    small ``scale`` makes the distribution flat (what an untrained or broken model gives)."""
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal(vocab) * scale).astype(np.float32)
    sampler = Sampler(params)
    sampler.sample(logits, [1, 2, 3])
    times = []
    for _ in range(21):
        t0 = time.perf_counter()
        sampler.sample(logits, [1, 2, 3])
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1000.0


def _sampling_note(vocab: int) -> str:
    """What one token's sampling costs on this vocabulary, per setting (ms, median of 21)."""
    top_p = SamplingParams(top_k=0, top_p=0.95, min_p=0.0)
    cases = [
        ("greedy", SamplingParams(greedy=True), 1.0),
        ("top-k 40 + top-p 0.95 + min-p 0.05", SamplingParams(), 1.0),
        ("top-p 0.95 alone", top_p, 1.0),
        ("top-p 0.95 alone, flat logits", top_p, 0.01),
    ]
    parts = [f"{name}: {_sampler_ms(vocab, prm, scale):.2f} ms" for name, prm, scale in cases]
    return f"sampling one token from {vocab} logits (median): " + "; ".join(parts)


# --- the run ----------------------------------------------------------------------------------


def _load_session(case: Case, weights: Any, threads: int, n_ctx: int, kv_f16: bool = False) -> Any:
    from bitnet_studio.engine.registry import make_backend

    if case.backend == "llamacpp":
        from bitnet_studio.engine.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend(n_ctx=n_ctx).load(weights, threads=threads)
    if case.backend == "native":
        from bitnet_studio.engine.native_backend import NativeBackend

        backend = NativeBackend(
            weight_dtype="f16",
            head_dtype=case.head,  # type: ignore[arg-type]
            n_ctx=n_ctx,
            kv_f16=kv_f16,
        )
        return backend.load(weights, threads=threads)
    return make_backend(case.backend).load(weights, threads=threads)


def _set_threads(case: Case, session: Any, threads: int) -> None:
    if case.backend == "native":
        from bitnet_studio import kernels

        kernels.set_threads(threads)
    session.threads = threads


def _measure(
    session: Any, prompt: list[int], n_new: int, repeats: int, warmup: bool, cancel: CancelFn
) -> Any:
    bench = _BenchSession(session)
    tok = cast(Tokenizer, _NoText())
    if warmup:  # touch every weight page once (memory-mapped files), warm the caches
        generate_all(bench, tok, prompt[:8], SamplingParams(greedy=True, max_tokens=2))
    best = None
    params = SamplingParams(greedy=True, max_tokens=n_new, stop=[])
    for _ in range(max(1, repeats)):
        done = generate_all(
            bench, tok, prompt, params, cancel=cancel, prefill_chunk=max(1, len(prompt))
        )
        if cancel():
            raise _Cancel
        if best is None or done.decode_tps > best.decode_tps:
            best = done
    return best


class _Cancel(Exception):
    pass


def _torch_fits(weights: ModelWeights) -> tuple[bool, str]:
    need = 0
    for t in weights.tensors.values():
        need += int(np.prod(t.shape)) * 4
    avail = psutil.virtual_memory().available
    ok = avail > need * 1.25 + (1 << 30)
    return ok, f"float32 copy {need / 1e9:.1f} GB vs {avail / 1e9:.1f} GB available"


def _net_tps(tps: float, sampler_ms: float) -> float:
    """Tokens/s once the sampler's own time per token is taken out."""
    if tps <= 0:
        return 0.0
    left = 1.0 / tps - sampler_ms / 1000.0
    return 1.0 / left if left > 0 else 0.0


def _drop_copied(case: Case, weights: Any) -> None:
    """Frees source linears the session copied (torch: float32; native: packed ternary), so
    RSS shows the session, not the benchmark's copy too. Native fp16 uses its arrays in
    place, and llama.cpp reads its file: both keep theirs."""
    copied = case.form in ("ternary", "binary")
    if isinstance(weights, ModelWeights) and (case.backend == "torch" or copied):
        for name in [n for n in weights.tensors if n.endswith("_proj")]:
            del weights.tensors[name]
        gc.collect()


def _open_case(
    model: BenchModel, case: Case, cfg: E2EConfig, cache_dir: Path
) -> tuple[Any, list[int], Storage | None]:
    """What the backend loads (ModelWeights, or the GGUF path with a config for llama.cpp),
    the prompt, and the storage figures when they are known before loading."""
    if case.gguf is None:
        weights = model.load(case.form, cache_dir)
        return weights, bench_prompt(model, weights, cfg.prompt_tokens), None
    path = ensure_gguf(model, case.gguf, cache_dir)
    if model.text_prompt:  # small models: load to tokenize the prompt
        src = model.load(case.form, cache_dir)
        config, prompt = src.config, bench_prompt(model, src, cfg.prompt_tokens)
        del src
    else:
        assert model.config is not None, "a random model knows its config"
        config = model.config()
        prompt = bench_prompt(model, None, cfg.prompt_tokens, config.vocab_size)
    return SimpleNamespace(source=path, config=config), prompt, gguf_storage(path)


def run_e2e_bench(
    cfg: E2EConfig,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> E2EResult:
    """Measures every (model, case, threads) of ``cfg``; a case that fails or does not fit
    is listed in ``skipped`` and the run goes on."""
    is_cancelled = cancel or (lambda: False)
    report = progress or (lambda done, total, message: None)
    cache_dir = cfg.cache_dir or default_cache_dir()
    cases = [CASES[b] for b in cfg.backends]
    models = [MODELS[m] for m in cfg.models]
    total = len(cfg.threads) * (1 + len(models) * len(cases))
    n_done = 0
    records: list[E2ERecord] = []
    result = E2EResult(records, {}, [], [])

    def step(message: str) -> None:
        if is_cancelled():
            raise BenchCancelled(records)
        report(n_done, total, message)

    result.machine = machine_info()
    for t in cfg.threads:
        step(f"DRAM read bandwidth, {t} thread(s)")
        bws = sample_read_bandwidth(
            threads=t,
            nbytes=cfg.bandwidth_bytes,
            samples=cfg.bandwidth_samples,
            repeats=cfg.bandwidth_repeats,
        )
        result.samples[t] = bws
        result.bandwidth[t] = bws.as_bandwidth()
        n_done += 1

    sampled: set[str] = set()
    llama_noted = False
    for model in models:
        result.notes += [f"{model.label}: {n}" for n in model.notes]
        n_new = cfg.new_tokens or model.new_tokens
        n_ctx = max(256, cfg.prompt_tokens + n_new + 16)
        for case in cases:
            weights: Any = None
            session: Any = None
            try:
                step(f"{model.label} / {case.name}: preparing")
                weights, prompt, storage = _open_case(model, case, cfg, cache_dir)
                if case.backend == "torch":
                    ok, why = _torch_fits(weights)
                    if not ok:
                        result.skipped.append(f"{model.label} / {case.name}: skipped, {why}")
                        continue
                vocab = weights.config.vocab_size
                sampler_ms = _sampler_ms(vocab, SamplingParams(greedy=True))
                if case.backend == "llamacpp" and not llama_noted:
                    llama_noted = True
                    result.notes.append(
                        f"llama.cpp built for: {llamacpp_build() or 'unknown'} (its own build, "
                        f"whatever SIMD path our kernels run: {result.machine.get('simd_path')})"
                    )
                if model.label not in sampled:  # once per model: it depends on the vocabulary
                    sampled.add(model.label)
                    result.notes.append(f"{model.label}: {_sampling_note(vocab)}")
                for t in cfg.threads:
                    step(f"{model.label} / {case.name}: {t} thread(s)")
                    t0 = time.perf_counter()
                    if session is not None and case.backend == "llamacpp":
                        session.close()  # its threads are fixed at load
                        session = None
                        gc.collect()
                    if session is None:
                        session = _load_session(case, weights, t, n_ctx, cfg.kv_f16)
                        _drop_copied(case, weights)
                    _set_threads(case, session, t)
                    load_s = time.perf_counter() - t0
                    if storage is None:
                        storage = session_storage(
                            session, case.backend, case.weights, weights.config, case.head
                        )
                    done = _measure(session, prompt, n_new, cfg.repeats, cfg.warmup, is_cancelled)
                    rec = _record(model, case, t, done, storage, result.bandwidth[t], sampler_ms)
                    rec.load_s = round(load_s, 3)
                    _add_machine(rec, result, t)
                    records.append(rec)
                    n_done += 1
            except _Cancel:
                raise BenchCancelled(records) from None
            except BenchCancelled:
                raise
            except Exception as e:  # one failing backend must not end the run
                result.skipped.append(f"{model.label} / {case.name}: {type(e).__name__}: {e}")
            finally:
                if session is not None:
                    session.close()
                session = weights = None
                gc.collect()
                n_done = max(n_done, done_at(models, cases, cfg, model, case))
    report(total, total, "done")
    return result


def _add_machine(rec: E2ERecord, result: E2EResult, threads: int) -> None:
    rec.cpu_model = str(result.machine.get("cpu_model", ""))
    rec.simd_path = str(result.machine.get("simd_path", ""))
    bws = result.samples.get(threads)
    if bws is not None:
        rec.dram_gbps_min = round(bws.low, 3)
        rec.dram_gbps_max = round(bws.high, 3)
        rec.dram_samples = [round(g, 3) for g in bws.samples]


def done_at(
    models: list[BenchModel], cases: list[Case], cfg: E2EConfig, model: BenchModel, case: Case
) -> int:
    """Progress steps finished once ``case`` of ``model`` is over (skips count as done)."""
    k = models.index(model) * len(cases) + cases.index(case) + 1
    return len(cfg.threads) * (1 + k)


def _record(
    model: BenchModel,
    case: Case,
    threads: int,
    done: Any,
    storage: Storage,
    bw: Bandwidth,
    sampler_ms: float,
) -> E2ERecord:
    bpt = storage.bytes_per_token
    eff = bpt * done.decode_tps / 1e9
    return E2ERecord(
        model=model.label,
        backend=case.backend,
        weights=storage.linear_type if case.gguf else case.weights,
        threads=threads,
        prompt_tokens=len(done.prompt_ids),
        new_tokens=len(done.ids),
        ttft_ms=round(float(done.ttft_ms), 2),
        prefill_tps=round(float(done.prefill_tps), 2),
        decode_tps=round(float(done.decode_tps), 3),
        rss_mb=round(float(done.rss_mb), 1),
        weight_mb=round(storage.weight_bytes / MIB, 1),
        case=case.name,
        embedding_type=storage.embedding_type,
        head_type=storage.head_type,
        bytes_per_token=int(bpt),
        effective_gbps=round(eff, 3),
        dram_gbps=round(bw.gbps, 3),
        bandwidth_share=round(eff / bw.gbps, 4) if bw.gbps > 0 else 0.0,
        bound_tps=round(bw.gbps * 1e9 / bpt, 3) if bpt else 0.0,
        sampler_ms=round(sampler_ms, 3),
        decode_tps_net=round(_net_tps(done.decode_tps, sampler_ms), 3),
        notes=list(storage.notes),
    )
