"""The first start's explanation, shown once above Compare.

A new user meets SmolLM2 next to its naive ternary twin, and the twin babbles. Without a word
that looks like a broken app; with one it is the lesson: rounding a model trained in floating
point to {-1, 0, +1} after the fact (post-training quantization) destroys it, and BitNet
b1.58 works because it is *trained* with ternary weights. The banner says so and offers, in
one click each, the project's trained twins (vanilla and b1.58, same recipe) and the real
BitNet b1.58 2B4T from the Hugging Face hub.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from bitnet_studio.engine.registry import TRAINED_DEFAULTS
from bitnet_studio.resources import resource_path

INTRO_TEXT = (
    "<b>What you are looking at.</b> Left: SmolLM2-135M-Instruct, an ordinary model with "
    "16-bit weights. Right: its <i>naive ternary twin</i>: the same weights rounded to "
    "{-1, 0, +1} times one scale per tensor after training (absmean post-training "
    "quantization). A model trained in floating point loses most of what it knew in that "
    "rounding, so the twin babbles: that is expected, and it is the point. BitNet b1.58 "
    "works because it is <i>trained</i> with ternary weights from the start (quantization-"
    "aware training). See it for yourself:"
)
REPO_2B4T = "microsoft/bitnet-b1.58-2B-4T-gguf"


def trained_twins_available() -> bool:
    """Whether the bundled trained twins (vanilla and b1.58, same recipe) are installed."""
    return all(resource_path("models", f"{n}.gguf").is_file() for n in TRAINED_DEFAULTS)


class FirstRunBanner(QFrame):
    """The explanation and three buttons; the window wires them and remembers it was shown."""

    sig_load_trained = Signal()
    """Load the trained twins (vanilla vs b1.58 QAT) into Compare."""
    sig_get_2b4t = Signal()
    """Download (or open, if downloaded) the real BitNet b1.58 2B4T."""
    sig_dismissed = Signal()
    """The user closed the banner."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("first_run")
        self.text = QLabel(INTRO_TEXT)
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.trained_button = QPushButton("Compare the trained twins (vanilla vs b1.58 QAT)")
        self.trained_button.clicked.connect(self.sig_load_trained)
        if not trained_twins_available():
            self.trained_button.setEnabled(False)
            self.trained_button.setToolTip("the trained twins are not installed")
        self.bitnet_button = QPushButton("Get BitNet b1.58 2B4T (1.2 GB, online)…")
        self.bitnet_button.setToolTip(f"downloads {REPO_2B4T} from the Hugging Face hub")
        self.bitnet_button.clicked.connect(self.sig_get_2b4t)
        self.close_button = QPushButton("Got it")
        self.close_button.clicked.connect(self.dismiss)
        row = QHBoxLayout()
        for b in (self.trained_button, self.bitnet_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addLayout(row)

    def dismiss(self) -> None:
        self.hide()
        self.sig_dismissed.emit()
