"""What every benchmark command shares: progress on stderr and its ``--json`` records."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bitnet_studio.errors import StudioError


def print_progress(done: int, total: int, message: str) -> None:
    """One updating line on a terminal; plain timestamped lines in a log file."""
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        sys.stderr.write(f"\r\033[K[{done}/{total}] {message}{end}")
    else:
        sys.stderr.write(f"{time.strftime('%H:%M:%S')} [{done}/{total}] {message}\n")
    sys.stderr.flush()


def json_path(value: str | None) -> Path | None:
    """The ``--json`` target, checked before a long run rather than after it."""
    if not value:
        return None
    path = Path(value)
    if not path.parent.is_dir():
        raise StudioError(path, "its folder does not exist")
    return path


def write_records(path: Path | None, records: Sequence[Any]) -> None:
    """Writes dataclass records as a JSON list and says so."""
    if path is None:
        return
    rows = [dataclasses.asdict(r) for r in records]
    path.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {len(rows)} records to {path}")
