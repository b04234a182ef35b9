"""Fixtures every window test uses; import them into a test module to switch them on.

``isolated_home`` gives each test its own user folder (settings, recordings, database) and
``no_qt_bug_warnings`` fails the test when Qt logged a warning that means a bug
(``stethodesk.gui.testing.bug_messages`` lists the harmless offscreen ones).
"""

from __future__ import annotations

import pytest

from stethodesk.gui.testing import bug_messages


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("STETHODESK_HOME", str(tmp_path / "home"))


@pytest.fixture(autouse=True)
def no_qt_bug_warnings(qtlog):
    yield
    bad = bug_messages(qtlog.records)
    assert not bad, "Qt reported problems:\n" + "\n".join(bad)


def open_main_window(qtbot, **kwargs):
    """A shown main window as at start-up without input or model (``MainWindow`` keyword arguments
    override); closed by the caller (a second one is the app after a restart)."""
    from stethodesk.gui.app import make_app
    from stethodesk.gui.main_window import MainWindow

    from PySide6.QtCore import QRect

    from screens import LAPTOP_SCREEN

    make_app([])
    w = MainWindow(**{"autostart": False, "load_model": False, **kwargs})
    qtbot.addWidget(w)
    w.fit_to(QRect(*LAPTOP_SCREEN))  # the offscreen screen is 800x800: open as on a laptop
    w.show()
    return w
