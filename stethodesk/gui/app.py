"""Entry point of the window: ``run_gui() -> int``."""

from __future__ import annotations

import sys

from stethodesk import __version__

STYLE = "Fusion"  # same look on every desktop; the style sheet adds the colours


def make_app(argv: list[str] | None = None):
    """The QApplication (created once), styled."""
    from PySide6.QtWidgets import QApplication

    from stethodesk.gui.style import STYLE_SHEET

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("StethoDesk")
    app.setOrganizationName("StethoDesk")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("stethodesk")  # the installed menu entry (icon on Wayland)
    app.setStyle(STYLE)
    app.setStyleSheet(STYLE_SHEET)
    return app


def run_gui() -> int:
    """Open the main window and run the event loop; returns the exit code."""
    app = make_app()
    from stethodesk.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    return int(app.exec())
