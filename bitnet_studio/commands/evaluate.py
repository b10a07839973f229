"""``bitnet-studio evaluate --models A B``: perplexity, bits per byte, KL and cost per token.

    bitnet-studio evaluate --models default-vanilla default-ternary --text prose \\
        --reference default-vanilla --window 512 --stride 256 --json out.json

Every model scores the text (default: the corpus's held-out works, never seen in training)
with its own tokenizer over sliding windows (window and stride are printed); models that
share the reference's tokenizer also get KL(ref || model) and top-1 agreement. Bits per byte
compares models whose tokenizers differ. ``--context N`` (the old flag) means windows of
N + 1 tokens with stride N: every token predicted once, no overlap. One table on stdout.
"""

from __future__ import annotations

import argparse
import sys

BACKEND_CHOICES = ("native", "torch", "llamacpp")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models",
        nargs="+",
        default=["default-trained-vanilla", "default-trained-ternary"],
        help="defaults' names, GGUF files or HF folders",
    )
    p.add_argument(
        "--text",
        default="heldout",
        help="'heldout' (Shakespeare's held-out works), 'prose' (Austen) or a UTF-8 file",
    )
    p.add_argument("--reference", default=None, help="a model for KL and top-1 agreement")
    p.add_argument(
        "--window",
        type=int,
        default=None,
        help="tokens per window (default: the context of the models sharing a tokenizer, "
        "at most 1024)",
    )
    p.add_argument(
        "--stride", type=int, default=None, help="tokens between windows (default: window / 2)"
    )
    p.add_argument(
        "--context", type=int, default=None, help="old form: windows of N + 1 tokens, stride N"
    )
    p.add_argument("--chars", type=int, default=None, help="score only this many characters")
    p.add_argument("--backend", choices=BACKEND_CHOICES, default="native")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", metavar="FILE", default=None, help="write the results as JSON")
    p.add_argument("--csv", metavar="FILE", default=None, help="write the results as CSV")


def _progress(value: object) -> None:
    done, total, message = value  # type: ignore[misc]
    print(f"\r{done}/{total} {message}".ljust(60), end="", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from bitnet_studio.engine.registry import load_named_model
    from bitnet_studio.errors import StudioError
    from bitnet_studio.evaluate.report import header_lines, table_lines, write_csv, write_json
    from bitnet_studio.evaluate.run import ModelInput, evaluate_models
    from bitnet_studio.evaluate.texts import load_text

    text = load_text(args.text).head(args.chars)
    window, stride = args.window, args.stride
    if args.context is not None:
        if window is not None or stride is not None:
            raise StudioError("--context", "give --context or --window/--stride, not both")
        window, stride = args.context + 1, args.context
    names = list(dict.fromkeys(args.models))
    if args.reference and args.reference not in names:
        names.insert(0, args.reference)
    models = []
    for spec in names:
        w = load_named_model(spec)
        models.append(ModelInput(spec, w, args.backend, source=_source(spec, w)))
    if args.text == "heldout":
        print(f"held-out: {len(text.parts)} works, {text.n_bytes} bytes")
    try:
        rep = evaluate_models(
            _progress if sys.stderr.isatty() else None,
            None,
            models,
            text,
            reference=args.reference,
            window=window,
            stride=stride,
            threads=args.threads,
        )
    except ValueError as e:
        raise StudioError("evaluate", str(e)) from None
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for line in header_lines(rep):
        print(line)
    if args.json:
        write_json(rep, args.json)
        print(f"wrote {args.json}")
    if args.csv:
        write_csv(rep, args.csv)
        print(f"wrote {args.csv}")
    for line in table_lines(rep):
        print(line)
    return 0


def _source(spec: str, weights: object) -> str | None:
    src = getattr(weights, "source", None)
    return str(src) if src else (None if spec.startswith("default-") else spec)
