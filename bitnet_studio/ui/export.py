"""A comparison as a document: JSON (everything, for tools) and Markdown (for people).

Each pane's entry names its model file (path and sha256), format, backend, kernel path and
threads, the sampling settings and seed, the conversation and the last answer's timings.
The model is the one that produced the last answer (not whatever the pane has selected
since), and each turn names the model that answered it.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from bitnet_studio import __version__, kernels
from bitnet_studio.ui.chat_pane import ChatPane

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | None) -> str | None:
    """sha256 of a file (a folder: of its files in name order); cached by size and mtime."""
    if not path:
        return None
    p = Path(path)
    if not p.exists():
        return None
    st = p.stat()
    key = (str(p.resolve()), st.st_size, int(st.st_mtime_ns))
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def pane_record(pane: ChatPane) -> dict[str, Any]:
    m = pane.answered_by or pane.model()
    rec: dict[str, Any] = {"pane": pane.index}
    if m is not None:
        rec["model"] = {
            "name": m.name,
            "label": m.label,
            "path": m.path,
            "sha256": file_sha256(m.path),
            "format": m.summary.get("format"),
            "architecture": m.summary.get("architecture"),
            "parameters": m.summary.get("parameters"),
            "bits_per_weight": m.summary.get("bits_per_weight"),
            "backend": m.backend,
            "threads": getattr(m.session, "threads", m.threads),
        }
    p = pane.used_params
    rec["sampling"] = (
        None
        if p is None
        else {
            "temperature": p.temperature,
            "top_k": p.top_k,
            "top_p": p.top_p,
            "min_p": p.min_p,
            "max_tokens": p.max_tokens,
            "seed": p.seed,
        }
    )
    rec["conversation"] = [
        {"user": t.user, "assistant": t.answer, "model": t.model, "model_label": t.model_label}
        for t in pane.turns
    ]
    d = pane.last_done
    rec["timings"] = (
        None
        if d is None
        else {
            "ttft_ms": d.ttft_ms,
            "prefill_tokens_per_s": d.prefill_tps,
            "decode_tokens_per_s": d.decode_tps,
            "model_memory_mb": pane.memory_mb() if pane.memory is not None else None,
            "process_rss_mb": d.rss_mb,
            "prompt_tokens": len(d.prompt_ids),
            "generated_tokens": len(d.ids),
            "stop_reason": d.stop_reason,
        }
    )
    return rec


def build_export(panes: list[ChatPane], system_prompt: str = "") -> dict[str, Any]:
    info = kernels.info()
    return {
        "app": f"bitnet-studio {__version__}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "kernel_path": info["path"],
        "threads": info["threads"],
        "system_prompt": system_prompt,
        "panes": [pane_record(p) for p in panes],
    }


def to_markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# BitNet Studio comparison",
        "",
        f"{doc['app']} · {doc['created']} · kernels {doc['kernel_path']}"
        f" · {doc['threads']} threads",
        "",
    ]
    if doc.get("system_prompt"):
        lines += [f"**System:** {doc['system_prompt']}", ""]
    for rec in doc["panes"]:
        m = rec.get("model") or {}
        lines.append(f"## Pane {rec['pane'] + 1}: {m.get('label', 'no model')}")
        lines.append("")
        if m:
            lines.append(
                f"- file: `{m.get('path')}` (sha256 `{m.get('sha256')}`)\n"
                f"- format {m.get('format')}, backend {m.get('backend')}, "
                f"{m.get('bits_per_weight', 0):.2f} bits/weight, threads {m.get('threads')}"
            )
        if rec.get("sampling"):
            s = rec["sampling"]
            lines.append(
                f"- sampling: temperature {s['temperature']}, top-k {s['top_k']}, "
                f"top-p {s['top_p']}, max tokens {s['max_tokens']}, seed {s['seed']}"
            )
        if rec.get("timings"):
            t = rec["timings"]
            lines.append(
                f"- TTFT {t['ttft_ms']:.0f} ms, prefill {t['prefill_tokens_per_s']:.1f} tok/s, "
                f"decode {t['decode_tokens_per_s']:.1f} tok/s, "
                f"model memory {t['model_memory_mb'] or 0:.1f} MB, "
                f"process RSS {t['process_rss_mb']:.0f} MB, "
                f"{t['generated_tokens']} tokens ({t['stop_reason']})"
            )
        lines.append("")
        for turn in rec["conversation"]:
            who = turn.get("model_label") or "Model"
            lines += [f"**You:** {turn['user']}", "", f"**{who}:** {turn['assistant']}", ""]
    return "\n".join(lines)


def write_export(path: str | Path, doc: dict[str, Any]) -> None:
    """JSON when the name ends in .json, Markdown otherwise."""
    p = Path(path)
    text = json.dumps(doc, indent=2) if p.suffix.lower() == ".json" else to_markdown(doc)
    p.write_text(text, encoding="utf-8")
