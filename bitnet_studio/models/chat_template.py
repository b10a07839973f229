"""Chat templates: render a conversation to the prompt text a model was trained on.

Rendering follows transformers' ``apply_chat_template`` (``utils/chat_template_utils.py``):
a sandboxed jinja2 environment with ``trim_blocks`` and ``lstrip_blocks``, the loop-controls
extension, a ``raise_exception`` global, ``strftime_now``, a ``tojson`` filter that keeps
non-ASCII text, and the variables ``messages``, ``add_generation_prompt``, ``bos_token``,
``eos_token`` (plus any extra keyword). A model without a template gets a fallback: ChatML
when its vocabulary has ``<|im_start|>``/``<|im_end|>``, else a plain "Role: text" layout.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

PLAIN_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}: {{ message['content'] | trim }}\n\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)

Message = Mapping[str, Any]


class TemplateError(ValueError):
    """A template that does not compile, or one that raised (``raise_exception``)."""


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, **kw: Any) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, **kw)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


@functools.lru_cache(maxsize=32)
def _compile(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    try:
        return env.from_string(source)
    except (jinja2.TemplateSyntaxError, TypeError) as e:  # TypeError: not a string
        raise TemplateError(f"chat template does not compile: {e}") from None


def fallback_template(vocab_has_chatml: bool) -> str:
    return CHATML_TEMPLATE if vocab_has_chatml else PLAIN_TEMPLATE


def render_chat(
    messages: Sequence[Message],
    template: str | None,
    *,
    bos_token: str = "",
    eos_token: str = "",
    add_generation_prompt: bool = True,
    vocab_has_chatml: bool = False,
    **extra: Any,
) -> str:
    """The prompt text for ``messages`` (dicts with ``role`` and ``content``)."""
    source = template or fallback_template(vocab_has_chatml)
    try:
        return _compile(source).render(
            messages=[dict(m) for m in messages],
            add_generation_prompt=add_generation_prompt,
            bos_token=bos_token,
            eos_token=eos_token,
            **extra,
        )
    except TemplateError:
        raise
    except Exception as e:  # jinja2.TemplateError, or what the template's own code raised
        raise TemplateError(f"chat template failed: {e}") from None


class ChatTemplate:
    """A model's template bound to its special tokens."""

    def __init__(
        self,
        template: str | None,
        bos_token: str = "",
        eos_token: str = "",
        vocab_has_chatml: bool = False,
    ) -> None:
        if template is not None and not isinstance(template, str):
            raise TemplateError(f"chat template is a {type(template).__name__}, not text")
        self.source = template or fallback_template(vocab_has_chatml)
        self.is_fallback = not template
        self.bos_token = bos_token
        self.eos_token = eos_token
        _compile(self.source)  # fail at load, not at the first message

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> ChatTemplate:
        """From a ``models.tokenizer.Tokenizer``: its template and bos/eos texts."""
        has = all(tokenizer.token_id(t) is not None for t in ("<|im_start|>", "<|im_end|>"))
        return cls(
            tokenizer.chat_template,
            bos_token=tokenizer.special_text("bos"),
            eos_token=tokenizer.special_text("eos"),
            vocab_has_chatml=has,
        )

    def render(
        self, messages: Sequence[Message], add_generation_prompt: bool = True, **extra: Any
    ) -> str:
        return render_chat(
            messages,
            self.source,
            bos_token=self.bos_token,
            eos_token=self.eos_token,
            add_generation_prompt=add_generation_prompt,
            **extra,
        )
