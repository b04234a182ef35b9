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


def open_window_with_engine(qtbot, tmp_path, timeout_ms: int = 180_000):
    """(window, engine): a shown main window with the real engine loaded (one thread) on the
    installed default bundle, else the runtime tests' dev bundle (``runtime_bundle_dir``; the
    first load may assemble the base GGUF into the cache, hence the long ``timeout_ms``)."""
    from stethodesk.model.bundle import load_bundle
    from stethodesk.model.engine import Engine
    from test_engine_fixture import runtime_bundle_dir

    folder, kind = runtime_bundle_dir(tmp_path / "bundle")
    print(f"window with the {kind} bundle {folder}")
    w = open_main_window(qtbot, load_model=True, engine_factory=lambda: Engine(load_bundle(folder), n_threads=1))
    with qtbot.waitSignal(w.ctx.engineReady, timeout=timeout_ms) as ready:
        pass
    return w, ready.args[0]
