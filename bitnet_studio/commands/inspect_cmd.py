"""``bitnet-studio inspect --model M [--json FILE]``: architecture, bytes by kind, tensor stats."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bitnet_studio.engine.registry import load_named_model
from bitnet_studio.errors import StudioError
from bitnet_studio.inspect.stats import TensorStats
from bitnet_studio.inspect.summary import format_summary, summarize


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="GGUF file, HF folder, or a default's name")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="write the summary")
    p.add_argument("--tensors", action="store_true", help="print per-tensor statistics too")


def run(args: argparse.Namespace) -> int:
    summary = summarize(load_named_model(args.model))
    tensors = [TensorStats(**{**t, "shape": tuple(t["shape"])}) for t in summary["tensors"]]
    print(format_summary(summary, tensors if args.tensors else None))
    if args.json is not None:
        try:
            args.json.write_text(json.dumps(summary, indent=1))
        except OSError as e:
            raise StudioError(args.json, f"cannot write: {e.strerror}") from None
    return 0
