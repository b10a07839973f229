"""``bitnet-studio evaluate --models A B``: held-out perplexity and bits per byte.

Every model is scored by the float32 reference on the corpus's held-out works (never seen in
training) with its own tokenizer, in windows of ``--context`` tokens; bits per byte compares
models whose tokenizers differ.
"""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--models",
        nargs="+",
        default=["default-trained-vanilla", "default-trained-ternary"],
        help="defaults' names, GGUF files or HF folders",
    )
    p.add_argument("--context", type=int, default=256, help="tokens per scoring window")
    p.add_argument("--chars", type=int, default=None, help="score only this many characters")


def run(args: argparse.Namespace) -> int:
    from bitnet_studio.engine.registry import load_named_model
    from bitnet_studio.train.corpus import split_works
    from bitnet_studio.train.evaluate import evaluate_weights

    texts = [w.text for w in split_works("heldout")]
    if args.chars:
        texts = [t[: args.chars] for t in texts]
    print(f"held-out: {len(texts)} works, {sum(len(t.encode()) for t in texts)} bytes")
    print(f"{'model':<34} {'tokens':>8} {'perplexity':>11} {'bits/byte':>10}")
    for spec in args.models:
        res = evaluate_weights(load_named_model(spec), texts, args.context)
        print(f"{spec:<34} {res.tokens:>8} {res.perplexity:>11.2f} {res.bits_per_byte:>10.4f}")
    return 0
