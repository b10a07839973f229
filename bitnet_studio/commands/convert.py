"""``bitnet-studio convert IN OUT --to {gguf-f16,gguf-tq2_0,gguf-tq1_0,gguf-q1_0,gguf-q2_0}``."""

from __future__ import annotations

import argparse
from pathlib import Path

from bitnet_studio.engine.registry import load_named_model
from bitnet_studio.formats import write_gguf

TARGETS = {"gguf-f16": "f16", "gguf-tq2_0": "tq2_0", "gguf-tq1_0": "tq1_0"}
TARGETS |= {"gguf-q1_0": "q1_0", "gguf-q2_0": "q2_0"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="GGUF file, HF folder, or a default's name")
    p.add_argument("output", type=Path)
    p.add_argument("--to", choices=sorted(TARGETS), required=True)


def run(args: argparse.Namespace) -> int:
    model = load_named_model(args.input)
    report = write_gguf(model, args.output, TARGETS[args.to])
    types: dict[str, int] = {}
    for t in report.tensor_types.values():
        types[t] = types.get(t, 0) + 1
    size = args.output.stat().st_size
    print(
        f"wrote {args.output} ({size / 1e6:.1f} MB, arch {report.arch}): "
        + ", ".join(f"{n} x {t}" for t, n in sorted(types.items()))
    )
    for note in report.notes:
        print(f"note: {note}")
    return 0
