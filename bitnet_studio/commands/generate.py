"""``bitnet-studio generate``: one prompt, streamed, then one line of metrics.

Flags and outputs are a contract (scripts rely on them):
``--json`` prints one ``{"event":"token","id","text"}`` line per new token, then one
``{"event":"done","prompt_ids","ids","ttft_ms","prefill_tps","decode_tps","rss_mb"}``;
``--dump-logits F.npy`` saves float32 ``[new_tokens, vocab]``, row i = the logits new
token i was chosen from.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from bitnet_studio.engine.generate import DoneEvent, TokenEvent, generate
from bitnet_studio.engine.registry import BACKENDS, load_named_model, make_backend
from bitnet_studio.engine.sampling import SamplingParams
from bitnet_studio.errors import StudioError
from bitnet_studio.models.chat_template import ChatTemplate, TemplateError
from bitnet_studio.models.tokenizer import Tokenizer


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="GGUF file, HF folder, or a default's name")
    p.add_argument("--backend", choices=BACKENDS, default="native")
    p.add_argument("--prompt", required=True)
    p.add_argument("--system", default=None, help="system prompt (chat template only)")
    p.add_argument("--raw", action="store_true", help="no chat template: tokenize the prompt as is")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--greedy", action="store_true", help="always take the most likely token")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--min-p", type=float, default=0.05)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", action="store_true", help="JSON lines on stdout")
    p.add_argument("--dump-logits", type=Path, default=None, metavar="FILE.npy")


def prompt_ids(tokenizer: Tokenizer, prompt: str, raw: bool, system: str | None) -> list[int]:
    """Raw: the text as the tokenizer config says (BOS if it says so). Otherwise the chat
    template renders the turn, and the rendered text carries its own special tokens."""
    if raw:
        return tokenizer.encode(prompt)
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}
    ]
    text = ChatTemplate.for_tokenizer(tokenizer).render(messages, add_generation_prompt=True)
    return tokenizer.encode(text, add_bos=False)


def run(args: argparse.Namespace) -> int:
    if args.max_tokens < 1:
        raise StudioError("--max-tokens", "must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise StudioError("--threads", "must be at least 1")
    model = load_named_model(args.model)
    tokenizer = Tokenizer.for_model(model)
    try:
        ids = prompt_ids(tokenizer, args.prompt, args.raw, args.system)
    except TemplateError as e:
        raise StudioError(model.source or args.model, str(e)) from e
    params = SamplingParams(
        greedy=args.greedy,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        min_p=args.min_p,
        repetition_penalty=args.repetition_penalty,
        seed=args.seed,
        max_tokens=args.max_tokens,
        stop=list(args.stop),
    )
    session = make_backend(args.backend).load(model, threads=args.threads)
    try:
        done = _stream(session, tokenizer, ids, params, args)
    finally:
        session.close()
    if args.dump_logits is not None and done.logits is not None:
        np.save(args.dump_logits, done.logits.astype(np.float32))
    return 0


def _stream(session, tokenizer, ids, params, args) -> DoneEvent:  # type: ignore[no-untyped-def]
    out = sys.stdout
    done: DoneEvent | None = None
    for ev in generate(session, tokenizer, ids, params, record_logits=args.dump_logits is not None):
        if isinstance(ev, TokenEvent):
            if args.json:
                out.write(json.dumps({"event": "token", "id": ev.id, "text": ev.text}) + "\n")
            else:
                out.write(ev.text)
            out.flush()
        elif isinstance(ev, DoneEvent):
            done = ev
    assert done is not None
    if args.json:
        out.write(
            json.dumps(
                {
                    "event": "done",
                    "prompt_ids": done.prompt_ids,
                    "ids": done.ids,
                    "ttft_ms": done.ttft_ms,
                    "prefill_tps": done.prefill_tps,
                    "decode_tps": done.decode_tps,
                    "rss_mb": done.rss_mb,
                }
            )
            + "\n"
        )
    else:
        out.write(
            f"\n[{args.backend}] prompt {len(done.prompt_ids)} tok, generated {len(done.ids)} tok"
            f" ({done.stop_reason}) | TTFT {done.ttft_ms:.0f} ms | prefill {done.prefill_tps:.1f}"
            f" tok/s | decode {done.decode_tps:.1f} tok/s | RSS {done.rss_mb:.0f} MB\n"
        )
    return done
