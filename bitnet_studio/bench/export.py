"""Benchmark records to CSV and JSON files (the Measure page's export, and scripts')."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def record_rows(records: Sequence[Any]) -> list[dict[str, Any]]:
    """Dataclass records (or dicts) as plain dicts, in order."""
    return [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in records]


def write_json(
    records: Sequence[Any], path: str | Path, meta: dict[str, Any] | None = None
) -> None:
    """``{"meta": {...}, "records": [...]}``, indented, UTF-8."""
    doc = {"meta": meta or {}, "records": record_rows(records)}
    Path(path).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def write_csv(records: Sequence[Any], path: str | Path) -> None:
    """One row per record; the header is the union of fields in first-seen order, list
    fields are joined with "; "."""
    rows = record_rows(records)
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with Path(path).open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow(
                {k: "; ".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()}
            )
