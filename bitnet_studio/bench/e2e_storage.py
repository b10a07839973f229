"""What each backend of the end-to-end benchmark stores, and reads per decoded token.

A decoded token reads every linear once in its stored form, and the output head (for a
tied head, the embedding table in the head's role); the one embedding row it looks up is
negligible. Native and torch sessions say what they hold (``Session.memory()``); for
llama.cpp the GGUF file says it, tensor by tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Storage:
    weight_bytes: int
    bytes_per_token: int
    linear_type: str
    embedding_type: str
    head_type: str
    notes: list[str] = field(default_factory=list)


def session_storage(
    session: Any, backend: str, linear_type: str, config: Any, head_kind: str | None = None
) -> Storage:
    """From a native or torch session's ``memory()`` (native stores dense weights as fp16
    here, torch as float32; ``head_kind`` names a head stored apart, e.g. "i8")."""
    tied = bool(config.tie_word_embeddings)
    mem = session.memory()
    linears = int(mem.get("attention", 0)) + int(mem.get("mlp", 0))
    head = int(mem.get("head", 0)) or (int(mem.get("embeddings", 0)) if tied else 0)
    weights = sum(int(mem.get(k, 0)) for k in ("embeddings", "attention", "mlp", "norms", "head"))
    dense = "F32" if backend == "torch" else "F16"
    head_type = head_kind.upper() if head_kind else dense
    return Storage(weights, linears + head, linear_type, dense, head_type)


_LINEAR_GGUF = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


def gguf_storage(path: Path) -> Storage:
    """From the GGUF file llama.cpp loads (its linears may mix types: say so)."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    total = linear_bytes = 0
    linear_types: dict[str, int] = {}
    by_name: dict[str, tuple[str, int]] = {}
    for t in reader.tensors:
        n, kind = int(t.n_bytes), t.tensor_type.name
        total += n
        by_name[t.name] = (kind, n)
        if t.name.split(".")[-2] in _LINEAR_GGUF:
            linear_bytes += n
            linear_types[kind] = linear_types.get(kind, 0) + 1
    emb_type, emb_bytes = by_name["token_embd.weight"]
    head_type, head_bytes = by_name.get("output.weight", (emb_type, emb_bytes))
    main = max(linear_types, key=lambda k: linear_types[k])
    notes = []
    if len(linear_types) > 1:
        n_lin = sum(linear_types.values())
        others = ", ".join(f"{c} of {n_lin} {k}" for k, c in linear_types.items() if k != main)
        main = "+".join(sorted(linear_types, key=lambda k: -linear_types[k]))
        notes.append(f"mixed linears: {others} (rows not a multiple of 256 fall back)")
    del reader
    return Storage(total, linear_bytes + head_bytes, main, emb_type, head_type, notes)
