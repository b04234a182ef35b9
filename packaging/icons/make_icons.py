"""Render the icon SVG to the PNG (Linux, macOS via PyInstaller) and ICO (Windows) files.

Run from the checkout with the project venv (PySide6 + Pillow):

    QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/icons/make_icons.py

The outputs are committed, so a build never needs this script.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
PNG_SIZE = 256  # px, the largest size desktop environments ask for from a .desktop icon
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


def main() -> None:
    from PIL import Image
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication([])  # noqa: F841 - QImage painting needs an application object
    renderer = QSvgRenderer(str(HERE / "stethodesk.svg"))
    image = QImage(PNG_SIZE, PNG_SIZE, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    renderer.render(painter)
    painter.end()
    png = HERE / "stethodesk.png"
    image.save(str(png))
    Image.open(png).save(HERE / "stethodesk.ico", sizes=ICO_SIZES)
    print(f"wrote {png} and {HERE / 'stethodesk.ico'}")


if __name__ == "__main__":
    main()
