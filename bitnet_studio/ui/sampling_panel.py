"""Sampling settings shared by every pane (so a comparison is fair), and the system prompt."""

from __future__ import annotations

import secrets
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from bitnet_studio.engine.sampling import SamplingParams

DEFAULTS: dict[str, Any] = {
    "temperature": 0.7,
    "top_k": 40,
    "top_p": 0.95,
    "max_tokens": 128,
    "seed": 0,
    "random_seed": False,
    "system_prompt": "",
}


def _as_float(v: Any, default: float) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return default


def _as_bool(v: Any) -> bool:
    return v in (True, "true", "True", "1", 1)


class SamplingPanel(QGroupBox):
    """Temperature, top-k, top-p, max tokens, seed, system prompt."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Sampling (all panes)", parent)
        form = QFormLayout(self)
        self.temperature = QDoubleSpinBox(decimals=2, minimum=0.0, maximum=2.0, singleStep=0.05)
        self.temperature.setToolTip("0 = greedy (always the most likely token)")
        self.top_k = QSpinBox(minimum=0, maximum=1000)
        self.top_k.setToolTip("0 = off")
        self.top_p = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=1.0, singleStep=0.05)
        self.max_tokens = QSpinBox(minimum=1, maximum=4096)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.random_seed = QCheckBox("new seed each time")
        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText("System prompt (optional)")
        self.system_prompt.setMaximumHeight(70)
        form.addRow("Temperature", self.temperature)
        form.addRow("Top-k", self.top_k)
        form.addRow("Top-p", self.top_p)
        form.addRow("Max tokens", self.max_tokens)
        form.addRow("Seed", self.seed)
        form.addRow("", self.random_seed)
        form.addRow("System", self.system_prompt)
        self.set_from_dict(DEFAULTS)

    def params(self) -> SamplingParams:
        """The engine's parameters; the same object's values go to every pane. With "new
        seed each time" a fresh seed is drawn here, so every pane uses the same one and the
        export records it (the run can be repeated with it)."""
        fresh = secrets.randbelow(self.seed.maximum() + 1)
        return SamplingParams(
            temperature=self.temperature.value(),
            top_k=self.top_k.value(),
            top_p=self.top_p.value(),
            max_tokens=self.max_tokens.value(),
            seed=fresh if self.random_seed.isChecked() else self.seed.value(),
        )

    def system(self) -> str:
        return self.system_prompt.toPlainText().strip()

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature.value(),
            "top_k": self.top_k.value(),
            "top_p": self.top_p.value(),
            "max_tokens": self.max_tokens.value(),
            "seed": self.seed.value(),
            "random_seed": self.random_seed.isChecked(),
            "system_prompt": self.system_prompt.toPlainText(),
        }

    def set_from_dict(self, values: dict[str, Any]) -> None:
        """Applies stored values; unknown keys and unreadable values are ignored."""
        v = {**DEFAULTS, **{k: x for k, x in values.items() if x is not None}}
        self.temperature.setValue(_as_float(v["temperature"], DEFAULTS["temperature"]))
        self.top_k.setValue(int(_as_float(v["top_k"], DEFAULTS["top_k"])))
        self.top_p.setValue(_as_float(v["top_p"], DEFAULTS["top_p"]))
        self.max_tokens.setValue(int(_as_float(v["max_tokens"], DEFAULTS["max_tokens"])))
        self.seed.setValue(int(_as_float(v["seed"], DEFAULTS["seed"])))
        self.random_seed.setChecked(_as_bool(v["random_seed"]))
        self.system_prompt.setPlainText(str(v["system_prompt"] or ""))
