"""The Listen tab's recordings as in the audio tools people know (issue 12, items 4 and 5).

Real main windows offscreen, real SQLite in an isolated home, real CirCor recordings; the
only stand-ins are the modal dialogs' answers (confirm / name), a unit's neighbour.
"""

from __future__ import annotations

import json
import os
import shutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent

from gui_fixtures import isolated_home, no_qt_bug_warnings, open_main_window  # noqa: F401 (autouse fixtures)
from stethodesk import paths


def _circor(n: int = 2):
    files = sorted((paths.shared_data_dir() / "circor2022").rglob("*.flac"))[:n]
    assert len(files) == n, "the shared CirCor recordings are missing"
    return files


@pytest.fixture
def window(qtbot):
    w = open_main_window(qtbot)
    yield w
    w.close()


def _recorder_file(w, name: str, src):
    """A recording as the recorder leaves it (FLAC + sidecar) in the app's recordings folder."""
    dst = w.ctx.recordings_dir / f"{name}.flac"
    shutil.copyfile(src, dst)
    dst.with_suffix(".json").write_text(json.dumps(
        {"site": "mitral", "domain": "heart", "complete": True, "started": "2026-11-30T10:15:00"}))
    return dst


def _select(w, qtbot, path):
    rv = w.review_panel
    rv.refresh()
    qtbot.waitUntil(lambda: path in rv.recording_paths(), timeout=5000)
    rv.list.setCurrentRow(rv.recording_paths().index(path))
    qtbot.waitUntil(lambda: rv.loaded is not None and rv.loaded.path == path, timeout=5000)


@pytest.fixture
def two_files(window):
    """Two recorder files in the app's recordings folder, oldest first."""
    a, b = _circor(2)
    return _recorder_file(window, "20261130-101500", a), _recorder_file(window, "20261130-102000", b)


def _start_playing(w, qtbot):
    w.review_panel.play()
    qtbot.waitUntil(lambda: w.review_panel.player.playing and w.review_panel.playhead.isVisible(), timeout=20000)


def test_delete_key_removes_the_row_the_file_and_the_selection(window, qtbot, two_files):
    keep, gone = two_files
    rv = window.review_panel
    _select(window, qtbot, gone)
    _start_playing(window, qtbot)
    asked = []
    rv.actions.confirm = lambda text: asked.append(text) or False  # the user says Cancel
    rv.list.setFocus()
    qtbot.keyClick(rv.list, Qt.Key.Key_Delete)
    assert asked and "20261130-102000.flac" in asked[0]
    assert gone.exists() and gone in rv.recording_paths()

    rv.actions.confirm = lambda text: True
    qtbot.keyClick(rv.list, Qt.Key.Key_Delete)
    assert not gone.exists() and not gone.with_suffix(".json").exists()
    assert window.ctx.selected_recording is None and window.ctx.selected_audio is None
    assert not rv.player.playing and not rv.playhead.isVisible()
    assert not rv.play_button.isEnabled()
    qtbot.waitUntil(lambda: gone not in rv.recording_paths(), timeout=5000)
    assert rv.recording_paths() == [keep] and keep.exists()
    ap = window.analysis_panel
    assert all(ap.compare_combo.itemData(i) != str(gone) for i in range(ap.compare_combo.count()))

    window.close()
    again = open_main_window(qtbot)  # a restart
    qtbot.waitUntil(lambda: again.review_panel.recording_paths() == [keep], timeout=5000)
    assert again.ctx.store.integrity_check() == "ok"
    again.close()


def test_imported_file_and_its_name_come_back_after_a_restart(window, qtbot):
    src = _circor(1)[0]
    before = src.read_bytes()
    rv = window.review_panel
    rv.import_file(src)
    qtbot.waitUntil(lambda: window.ctx.selected_recording is not None, timeout=5000)
    copy = window.ctx.selected_recording
    assert copy != src and copy.name == src.name and copy.is_relative_to(window.ctx.recordings_dir)
    qtbot.waitUntil(lambda: copy in rv.recording_paths(), timeout=5000)
    rv.actions.ask_name = lambda current: "Apex, 2nd visit"
    rv.list.setFocus()
    qtbot.keyClick(rv.list, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: rv.list.currentItem() is not None
                    and rv.list.currentItem().text().startswith("Apex, 2nd visit"), timeout=5000)
    window.close()

    again = open_main_window(qtbot)
    rv2 = again.review_panel
    qtbot.waitUntil(lambda: copy in rv2.recording_paths(), timeout=5000)
    row = rv2.recording_paths().index(copy)
    assert rv2.list.item(row).text().startswith("Apex, 2nd visit")
    # the context menu deletes it; the original file is untouched
    rv2.list.setCurrentRow(row)
    qtbot.waitUntil(lambda: again.ctx.selected_recording == copy, timeout=5000)
    rv2.actions.confirm = lambda text: True
    menu = rv2.actions.context_menu()
    (delete,) = [a for a in menu.actions() if a.text().startswith("Delete")]
    delete.trigger()
    qtbot.waitUntil(lambda: copy not in rv2.recording_paths(), timeout=5000)
    assert not copy.exists() and src.read_bytes() == before
    again.close()


def test_playhead_goes_away_on_stop_and_on_switching_files(window, qtbot, two_files):
    first, second = two_files
    rv = window.review_panel
    _select(window, qtbot, first)
    _start_playing(window, qtbot)
    rv.play_button.click()  # Stop
    assert not rv.player.playing and not rv.playhead.isVisible()
    _start_playing(window, qtbot)
    _select(window, qtbot, second)
    assert not rv.player.playing and not rv.playhead.isVisible()


