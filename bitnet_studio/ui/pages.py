"""Names the command line and the window share: the pages, the default model pairs and the
trained trio.

Qt-free, so ``bitnet-studio gui --help`` can list them without importing Qt.
"""

from __future__ import annotations

from bitnet_studio.engine.registry import TRAINED_BITNET, TRAINED_DEFAULTS

PAGES = ("compare", "inspect", "measure", "qat-lab", "evaluate")

# key -> (menu text, (left model, right model)): File > Load pair, and the QAT lab's links.
PAIRS: dict[str, tuple[str, tuple[str, str]]] = {
    "smollm2": (
        "SmolLM2 vs its naive ternary twin (PTQ)",
        ("default-vanilla", "default-ternary"),
    ),
    "trained": (
        "Shakespeare twins: vanilla vs trained b1.58 (QAT)",
        (TRAINED_DEFAULTS[0], TRAINED_DEFAULTS[1]),
    ),
}

# File > Load trio: the three systems trained on one recipe, left to right by bits per weight
# of the linears: vanilla (16), the original BitNet (1) and BitNet b1.58 (1.58).
TRIO: tuple[str, tuple[str, str, str]] = (
    "Load &trio into Compare: vanilla vs BitNet 1-bit vs BitNet b1.58",
    (TRAINED_DEFAULTS[0], TRAINED_BITNET.name, TRAINED_DEFAULTS[1]),
)
