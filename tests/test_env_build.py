"""The environment scripts/env.sh builds: llama-cpp-python as the library only.

Building llama.cpp's tools, examples, tests, server and multimodal library took most of a
fresh machine's set-up time (issue: `make test` from nothing took 26 min); BitNet Studio
loads only libllama and ggml through ctypes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed"
)


def _lib_dir() -> Path:
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "lib"


def test_llama_cpp_ships_the_libraries_we_load() -> None:
    names = {p.name.split(".so")[0] for p in _lib_dir().iterdir()}
    assert {"libllama", "libggml", "libggml-base", "libggml-cpu"} <= names


def test_llama_cpp_was_built_without_the_multimodal_library() -> None:
    built = sorted(p.name for p in _lib_dir().iterdir())
    assert not [n for n in built if n.startswith(("libmtmd", "libllava"))], built


def test_env_script_builds_the_library_only() -> None:
    script = (Path(__file__).parents[1] / "scripts" / "env.sh").read_text()
    for flag in ("-DLLAVA_BUILD=OFF", "-DLLAMA_BUILD_TOOLS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF"):
        assert flag in script
