"""Chat turns on the native backend: time to first token per turn, with and without KV reuse.

A conversation of N turns, each user message the same text (so the same new length), each
answer ``new_tokens`` greedy tokens. One session keeps its KV cache across turns and
prefills only what is new (``generate(reuse=True)``); a second session re-prefills the whole
conversation every turn, as before. Turn N's TTFT with reuse should stay near turn 1's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitnet_studio.bench.e2e_models import MODELS, default_cache_dir
from bitnet_studio.engine.generate import generate_all
from bitnet_studio.engine.native_backend import NativeBackend
from bitnet_studio.engine.sampling import SamplingParams
from bitnet_studio.models.chat_template import ChatTemplate
from bitnet_studio.models.tokenizer import Tokenizer

USER_TEXT = "Name one more thing that limits how fast a small language model runs on a laptop."


@dataclass
class TurnRecord:
    model: str
    threads: int
    kv_f16: bool
    turn: int
    context_tokens: int  # the rendered conversation, this turn's message included
    reused_tokens: int  # found in the KV cache
    prefilled_tokens: int
    ttft_reuse_ms: float
    ttft_full_ms: float  # the same turn re-prefilled from scratch


def run_turns(
    model_key: str,
    turns: int,
    threads: int,
    new_tokens: int = 16,
    kv_f16: bool = False,
    cache_dir: Path | None = None,
    form: str = "fp16",
) -> list[TurnRecord]:
    """Runs the conversation; one record per turn."""
    bench = MODELS[model_key]
    weights = bench.load(form, cache_dir or default_cache_dir())  # type: ignore[arg-type]
    tok = Tokenizer.from_spec(weights.tokenizer)
    template = ChatTemplate.for_tokenizer(tok)
    n_ctx = min(weights.config.max_position, 4096)
    backend = NativeBackend(kv_f16=kv_f16, n_ctx=n_ctx)
    kept: Any = backend.load(weights, threads=threads)
    fresh: Any = backend.load(weights, threads=threads)
    params = SamplingParams(greedy=True, max_tokens=new_tokens)
    messages: list[dict[str, str]] = []
    out: list[TurnRecord] = []
    try:
        for turn in range(1, turns + 1):
            messages.append({"role": "user", "content": USER_TEXT})
            ids = tok.encode(template.render(messages, add_generation_prompt=True), add_bos=False)
            if len(ids) + new_tokens + 8 > n_ctx:
                break
            a = generate_all(kept, tok, ids, params, reuse=True)
            b = generate_all(fresh, tok, ids, SamplingParams(greedy=True, max_tokens=1))
            out.append(
                TurnRecord(
                    bench.label,
                    threads,
                    kv_f16,
                    turn,
                    len(ids),
                    a.reused_tokens,
                    len(ids) - a.reused_tokens,
                    round(a.ttft_ms, 2),
                    round(b.ttft_ms, 2),
                )
            )
            messages.append({"role": "assistant", "content": a.text})
    finally:
        kept.close()
        fresh.close()
    return out


def turn_lines(records: list[TurnRecord]) -> list[str]:
    """A table per model and thread count, and turn N's TTFT over turn 1's."""
    if not records:
        return []
    r0 = records[0]
    kv = "fp16" if r0.kv_f16 else "f32"
    lines = [
        f"chat turns: {r0.model}, {r0.threads} thread(s), KV cache {kv}, same user message "
        f"each turn",
        f"{'turn':>4}  {'context':>7}  {'reused':>6}  {'prefilled':>9}  "
        f"{'TTFT reuse ms':>13}  {'TTFT re-prefill ms':>18}",
    ]
    for r in records:
        lines.append(
            f"{r.turn:>4}  {r.context_tokens:>7}  {r.reused_tokens:>6}  {r.prefilled_tokens:>9}  "
            f"{r.ttft_reuse_ms:>13.1f}  {r.ttft_full_ms:>18.1f}"
        )
    last = records[-1]
    if r0.ttft_reuse_ms > 0:
        lines.append(
            f"TTFT turn {last.turn} / turn 1: {last.ttft_reuse_ms / r0.ttft_reuse_ms:.2f}x with "
            f"KV reuse, {last.ttft_full_ms / r0.ttft_full_ms:.2f}x re-prefilling"
        )
    return lines
