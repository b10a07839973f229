"""Options of the native backend shared by ``chat`` and ``generate``: ``--kv-f16``, ``--head``."""

from __future__ import annotations

import argparse
from typing import Any

from bitnet_studio.engine.registry import make_backend
from bitnet_studio.errors import StudioError

HEADS = ("f16", "i8", "q4")


def add_native_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--kv-f16", action="store_true", help="native: keep the KV cache in fp16 (half the bytes)"
    )
    p.add_argument(
        "--head",
        choices=HEADS,
        default=None,
        help="native: output head storage (f16; i8 = int8 rows; q4 = 4-bit blocks of 32)",
    )


def backend_from_args(args: argparse.Namespace) -> Any:
    """The backend ``--backend`` names, with the native options applied (an error elsewhere)."""
    kv_f16, head = bool(getattr(args, "kv_f16", False)), getattr(args, "head", None)
    if args.backend != "native":
        if kv_f16:
            raise StudioError("--kv-f16", f"only the native backend has it, not {args.backend}")
        if head is not None:
            raise StudioError("--head", f"only the native backend has it, not {args.backend}")
        return make_backend(args.backend)
    from bitnet_studio.engine.native_backend import NativeBackend

    return NativeBackend(head_dtype=head, kv_f16=kv_f16)
