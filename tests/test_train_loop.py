"""The training loop: both variants learn, the schedule, checkpoints and resume, the lab."""

from __future__ import annotations

import threading

import pytest
import torch

from bitnet_studio.errors import StudioError
from bitnet_studio.train.lab import QatLab
from bitnet_studio.train.trainer import CHECKPOINT, Control, Trainer
from tests.train_fixtures import tiny_recipe, token_data, tokenizer


def _trainer(variant: str, out=None, **changes) -> Trainer:
    return Trainer(variant, tiny_recipe(**changes), tokenizer(), token_data(), out)  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", ["vanilla", "bitnet", "b158"])
def test_a_tiny_run_lowers_the_loss(variant: str) -> None:
    torch.set_num_threads(1)
    t = _trainer(variant)
    before = t.evaluate().loss
    losses = [t.train_step().loss for _ in range(t.recipe.steps)]
    after = t.evaluate().loss
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.5, (variant, first, last)
    assert after < before - 0.5, (variant, before, after)


def test_same_seed_same_start_for_both_variants() -> None:
    a, b = _trainer("vanilla"), _trainer("b158")
    torch.testing.assert_close(a.model.embed_tokens.weight, b.model.embed_tokens.weight)
    torch.testing.assert_close(a.model.layers[0].q_proj.weight, b.model.layers[0].q_proj.weight)
    c = _trainer("vanilla", seed=1)
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)
    batch = token_data().batch(0, 3, 4, 32)
    torch.testing.assert_close(batch, token_data().batch(0, 3, 4, 32))


def test_schedule_warms_up_then_decays_to_the_floor() -> None:
    t = _trainer("vanilla", steps=100, warmup_steps=10, lr=1e-3, min_lr_ratio=0.1)
    assert t.lr_at(0) == pytest.approx(1e-4)
    assert t.lr_at(9) == pytest.approx(1e-3)
    assert t.lr_at(10) == pytest.approx(1e-3)
    assert t.lr_at(55) == pytest.approx(0.55e-3)
    assert t.lr_at(100) == pytest.approx(1e-4)
    assert all(t.lr_at(s) >= t.lr_at(s + 1) for s in range(10, 100))


def test_resume_continues_exactly(tmp_path) -> None:
    straight = _trainer("b158", steps=6)
    straight.run()
    stopped = _trainer("b158", out=tmp_path, steps=6)
    control = Control()

    def stop_after_three(ev) -> None:
        if ev.step == 3:
            control.request_stop()

    assert stopped.run(stop_after_three, control) is False
    assert (tmp_path / CHECKPOINT).is_file()
    resumed = Trainer.resume(tmp_path, token_data())
    assert resumed.step == 3 and resumed.variant == "b158" and len(resumed.history) == 3
    assert resumed.run() is True
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    for (name, p), q in zip(
        resumed.model.state_dict().items(), straight.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(p, q, msg=name)


def test_unreadable_or_missing_checkpoint_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(StudioError, match="no checkpoint"):
        Trainer.resume(tmp_path)
    t = _trainer("vanilla", out=tmp_path, steps=1)
    t.run()
    data = (tmp_path / CHECKPOINT).read_bytes()
    (tmp_path / CHECKPOINT).write_bytes(data[: len(data) // 2])
    with pytest.raises(StudioError, match="unreadable"):
        Trainer.resume(tmp_path, token_data())


def test_pause_holds_the_loop_until_resumed() -> None:
    t = _trainer("vanilla", steps=3)
    control = Control()
    control.pause()
    thread = threading.Thread(target=t.run, args=(None, control))
    thread.start()
    thread.join(0.5)
    assert thread.is_alive() and t.step == 0
    control.resume()
    thread.join(60)
    assert not thread.is_alive() and t.step == 3


def test_lab_steps_the_three_twins_in_turn(monkeypatch) -> None:
    import bitnet_studio.train.lab as lab_mod
    from bitnet_studio.train.recipe import PEAK_LR

    monkeypatch.setattr(lab_mod, "train_tokenizer", lambda _vocab: tokenizer())
    monkeypatch.setattr(lab_mod.TokenData, "from_corpus", lambda _tok: token_data())
    lab = QatLab(tiny_recipe(eval_every=2), steps=4)
    assert {v: t.recipe.lr for v, t in lab.trainers.items()} == PEAK_LR["lab"]
    events = []
    assert lab.run(events.append) is True
    assert [(e.variant, e.step) for e in events] == [
        (v, s) for s in range(1, 5) for v in ("vanilla", "bitnet", "b158")
    ]
    assert [e.eval_loss is not None for e in events if e.variant == "b158"] == [
        False,
        True,
        False,
        True,
    ]
    # a stop (or pause) lands between rounds: every twin has done the same steps
    stopped = QatLab(tiny_recipe(), steps=4, lrs={"vanilla": 1e-3, "bitnet": 5e-3, "b158": 3e-3})
    assert stopped.trainers["bitnet"].recipe.lr == 5e-3
    control = Control()
    assert stopped.run(lambda e: control.request_stop(), control) is False
    assert [t.step for t in stopped.trainers.values()] == [1, 1, 1] and stopped.step == 1


def test_a_cancel_poll_stops_a_paused_run() -> None:
    t = _trainer("vanilla", steps=3)
    flag = threading.Event()
    control = Control(cancelled=flag.is_set)
    control.pause()
    thread = threading.Thread(target=t.run, args=(None, control))
    thread.start()
    thread.join(0.3)
    assert thread.is_alive()
    flag.set()
    thread.join(5)
    assert not thread.is_alive() and t.step == 0 and control.stop.is_set()
