"""TokenizerSpec from a Hugging Face folder: tokenizer.json, tokenizer_config.json,
generation_config.json (its ``eos_token_id`` may be a list: Llama-3 ends turns with several)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bitnet_studio.errors import StudioError
from bitnet_studio.models.weights import TokenizerSpec


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StudioError(path, f"not valid JSON: {e}") from e
    return out if isinstance(out, dict) else {}


def _content(tok: Any) -> str | None:
    if isinstance(tok, dict):
        return tok.get("content")
    return tok if isinstance(tok, str) else None


def _ids(value: Any) -> list[int]:
    if isinstance(value, int):
        return [value]
    return [int(v) for v in value] if isinstance(value, list) else []


def read_tokenizer(folder: Path, config: dict[str, Any]) -> TokenizerSpec:
    """The folder's tokenizer files as a TokenizerSpec (no tokenizer.json: an empty spec, which
    ``Tokenizer.for_model`` refuses by name); malformed JSON structure is a StudioError."""
    try:
        return _read(folder, config)
    except (TypeError, KeyError, AttributeError, ValueError) as e:
        raise StudioError(folder, f"corrupt tokenizer files: {type(e).__name__}: {e}") from e


def _read(folder: Path, config: dict[str, Any]) -> TokenizerSpec:
    tj_path = folder / "tokenizer.json"
    tokenizer_json = None
    if tj_path.is_file():
        try:
            tokenizer_json = tj_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise StudioError(tj_path, f"cannot read: {e}") from e
    tj = _load(tj_path) if tokenizer_json else {}
    tc = _load(folder / "tokenizer_config.json")
    gen = _load(folder / "generation_config.json")
    vocab: dict[str, int] = dict((tj.get("model") or {}).get("vocab") or {})
    vocab.update({a["content"]: a["id"] for a in tj.get("added_tokens", [])})

    template = tc.get("chat_template")
    if isinstance(template, list):  # [{"name": "default", "template": ...}, ...]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    if template is None and (folder / "chat_template.jinja").is_file():
        template = (folder / "chat_template.jinja").read_text(encoding="utf-8")

    special: dict[str, str] = {}
    for role in ("bos", "eos", "unk", "pad"):
        text = _content(tc.get(f"{role}_token"))
        if text:
            special[role] = text
    bos = config.get("bos_token_id", gen.get("bos_token_id"))
    if bos is None and "bos" in special:
        bos = vocab.get(special["bos"])
    eos = _ids(gen.get("eos_token_id")) or _ids(config.get("eos_token_id"))
    if not eos and "eos" in special and special["eos"] in vocab:
        eos = [vocab[special["eos"]]]
    add_bos = tc.get("add_bos_token")
    if add_bos is None:  # a TemplateProcessing post-processor that prepends the BOS text
        post = json.dumps(tj.get("post_processor"))
        add_bos = bool(special.get("bos")) and json.dumps(special["bos"]) in post
    return TokenizerSpec(
        tokenizer_json=tokenizer_json,
        chat_template=template,
        bos_token_id=int(bos) if bos is not None else None,
        eos_token_ids=list(dict.fromkeys(eos)),
        add_bos=bool(add_bos),
        special_tokens=special,
    )
