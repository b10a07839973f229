"""The training loop shared by both variants, the CLI and the app's QAT lab.

AdamW (decoupled weight decay on 2-D weights), linear warmup then cosine decay, gradient
clipping, bfloat16 autocast for the matmuls. A checkpoint (``checkpoint.pt``: model, optimizer,
step, recipe, history; ``tokenizer.json`` beside it) is written atomically every
``checkpoint_every`` steps and at the end; ``Trainer.resume`` continues from it exactly,
because batches depend only on (seed, step).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tokenizers import Tokenizer

from bitnet_studio.errors import StudioError
from bitnet_studio.train.data import TokenData
from bitnet_studio.train.evaluate import evaluate_stream
from bitnet_studio.train.model import TinyLM, Variant
from bitnet_studio.train.recipe import Recipe

CHECKPOINT = "checkpoint.pt"
TOKENIZER = "tokenizer.json"


@dataclass
class StepEvent:
    variant: str
    step: int  # steps done
    steps: int
    loss: float
    lr: float
    tokens_seen: int
    tokens_per_s: float
    eval_loss: float | None = None  # held-out loss (nats/token) when evaluated at this step


@dataclass
class Control:
    """Pause and stop requests from another thread (the app's buttons, Ctrl+C), and an
    optional ``cancelled()`` poll (a worker's cancel flag) that stops a run, paused or not."""

    stop: threading.Event = field(default_factory=threading.Event)
    running: threading.Event = field(default_factory=threading.Event)
    cancelled: Callable[[], bool] = field(default=lambda: False)

    def __post_init__(self) -> None:
        self.running.set()

    def pause(self) -> None:
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    def request_stop(self) -> None:
        self.stop.set()
        self.running.set()

    def proceed(self) -> bool:
        """Waits while paused; True unless a stop was requested (the loops' one check)."""
        while True:
            if self.cancelled():
                self.request_stop()
            if self.running.wait(0.1):
                return not self.stop.is_set()


class Trainer:
    def __init__(
        self,
        variant: Variant,
        recipe: Recipe,
        tokenizer: Tokenizer,
        data: TokenData | None = None,
        out_dir: Path | None = None,
    ) -> None:
        if tokenizer.get_vocab_size() > recipe.shape.vocab_size:
            raise StudioError("recipe", "the tokenizer has more tokens than the model's vocabulary")
        self.variant, self.recipe, self.tokenizer = variant, recipe, tokenizer
        self.data = data or TokenData.from_corpus(tokenizer)
        self.out_dir = out_dir
        torch.manual_seed(recipe.seed)  # the same initial weights for both variants' shared parts
        self.model = TinyLM(recipe.shape, variant)
        decay = [p for n, p in self.model.named_parameters() if p.ndim == 2 and "embed" not in n]
        other = [p for n, p in self.model.named_parameters() if p.ndim != 2 or "embed" in n]
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": recipe.weight_decay},
                {"params": other, "weight_decay": 0.0},
            ],
            lr=recipe.lr,
            betas=recipe.betas,
        )
        self.step = 0
        self.history: list[dict[str, float]] = []  # one row per step: step, loss, lr, eval_loss

    # ------------------------------------------------------------------ schedule, one step

    def lr_at(self, step: int) -> float:
        r = self.recipe
        if step < r.warmup_steps:
            return r.lr * (step + 1) / r.warmup_steps
        t = (step - r.warmup_steps) / max(1, r.steps - r.warmup_steps)
        floor = r.lr * r.min_lr_ratio
        return floor + (r.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    def loss_on(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.recipe.bf16):
            logits = self.model(batch[:, :-1])
        return torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1)
        )

    def train_step(self) -> StepEvent:
        r = self.recipe
        t0 = time.perf_counter()
        lr = self.lr_at(self.step)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.model.train()
        loss = self.loss_on(self.data.batch(r.seed, self.step, r.batch_size, r.shape.context))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), r.grad_clip)
        self.optimizer.step()
        self.step += 1
        dt = time.perf_counter() - t0
        ev = StepEvent(
            self.variant,
            self.step,
            r.steps,
            loss.item(),
            lr,
            self.step * r.tokens_per_step,
            r.tokens_per_step / dt,
        )
        if r.eval_every and (self.step % r.eval_every == 0 or self.step == r.steps):
            ev.eval_loss = self.evaluate(r.eval_tokens).loss
        self.history.append(
            {
                "step": ev.step,
                "loss": ev.loss,
                "lr": lr,
                "eval_loss": math.nan if ev.eval_loss is None else ev.eval_loss,
            }
        )
        if self.out_dir and r.checkpoint_every and self.step % r.checkpoint_every == 0:
            self.save()
        return ev

    def evaluate(self, max_tokens: int | None = None):
        """Held-out loss / perplexity / bits per byte of the model as it is now."""
        self.model.eval()
        stream = self.data.heldout if max_tokens is None else self.data.heldout[: max_tokens + 1]
        frac = (len(stream) - 1) / (len(self.data.heldout) - 1)

        @torch.no_grad()
        def logits(ids: torch.Tensor) -> torch.Tensor:
            return self.model(ids[None])[0].float()

        return evaluate_stream(
            logits, stream, self.recipe.shape.context, self.data.heldout_bytes * frac
        )

    def run(
        self,
        on_event: Callable[[StepEvent], None] | None = None,
        control: Control | None = None,
    ) -> bool:
        """Trains up to ``recipe.steps``; True when finished, False when stopped (checkpointed)."""
        control = control or Control()
        while self.step < self.recipe.steps and control.proceed():
            ev = self.train_step()
            if on_event:
                on_event(ev)
        if self.out_dir:
            self.save()
        return self.step >= self.recipe.steps

    # ------------------------------------------------------------------ checkpoints

    def save(self) -> Path:
        assert self.out_dir is not None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / CHECKPOINT
        tmp = path.with_suffix(".tmp")
        state = {
            "variant": self.variant,
            "recipe": self.recipe.to_dict(),
            "step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "history": self.history,
        }
        torch.save(state, tmp)
        tmp.replace(path)
        (self.out_dir / TOKENIZER).write_text(self.tokenizer.to_str())
        return path

    @classmethod
    def resume(cls, out_dir: Path, data: TokenData | None = None) -> Trainer:
        """The trainer saved in ``out_dir``, ready to continue where it stopped."""
        path = out_dir / CHECKPOINT
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            tok = Tokenizer.from_file(str(out_dir / TOKENIZER))
            trainer = cls(state["variant"], Recipe.from_dict(state["recipe"]), tok, data, out_dir)
            trainer.model.load_state_dict(state["model"])
            trainer.optimizer.load_state_dict(state["optimizer"])
        except FileNotFoundError as e:
            raise StudioError(e.filename or path, "no checkpoint to resume from") from None
        except (RuntimeError, KeyError, TypeError, ValueError, EOFError) as e:
            raise StudioError(path, f"the checkpoint is unreadable: {e}") from None
        trainer.step = int(state["step"])
        trainer.history = list(state["history"])
        return trainer
