"""The ``bitnet-studio`` command line. Every subcommand lives in ``bitnet_studio.commands``.

On bad input every command exits with status 2 and prints one line
``error: <file>: <what is wrong>`` on stderr; ``--debug`` shows the traceback too.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from bitnet_studio import __version__
from bitnet_studio.errors import StudioError

# (command name, module in bitnet_studio.commands, one-line help)
COMMANDS: list[tuple[str, str, str]] = [
    ("selftest", "selftest", "check every kernel path against the scalar reference"),
    ("generate", "generate", "stream one answer from a model, then one line of metrics"),
    ("chat", "chat", "talk to one model interactively, with its chat template"),
    ("inspect", "inspect_cmd", "architecture, bytes by kind, bits per weight, tensor statistics"),
    ("convert", "convert", "write a model as GGUF (f16, tq2_0, tq1_0)"),
    ("bench", "bench", "benchmarks: kernels, end-to-end decode"),
    ("train", "train", "train the vanilla or the b1.58 twin on the bundled corpus (resumable)"),
    ("evaluate", "evaluate", "perplexity, bits per byte, KL vs a reference and cost per token"),
    ("gui", "gui", "the desktop app (also: no command); --screenshot for a scripted run"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bitnet-studio",
        description="Run vanilla and ternary (BitNet b1.58) LLMs side by side.",
    )
    parser.add_argument("--version", action="version", version=f"bitnet-studio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument(
        "--selftest",
        action="store_true",
        help="kernel check plus a short generation with each default model (headless)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        mod = importlib.import_module(f"bitnet_studio.commands.{module}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show tracebacks on errors",
        )
        mod.add_arguments(p)
        p.set_defaults(run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.selftest:
        if args.command is not None:
            parser.error("--selftest takes no command")
        from bitnet_studio.commands import self_check

        args.run = lambda _a: self_check.run()
    elif args.command is None:  # no command: the desktop app
        from bitnet_studio.commands import gui

        args.run = lambda _a: gui.run_default()
    try:
        return int(args.run(args) or 0)
    except StudioError as e:
        if args.debug:
            traceback.print_exc()
        print(e.one_line(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: bitnet-studio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
