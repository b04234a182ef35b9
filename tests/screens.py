"""Where GUI tests save the screenshots they take.

Tests write to ``tests/_out/screenshots`` (ignored by git) so a test run never edits tracked
files; ``STETHODESK_SCREENSHOTS=docs/screenshots`` refreshes the README's pictures.
"""

from __future__ import annotations

import os
from pathlib import Path

from stethodesk import paths


# The free area of a 1366x768 laptop screen less a 40 px task bar: GUI tests (and the README's
# pictures) open the main window in it, as MainWindow.fit_to does with a real screen.
LAPTOP_SCREEN = (0, 0, 1366, 728)


def screenshot_path(name: str) -> Path:
    folder = Path(os.environ.get("STETHODESK_SCREENSHOTS") or paths.REPO_ROOT / "tests" / "_out" / "screenshots")
    if not folder.is_absolute():
        folder = paths.REPO_ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name
