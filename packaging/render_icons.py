"""Renders the app icon's PNG sizes from its SVG with Qt's SVG renderer (run once, commit the PNGs).

    python packaging/render_icons.py

reads ``resources/icons/hicolor/scalable/apps/bitnet-studio.svg`` and writes
``resources/icons/hicolor/<N>x<N>/apps/bitnet-studio.png`` for every size in ``SIZES``: the
freedesktop icon-theme layout, so ``install.sh`` copies the tree as it is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES = (16, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons" / "hicolor"
SVG = ICONS / "scalable" / "apps" / "bitnet-studio.svg"


def render(svg: Path, size: int, out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"error: {svg}: not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"error: {out}: could not write the PNG")


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication(sys.argv[:1])
    for size in SIZES:
        out = ICONS / f"{size}x{size}" / "apps" / "bitnet-studio.png"
        render(SVG, size, out)
        print(f"wrote {out.relative_to(ICONS.parent.parent.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
