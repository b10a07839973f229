"""The training recipe: one for the three variants; only ``variant`` and its peak LR differ.

Each variant gets the peak LR its sweep picked (``PEAK_LR``; ``train --sweep``, tables in the
model cards): binary and ternary weights want larger LRs than float ones (arXiv 2310.11453).
``bf16`` defaults to what the CPU runs natively (``precision.auto_precision``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bitnet_studio.train.model import Shape
from bitnet_studio.train.precision import auto_precision


@dataclass(frozen=True)
class Recipe:
    shape: Shape = field(default_factory=Shape)
    steps: int = 1000
    batch_size: int = 16
    lr: float = 2e-3
    min_lr_ratio: float = 0.1  # cosine decay to lr * this
    warmup_steps: int = 50
    weight_decay: float = 0.1  # on 2-D weights only (not norms, not the embedding)
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    seed: int = 0
    # autocast the matmuls to bfloat16 where the CPU has AVX-512 BF16 / AMX; weights stay fp32
    bf16: bool = field(default_factory=lambda: auto_precision().bf16)
    checkpoint_every: int = 100
    eval_every: int = 200
    eval_tokens: int = 16384  # held-out tokens scored at each periodic evaluation

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.shape.context

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        d = dict(d)
        d["shape"] = Shape(**d["shape"])
        d["betas"] = tuple(d["betas"])
        return cls(**d)


# The shipped twins: 6.2M parameters (5.1M in linears), 4.1M tokens each (~2.6 epochs of the
# 1.55M-token training split); ~20-30 min per variant on this machine's two cores.
SHIPPED = Recipe()

# The app's QAT lab: a model small enough to show both loss curves falling within minutes.
LAB = replace(
    SHIPPED,
    shape=Shape(
        vocab_size=4096, hidden_size=128, intermediate_size=384, n_layers=2, n_heads=2, context=128
    ),
    steps=300,
    batch_size=8,
    warmup_steps=20,
    checkpoint_every=0,
    eval_every=50,
    eval_tokens=4096,
)

# Each variant's peak LR, per recipe, from the sweeps (``train --sweep``).
PEAK_LR: dict[str, dict[str, float]] = {
    "shipped": {"vanilla": 2e-3, "bitnet": 4e-3, "b158": 2e-3},
    "lab": {"vanilla": 2e-3, "bitnet": 4e-3, "b158": 2e-3},
}
RECIPES = {"shipped": SHIPPED, "lab": LAB}


def recipe_for(name: str, variant: str) -> Recipe:
    """The named recipe with ``variant``'s peak LR."""
    return replace(RECIPES[name], lr=PEAK_LR[name][variant])
