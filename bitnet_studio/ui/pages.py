"""Names the command line and the window share: the pages and the default model pairs.

Qt-free, so ``bitnet-studio gui --help`` can list them without importing Qt.
"""

from __future__ import annotations

from bitnet_studio.engine.registry import TRAINED_DEFAULTS

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
