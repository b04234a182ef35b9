"""The main window at the bedside (issue 12): small screens, stale state, heart or lung decided,
banners and pickers, dark desktops, keyboard and screen-reader basics.

Real parts: the real main window with its workflow tabs (offscreen), real recordings from the
shared data, the real synthesizer as a live source. Screenshots go to ``tests/_out/screenshots``.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSlider,
    QTabBar,
    QTextEdit,
    QWidget,
)

from gui_fixtures import isolated_home, no_qt_bug_warnings  # noqa: F401 (autouse fixtures)
from screens import screenshot_path
from test_gui_window import window  # noqa: F401 (the main window fixture, no input, no model)

# Available screen areas (the screen less a 40 px task bar) and the title bar a window manager adds.
SMALL_SCREENS = {"1366x768": QRect(0, 0, 1366, 728), "1280x720": QRect(0, 0, 1280, 680)}
TITLE_BAR_PX = 32
CONTROL_TYPES = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QSlider, QAbstractItemView,
                 QTextEdit, QTabBar)
LONG_NAME = "auscultation_" + "very_long_patient_and_site_description_" * 4 + "final.wav"


def controls(root: QWidget) -> list[QWidget]:
    """The user-operable widgets under ``root`` that are meant to be seen (not hidden on purpose)."""
    found = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, CONTROL_TYPES) or isinstance(w, QHeaderView) or not w.isVisibleTo(root):
            continue
        if type(w).__module__.startswith("pyqtgraph") or w.objectName().startswith("qt_"):
            continue  # the plots' own internals and Qt's scroll-bar/viewport pieces
        found.append(w)
    return found


def cut_off(window: QWidget, w: QWidget) -> str | None:
    """Why control ``w`` is not fully on the window (None when it is): outside the window,
    clipped by a parent, squeezed below its smallest readable size, or not shown."""
    if not w.isVisible():
        return "not shown"
    top_left = w.mapTo(window, QPoint(0, 0))
    rect = QRect(top_left, w.size())
    if not window.rect().contains(rect):
        return f"outside the window at {rect.getRect()}"
    p = w.parentWidget()
    while p is not None and p is not window:
        if type(p).__name__ == "QScrollArea" or p.objectName() == "qt_scrollarea_viewport":
            return None  # reachable by scrolling
        prect = QRect(p.mapTo(window, QPoint(0, 0)), p.size())
        if not prect.contains(rect):
            return f"clipped by {type(p).__name__} {p.objectName()!r}"
        p = p.parentWidget()
    hint = w.minimumSize() if w.minimumWidth() else w.minimumSizeHint()  # a set minimum is deliberate
    if w.width() < min(hint.width(), 40) or w.height() < min(hint.height(), 16):
        return f"squeezed to {w.width()}x{w.height()} (needs {hint.width()}x{hint.height()})"
    return None


def describe(w: QWidget) -> str:
    text = getattr(w, "text", None)
    label = text() if callable(text) else ""
    return f"{type(w).__name__} {w.objectName() or w.accessibleName() or label!r}"


def settle(qtbot, ms: int = 100) -> None:
    qtbot.wait(ms)


# ---------------------------------------------------------------------------------- 1. small screens
@pytest.mark.parametrize("screen", sorted(SMALL_SCREENS))
def test_every_control_fits_a_small_laptop_screen(window, qtbot, screen):
    avail = SMALL_SCREENS[screen]
    window.analysis_panel.card.show_analysis(full_analysis())  # the tallest card, and banners
    window.analysis_panel.banners.show_message("warning", "A warning about the last analysis. " * 3, "analysis")
    window.banners.show_message("warning", "No audio input was found. " * 4, "devices")
    window.fit_to(avail)
    settle(qtbot)
    room = avail.adjusted(0, 0, 0, -TITLE_BAR_PX)
    assert window.width() <= room.width() and window.height() <= room.height(), window.size()
    hint = window.minimumSizeHint()
    assert hint.width() <= room.width() and hint.height() <= room.height(), hint
    problems = []
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        settle(qtbot, 50)
        page = window.tabs.widget(i)
        assert controls(page), f"no controls found on {window.tabs.tabText(i)}"
        for c in controls(page):
            why = cut_off(window, c)
            if why:
                problems.append(f"{window.tabs.tabText(i)}: {describe(c)} {why}")
        if i == 0:
            window.grab().save(str(screenshot_path(f"small_{screen}_listen.png")))
    assert not problems, "\n".join(problems)


def full_analysis(domain: str = "heart", **changes):
    """An AudioAnalysis with every heart finding called: the tallest findings card there is."""
    from stethodesk.audio.dsp import Quality
    from stethodesk.model.analysis import AudioAnalysis

    findings = {"abnormal": 0.93, "murmur": 0.9, "murmur_timing_systolic": 0.85, "murmur_timing_diastolic": 0.2,
                "lesion_AS": 0.7, "lesion_MR": 0.4, "lesion_MS": 0.1, "lesion_MVP": 0.05, "lesion_N": 0.1,
                "poor_quality": 0.6}
    base = dict(domain=domain, site="AV", findings=findings, heart_rate_bpm=72.0,
                quality=Quality("fair", 0.5, ["noise"], "Some noise in the recording."), usable=True,
                unusable_reason=None, encode_ms=10.0, duration_s=12.0)
    base.update(changes)
    return AudioAnalysis(**base)


def test_the_answer_area_shows_eight_lines_and_grows_with_the_window(window, qtbot):
    view = window.analysis_panel.answer_view
    line = view.fontMetrics().lineSpacing()
    window.analysis_panel.card.show_analysis(full_analysis())  # the card at its tallest
    window.analysis_panel.banners.show_message("warning", "A warning about the last analysis " * 4, "analysis")
    window.banners.show_message("warning", "No audio input was found. " * 4, "devices")
    window.fit_to(SMALL_SCREENS["1280x720"])
    settle(qtbot)
    small = view.viewport().height()
    assert small >= 8 * line, f"{small} px < 8 lines of {line} px"
    window.resize(1600, 1000)
    settle(qtbot)
    assert view.viewport().height() > small + 100


def test_a_long_file_name_does_not_widen_the_window(window, qtbot, tmp_path):
    import shutil

    from stethodesk import paths

    window.fit_to(SMALL_SCREENS["1280x720"])
    settle(qtbot)
    before = window.minimumSizeHint().width()
    src = sorted((paths.shared_data_dir() / "circor2022").rglob("*.flac"))[0]
    long_path = tmp_path / LONG_NAME.replace(".wav", ".flac")
    shutil.copyfile(src, long_path)
    window.review_panel.import_file(long_path)
    qtbot.waitUntil(lambda: window.ctx.selected_recording == long_path, timeout=10000)
    window.analysis_panel.source_combo.setCurrentIndex(1)  # "Selected recording": the hint names it
    qtbot.waitUntil(lambda: window.analysis_panel.compare_combo.count() >= 2, timeout=5000)
    settle(qtbot)
    after = window.minimumSizeHint().width()
    assert after <= before + 4, f"minimum width grew from {before} to {after} px"
    assert window.width() <= SMALL_SCREENS["1280x720"].width()
    window.grab().save(str(screenshot_path("small_1280x720_long_name.png")))
    clipped = [lab.text() for lab in window.findChildren(QLabel) if lab.isVisible() and lab.wordWrap()
               and max((lab.fontMetrics().horizontalAdvance(word) for word in lab.text().split()), default=0)
               > lab.contentsRect().width()]
    assert not clipped, f"words wider than their label (cut off): {clipped}"
    assert not window.review_panel.list.horizontalScrollBar().isVisible()
