"""``bitnet-studio chat``: an interactive conversation with one model, through its chat template.

Lines starting with ``/`` are commands: ``/reset`` (new conversation), ``/quit``.
Ctrl-C while the model answers stops that answer and keeps the conversation.
"""

from __future__ import annotations

import argparse
import sys
import threading

from bitnet_studio.engine.conversation import answer_reserve, context_limit, fit_conversation
from bitnet_studio.engine.generate import DoneEvent, TokenEvent, generate
from bitnet_studio.engine.registry import BACKENDS, load_named_model, make_backend
from bitnet_studio.engine.sampling import SamplingParams
from bitnet_studio.errors import StudioError
from bitnet_studio.models.chat_template import ChatTemplate, TemplateError
from bitnet_studio.models.tokenizer import Tokenizer


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="default-vanilla", help="GGUF, HF folder or default name")
    p.add_argument("--backend", choices=BACKENDS, default="native")
    p.add_argument("--system", default=None, help="system prompt")
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--threads", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    model = load_named_model(args.model)
    tokenizer = Tokenizer.for_model(model)
    try:
        template = ChatTemplate.for_tokenizer(tokenizer)
    except TemplateError as e:
        raise StudioError(model.source or args.model, str(e)) from e
    session = make_backend(args.backend).load(model, threads=args.threads)
    params = SamplingParams(
        greedy=args.greedy, temperature=args.temperature, seed=args.seed, max_tokens=args.max_tokens
    )
    history: list[dict[str, str]] = (
        [{"role": "system", "content": args.system}] if args.system else []
    )
    interactive = sys.stdin.isatty()
    print(
        f"chatting with {args.model} on {args.backend}; /reset starts over, /quit leaves",
        file=sys.stderr,
    )
    try:
        while True:
            if interactive:
                print("> ", end="", flush=True, file=sys.stderr)
            line = sys.stdin.readline()
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text == "/quit":
                break
            if text == "/reset":
                history = history[:1] if args.system else []
                print("(new conversation)", file=sys.stderr)
                continue
            history.append({"role": "user", "content": text})
            try:
                ids = _fit(session, tokenizer, template, history, params, model.source)
            except TemplateError as e:
                raise StudioError(model.source or args.model, str(e)) from e
            except StudioError as e:  # too long: say so, and keep it out of the conversation
                history.pop()
                print(e.one_line(), file=sys.stderr)
                continue
            answer = _answer(session, tokenizer, ids, params)
            history.append({"role": "assistant", "content": answer})
    finally:
        session.close()
    return 0


def _fit(session, tokenizer, template, history, params, source) -> list[int]:  # type: ignore[no-untyped-def]
    """The conversation's ids, its oldest turns dropped (said on stderr) when it outgrows the
    context. The rendered template carries its own special tokens (BOS included if any)."""
    limit = context_limit(session)
    fitted = fit_conversation(
        history,
        lambda msgs: tokenizer.encode(template.render(msgs), add_bos=False),
        limit,
        answer_reserve(limit, params.max_tokens),
        source,
    )
    if fitted.dropped_turns:
        n = fitted.dropped_turns
        print(
            f"(the {n} oldest turn{'s' if n > 1 else ''} left out to fit the {limit}-token "
            "context; the system prompt is kept)",
            file=sys.stderr,
        )
    return fitted.ids


def _answer(session, tokenizer, ids, params) -> str:  # type: ignore[no-untyped-def]
    stop = threading.Event()
    parts: list[str] = []
    try:
        for ev in generate(session, tokenizer, ids, params, cancel=stop.is_set):
            if isinstance(ev, TokenEvent):
                parts.append(ev.text)
                sys.stdout.write(ev.text)
                sys.stdout.flush()
            elif isinstance(ev, DoneEvent):
                print(
                    f"\n[{len(ev.ids)} tok, {ev.decode_tps:.1f} tok/s, {ev.stop_reason}]",
                    file=sys.stderr,
                )
    except KeyboardInterrupt:
        stop.set()
        print("\n[stopped]", file=sys.stderr)
    return "".join(parts)
