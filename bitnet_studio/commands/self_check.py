"""``bitnet-studio --selftest``: the kernel check, then a short greedy generation with each
default model on the native backend, one line per model. Headless (never imports Qt): the
desktop bundle's smoke test, and the same from the package.

Exits 0 only when every kernel path agrees with the reference and every default model loads
and generates.
"""

from __future__ import annotations

import time

from bitnet_studio.commands.generate import prompt_ids
from bitnet_studio.engine.generate import DoneEvent, generate
from bitnet_studio.engine.registry import DEFAULT_MODELS, load_named_model, make_backend
from bitnet_studio.engine.sampling import SamplingParams
from bitnet_studio.kernel_check import check_all_paths
from bitnet_studio.models.tokenizer import Tokenizer

PROMPT = "What is the capital of France?"
MAX_TOKENS = 8


def check_kernels() -> bool:
    """Every kernel path this CPU runs against the NumPy reference; one summary line."""
    from bitnet_studio import kernels

    report = check_all_paths()
    failed = [f"{r['path']} {r['check']}" for r in report if not r["ok"]]
    paths = ", ".join(kernels.info()["available_paths"])
    status = "ok  " if not failed else "FAIL"
    detail = f"{len(report)} checks on {paths}" + (
        f"; failed: {'; '.join(failed)}" if failed else ""
    )
    print(f"{status} kernels: {detail}", flush=True)
    return not failed


def native_runs(model) -> bool:
    """False for a model with 1-bit linears when this build has no native binary kernels."""
    from bitnet_studio import kernels
    from bitnet_studio.models.weights import BinaryTensor

    binary = any(isinstance(t, BinaryTensor) for t in model.tensors.values())
    return not binary or hasattr(kernels, "pack_binary")


def generate_with(name: str, backend: str = "native") -> str:
    """Loads a default model, generates ``MAX_TOKENS`` greedy tokens; returns a summary."""
    t0 = time.perf_counter()
    model = load_named_model(name)
    if backend == "native" and not native_runs(model):
        backend = "torch"  # a 1-bit model before the native binary kernels are built in
    tokenizer = Tokenizer.for_model(model)
    ids = prompt_ids(tokenizer, PROMPT, raw=not tokenizer.chat_template, system=None)
    params = SamplingParams(greedy=True, max_tokens=MAX_TOKENS, seed=0)
    session = make_backend(backend).load(model)
    load_s = time.perf_counter() - t0
    try:
        done = [ev for ev in generate(session, tokenizer, ids, params) if isinstance(ev, DoneEvent)]
    finally:
        session.close()
    if not done or not done[0].ids:
        raise RuntimeError("generated no token")
    d = done[0]
    return (
        f"{len(d.ids)} tok, load {load_s:.1f} s, decode {d.decode_tps:.1f} tok/s,"
        f" RSS {d.rss_mb:.0f} MB: {d.text.strip()!r}"
    )


def run() -> int:
    ok = check_kernels()
    for name in DEFAULT_MODELS:
        try:
            line = f"ok   {name}: {generate_with(name)}"
        except Exception as e:  # one line per model, whatever broke
            ok = False
            line = f"FAIL {name}: {type(e).__name__}: {e}"
        print(line, flush=True)
    print("selftest: all passed" if ok else "selftest: FAILED", flush=True)
    return 0 if ok else 1
