"""Entry point of the window: ``run_gui() -> int``."""

from __future__ import annotations

import sys

from stethodesk import __version__

STYLE = "Fusion"  # same look on every desktop; the style sheet adds the colours


def light_palette():
    """Fusion's light palette with the app's text and accent colours: set under the style sheet
    so a dark desktop palette never puts its dark fields, lists and tabs under our dark text."""
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QStyleFactory

    from stethodesk.gui import style

    pal = QStyleFactory.create(STYLE).standardPalette()
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Active, role, QColor(style.TEXT))
        pal.setColor(QPalette.ColorGroup.Inactive, role, QColor(style.TEXT))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(style.ACCENT))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
    pal.setColor(QPalette.ColorRole.PlaceholderText, QColor(style.MUTED))
    return pal


def make_app(argv: list[str] | None = None):
    """The QApplication (created once), styled: light on any desktop, text at the desktop's
    font size (at least ``style.MIN_FONT_PT``)."""
    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QApplication

    from stethodesk.gui.style import style_sheet

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("StethoDesk")
    app.setOrganizationName("StethoDesk")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("stethodesk")  # the installed menu entry (icon on Wayland)
    app.setStyle(STYLE)
    app.setPalette(light_palette())
    app.setStyleSheet(style_sheet(QFont().pointSizeF()))  # QFont(): the desktop's general font
    return app


def run_gui() -> int:
    """Open the main window and run the event loop; returns the exit code."""
    app = make_app()
    from stethodesk.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    return int(app.exec())
