"""Module boundaries: only ``bitnet_studio.ui`` may import Qt (PySide6, shiboken6, pyqtgraph)."""

from __future__ import annotations

import ast
from pathlib import Path

import bitnet_studio

QT = ("PySide6", "shiboken6", "pyqtgraph")
PKG = Path(bitnet_studio.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_ui_package_imports_qt() -> None:
    offenders = [
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if "ui" not in p.relative_to(PKG).parts[:1] and _imports(p) & set(QT)
    ]
    assert offenders == []


def test_the_ui_does_import_qt() -> None:
    """The scan sees real imports (guards the test above against a path mistake)."""
    assert any(_imports(p) & set(QT) for p in (PKG / "ui").rglob("*.py"))