def test_click_seeks_the_wheel_zooms_and_fit_shows_it_all(window, qtbot):
    a = _circor(1)[0]
    path = _recorder_file(window, "20261130-101500", a)
    rv = window.review_panel
    _select(window, qtbot, path)
    qtbot.waitUntil(lambda: rv.curve.getData()[1] is not None and rv.curve.getData()[1].size > 1000, timeout=5000)
    qtbot.wait(100)
    vb = rv.plot.getPlotItem().getViewBox()
    duration = rv.controls.duration
    lo, hi = vb.viewRange()[0]
    assert lo <= 0.1 and hi >= duration - 0.1

    # a click at 40% of the recording: the next Play starts there
    target = 0.4 * duration
    scene = vb.mapViewToScene(QPointF(target, 0.0))
    at = rv.plot.mapFromScene(scene)
    qtbot.mouseClick(rv.plot.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert rv.playhead.isVisible() and abs(rv.playhead.value() - target) < 0.02 * duration
    rv.play()
    qtbot.waitUntil(lambda: rv.player.playing, timeout=20000)
    qtbot.wait(200)
    assert rv.playhead.value() >= target - 0.02 * duration

    # the wheel zooms in on time, Fit shows the whole recording again
    centre = rv.plot.viewport().rect().center()
    wheel = QWheelEvent(QPointF(centre), QPointF(rv.plot.viewport().mapToGlobal(centre)), QPoint(0, 0),
                        QPoint(0, 480), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    rv.plot.wheelEvent(wheel)
    lo, hi = vb.viewRange()[0]
    assert hi - lo < 0.8 * duration
    rv.controls.fit_button.click()
    lo, hi = vb.viewRange()[0]
    assert lo <= 0.1 and hi >= duration - 0.1
    rv.controls.stop()


def test_space_plays_and_stops_but_leaves_buttons_and_text_alone(window, qtbot, two_files):
    first, _ = two_files
    rv = window.review_panel
    _select(window, qtbot, first)
    window.activateWindow()
    rv.list.setFocus()
    qtbot.keyClick(rv.list, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: rv.player.playing and rv.playhead.isVisible(), timeout=20000)
    qtbot.keyClick(rv.list, Qt.Key.Key_Space)
    assert not rv.player.playing and not rv.playhead.isVisible()

    # a focused button is pressed by Space (Fit here), it does not start playback
    rv.controls.fit_button.setFocus()
    with qtbot.waitSignal(rv.controls.fit_button.clicked, timeout=2000):
        qtbot.keyClick(rv.controls.fit_button, Qt.Key.Key_Space)
    assert not rv.controls.playing
    # text fields type a space
    q = window.analysis_panel.question_edit
    q.setFocus()
    qtbot.keyClicks(q, "is it")
    qtbot.keyClick(q, Qt.Key.Key_Space)
    qtbot.keyClicks(q, "normal")
    assert q.text() == "is it normal" and not rv.controls.playing


def test_shortcuts_are_in_the_menus_and_the_help_dialog(window, qtbot):
    from stethodesk.gui import shortcuts

    bar = window.menuBar()
    titles = [a.text().replace("&", "") for a in bar.actions()]
    assert titles == ["File", "Recording", "Analysis", "Help"]
    entries = {a.text().split("\t")[0]: a for m in bar.actions() for a in m.menu().actions()}
    assert entries["Record / stop recording"].shortcut().toString() == "Ctrl+R"
    assert entries["Play / stop\tSpace".split("\t")[0]].text().endswith("\tSpace")
    assert entries["Stop the answer"].shortcut().toString() == "Esc"
    assert entries["Analyse: write a report"].shortcut().toString() == "Ctrl+Return"

    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    dlg = window._shortcuts_dialog
    assert dlg.isVisible()
    rows = {r[0]: r[1] for r in dlg.rows()}
    assert rows["Recording: Play / stop"] == "Space or Ctrl+P"
    assert rows["Recording: Record / stop recording"] == "Ctrl+R"
    assert rows["Analysis: Stop the answer"] == "Esc"
    assert rows["Analysis: Analyse: write a report"] == "Ctrl+Return"
    assert rows["Recording: Delete the selected recording\u2026"] == "Del"
    assert len(rows) == len(shortcuts.window_shortcuts(window))
    dlg.grab().save(str(_shot("shortcuts-dialog.png")))
    dlg.close()

    # Ctrl+Return asks for an analysis (no model in this window: it says so instead of failing)
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert any("loading" in b.text.lower() or "model" in b.text.lower()
               for b in window.analysis_panel.banners.banners())


def _shot(name):
    from screens import screenshot_path

    return screenshot_path(name)


def test_rename_and_delete_buttons_follow_the_selection(window, qtbot, two_files):
    first, _ = two_files
    rv = window.review_panel
    rv.refresh()
    qtbot.waitUntil(lambda: first in rv.recording_paths(), timeout=5000)
    assert not rv.actions.delete_button.isEnabled()  # nothing selected yet
    rv.import_file(_circor(1)[0])  # selected by the app, with the list's signals blocked
    qtbot.waitUntil(lambda: window.ctx.selected_recording in rv.recording_paths()
                    and rv.list.currentItem() is not None, timeout=5000)
    assert rv.actions.delete_button.isEnabled() and rv.actions.rename_button.isEnabled()


def test_compare_with_never_offers_the_selected_recording(window, qtbot, two_files):
    first, second = two_files
    combo = window.analysis_panel.compare_combo

    def offered():
        return [combo.itemData(i) for i in range(1, combo.count())]

    _select(window, qtbot, first)
    qtbot.waitUntil(lambda: offered() == [str(second)], timeout=5000)
    combo.setCurrentIndex(1)
    _select(window, qtbot, second)
    assert offered() == [str(first)]
    assert combo.currentData() is None  # the old choice is now the selection itself: none chosen
