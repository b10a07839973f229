"""Test setup: headless Qt, and a fixture that runs a test once per kernel path."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from bitnet_studio import kernels


@pytest.fixture(params=kernels.available_paths())
def kernel_path(request: pytest.FixtureRequest) -> str:
    """Every SIMD path this CPU can run (the scalar reference included)."""
    return str(request.param)
