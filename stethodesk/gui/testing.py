"""Helpers for the GUI tests (pytest-qt, offscreen): which Qt messages are bugs.

Qt's offscreen platform prints a few harmless notes; everything else at warning
level or above (bad connections, painter errors, wrong thread use, layout
conflicts) points at a bug and fails the test.
"""

from __future__ import annotations

# Harmless on the offscreen/minimal platforms used by CI.
BENIGN = (
    "This plugin does not support propagateSizeHints()",
    "This plugin does not support raise()",
    "This plugin does not support grabbing the keyboard",
    "Could not connect to any X display",
    "QStandardPaths: XDG_RUNTIME_DIR",
)
BUG_LEVELS = ("WARNING", "CRITICAL", "FATAL", "SYSTEM")


def bug_messages(records) -> list[str]:
    """Messages among pytest-qt ``qtlog.records`` that indicate a bug."""
    bad = []
    for r in records:
        level = str(getattr(r, "log_type_name", "")).upper()
        if level not in BUG_LEVELS:
            continue
        if any(b in r.message for b in BENIGN):
            continue
        bad.append(f"{level}: {r.message}")
    return bad
