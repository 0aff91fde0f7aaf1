"""Render the application icon for the installers into resources/ (run after changing
app/lifeboat/resources/icons/lifeboat.svg, and commit what it writes).

- lifeboat.png: 256 px, the Linux hicolor icon beside the scalable SVG;
- lifeboat.ico: 16-256 px, the Windows executables, setup and uninstaller;
- lifeboat.icns: 16-1024 px, the macOS app bundle.

Qt (already a dependency) renders the SVG; Pillow writes ICO and ICNS, so the builds on
Windows and macOS need neither. Needs `pip install pillow`.
Usage: python packaging/make_app_icons.py
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QBuffer, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "app" / "lifeboat" / "resources" / "icons" / "lifeboat.svg"
OUT = ROOT / "resources"
ICO_SIZES = [16, 24, 32, 48, 64, 128, 256]
ICNS_SIZES = [16, 32, 64, 128, 256, 512, 1024]


def main() -> None:
    app = QGuiApplication.instance() or QGuiApplication(
        ["make_app_icons", "-platform", "offscreen"]
    )
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {SVG}")
    largest = render(renderer, 1024)
    OUT.mkdir(exist_ok=True)
    render(renderer, 256).save(OUT / "lifeboat.png", optimize=True)
    # Each size rendered from the vector, not scaled down from the largest: sharper edges.
    ico = [render(renderer, size) for size in ICO_SIZES]
    ico[-1].save(OUT / "lifeboat.ico", sizes=[(s, s) for s in ICO_SIZES], append_images=ico)
    icns = [render(renderer, size) for size in ICNS_SIZES]
    largest.save(OUT / "lifeboat.icns", append_images=icns)
    del app
    for name in ("lifeboat.png", "lifeboat.ico", "lifeboat.icns"):
        print(f"wrote {OUT / name} ({(OUT / name).stat().st_size} bytes)")


def render(renderer: QSvgRenderer, size: int) -> Image.Image:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGBA")


if __name__ == "__main__":
    main()
