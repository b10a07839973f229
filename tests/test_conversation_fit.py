"""Fitting a conversation into a small context (engine only, no Qt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bitnet_studio.engine.conversation import answer_reserve, context_limit, fit_conversation
from bitnet_studio.engine.generate import generate_all
from bitnet_studio.engine.registry import make_backend
from bitnet_studio.engine.sampling import SamplingParams
from bitnet_studio.errors import StudioError
from bitnet_studio.models.chat_template import ChatTemplate
from bitnet_studio.models.random_model import random_model, tiny_config
from bitnet_studio.models.tokenizer import Tokenizer

CONTEXT = 256


@pytest.fixture(scope="module")
def small():  # type: ignore[no-untyped-def]
    model = random_model(tiny_config("llama", max_position=CONTEXT), seed=4)
    tok = Tokenizer.for_model(model)
    template = ChatTemplate.for_tokenizer(tok)
    return model, tok, lambda msgs: tok.encode(template.render(msgs), add_bos=False)


def _talk(n: int) -> list[dict[str, str]]:
    out = [{"role": "system", "content": "be brief"}]
    for i in range(n):
        out += [
            {"role": "user", "content": f"question {i} about the fox"},
            {"role": "assistant", "content": f"answer {i} about the dog"},
        ]
    return [*out, {"role": "user", "content": "and now?"}]


def test_short_conversation_is_kept_whole(small) -> None:  # type: ignore[no-untyped-def]
    _, _, encode = small
    msgs = _talk(1)
    fitted = fit_conversation(msgs, encode, CONTEXT, 64)
    assert fitted.dropped_turns == 0 and fitted.messages == msgs
    assert fitted.ids == encode(msgs)


@pytest.mark.parametrize("backend", ["native", "torch"])
def test_long_conversation_drops_oldest_turns_keeps_system(small, backend: str) -> None:  # type: ignore[no-untyped-def]
    model, tok, encode = small
    msgs = _talk(12)
    assert len(encode(msgs)) > CONTEXT  # would not fit whole
    session = make_backend(backend).load(model, threads=1)
    limit = context_limit(session)
    reserve = answer_reserve(limit, 256)
    assert (limit, reserve) == (CONTEXT, CONTEXT // 4)
    fitted = fit_conversation(msgs, encode, limit, reserve)
    assert fitted.dropped_turns > 0
    assert fitted.messages[0] == msgs[0]  # the system prompt stays
    assert fitted.messages[-1] == msgs[-1]  # the new message stays
    assert fitted.messages[1:-1] == msgs[1 + 2 * fitted.dropped_turns : -1]  # newest kept
    assert len(fitted.ids) <= limit - reserve
    # one exchange more would not have fitted: it dropped as few as it could
    assert len(encode([msgs[0], *msgs[1 + 2 * (fitted.dropped_turns - 1) :]])) > limit - reserve
    params = SamplingParams(greedy=True, max_tokens=reserve)
    done = generate_all(session, tok, fitted.ids, params)
    assert done.stop_reason in ("eos", "length", "context")
    session.close()


def test_message_too_long_alone_says_what_to_do(small) -> None:  # type: ignore[no-untyped-def]
    _, _, encode = small
    msgs = [*_talk(2)[:-1], {"role": "user", "content": "fox " * 400}]
    with pytest.raises(StudioError, match=f"does not fit the {CONTEXT}-token context") as info:
        fit_conversation(msgs, encode, CONTEXT, 24, source=Path("m.gguf"))
    assert info.value.source == "m.gguf" and "shorten it" in info.value.message


def test_a_long_history_costs_few_renders(small) -> None:  # type: ignore[no-untyped-def]
    _, _, encode = small
    calls = []

    def counting(msgs):  # type: ignore[no-untyped-def]
        calls.append(len(msgs))
        return encode(msgs)

    msgs = _talk(200)
    fitted = fit_conversation(msgs, counting, CONTEXT, 64)
    assert 0 < fitted.dropped_turns < 200 and len(fitted.ids) <= CONTEXT - 64
    assert len(encode([msgs[0], *msgs[1 + 2 * (fitted.dropped_turns - 1) :]])) > CONTEXT - 64
    assert len(calls) <= 12  # bisection, not one render per dropped turn
