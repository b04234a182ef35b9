"""Entry point of the frozen StethoDesk build (PyInstaller runs this file).

It is ``stethodesk.cli.entry`` plus two things only a frozen build needs:

- ``multiprocessing.freeze_support()``: a frozen executable re-launched as a worker must not
  open the window again (torch and the standard library can start helpers).
- ``STETHODESK_SMOKE_QUIT_S`` (seconds, float): for the packaging smoke test. The window is
  opened as usual; after that many seconds the names of the visible top-level windows are
  printed as ``smoke: window ...`` lines and the application quits with its normal exit code.
  The test scans the output for import errors and missing files. The GUI itself has no such
  switch, so it lives here rather than in ``stethodesk/gui``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

SMOKE_ENV = "STETHODESK_SMOKE_QUIT_S"


def _arm_smoke_quit(seconds: float) -> None:
    """Create the QApplication early and schedule the report-and-quit."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from stethodesk.gui.app import make_app

    app = make_app()

    def report_and_quit() -> None:
        shown = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
        for w in shown:
            print(f"smoke: window {type(w).__name__} title={w.windowTitle()!r} "
                  f"size={w.width()}x{w.height()}", flush=True)
        print(f"smoke: {len(shown)} visible window(s), quitting", flush=True)
        app.quit()

    QTimer.singleShot(int(seconds * 1000), report_and_quit)


def main() -> None:
    from stethodesk.cli import entry

    argv = sys.argv[1:]
    smoke = os.environ.get(SMOKE_ENV)
    if smoke and not argv:  # only the window mode; subcommands quit by themselves
        _arm_smoke_quit(float(smoke))
    entry(argv)  # exits, with os._exit when PortAudio holds a vanished device


if __name__ == "__main__":
    multiprocessing.freeze_support()
    main()
