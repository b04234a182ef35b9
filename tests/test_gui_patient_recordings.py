"""An exam's recordings can be deleted in the Patients tab (issue 12, item 5): Delete key or
button, after a confirmation; the row, its analyses and its audio file go, the store stays whole.

Real store on disk and real CirCor recordings; the confirmation dialog's answer is the only stand-in.
Also (issue 11 item 1): a recording or teaching sound imported from a damaged MP3 (made from a real
recording) shows the reader's note in the Patients list, guided exam, Teaching and Compare tabs.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt

from gui_fixtures import no_qt_bug_warnings  # noqa: F401 (autouse fixture)
from test_workflow_gui_flows import circor_file, env  # noqa: F401 (env: fixture)

from stethodesk.gui.workflow import PatientsTab
from stethodesk.store import site_title


def test_delete_key_removes_an_exam_recording_its_analyses_and_its_file(env, qtbot):
    p = env.store.add_patient("Del")
    e = env.store.add_exam(p.id)
    keep = env.store.add_recording(e.id, circor_file("AV"), "aortic")
    gone = env.store.add_recording(e.id, circor_file("MV"), "mitral")
    env.store.add_analysis(gone.id, "detection", "murmur", findings={"murmur": 0.8}, model_name="m", model_version="1")
    env.store.add_analysis(keep.id, "comparison", "A vs B", findings={}, model_name="m", model_version="1",
                           other_recording_id=gone.id)
    audio = env.store.recording_path(gone)
    tab = PatientsTab(env.store, env.state, env.runner, lambda: None, lambda: None, env.notify)
    qtbot.addWidget(tab)
    tab.show()
    tab.activateWindow()
    qtbot.waitUntil(tab.isActiveWindow, timeout=2000)
    env.state.set_patient(p.id)
    env.state.set_exam(e.id)
    tab.refresh_exam()
    assert tab.recordings.rowCount() == 2 and not tab.delete_rec_btn.isEnabled()
    row = [tab.recordings.item(r, 0).data(Qt.UserRole) for r in range(2)].index(gone.id)
    tab.recordings.selectRow(row)
    assert tab.delete_rec_btn.isEnabled()
    asked = []
    tab.confirm = lambda text: asked.append(text) or False
    tab.recordings.setFocus()
    qtbot.keyClick(tab.recordings, Qt.Key.Key_Delete)
    assert asked and "Mitral" in asked[0] and audio.exists()  # declined: nothing removed

    tab.confirm = lambda text: True
    qtbot.keyClick(tab.recordings, Qt.Key.Key_Delete)
    assert not audio.exists()
    assert [r.id for r in env.store.list_recordings(e.id)] == [keep.id]
    assert tab.recordings.rowCount() == 1
    assert env.store._query("SELECT COUNT(*) FROM analyses WHERE recording_id=? OR other_recording_id=?",
                            (gone.id, gone.id))[0][0] == 0
    assert env.store.integrity_check() == "ok"
    assert env.store.recording_path(keep).exists()


def test_a_recording_imported_from_a_damaged_file_shows_its_note_in_the_list(env, qtbot):
    """Issue 11 item 1: a damaged MP3 (made here from a real recording) imported into an exam says
    at once what was left out, and the exam's recordings list keeps saying it (length cell, tooltip)
    after the store is opened again."""
    from audio_files import damaged_real_mp3
    from stethodesk.audio.fileio import scan
    from stethodesk.store import Store

    mp3 = env.tmp / "phone.mp3"
    damaged_real_mp3(mp3)
    note = scan(mp3).note
    assert "could not be decoded and were left out" in note
    p = env.store.add_patient("Dam")
    e = env.store.add_exam(p.id)
    tab = PatientsTab(env.store, env.state, env.runner, lambda: None, lambda: None, env.notify)
    qtbot.addWidget(tab)
    env.state.set_patient(p.id)
    env.state.set_exam(e.id)
    rid = tab.add_recording(mp3, "mitral")
    assert rid is not None and ("warning", note) in env.messages
    env.store.close()
    env.store = Store(env.store.root)  # a restart: what the list shows comes from the file on disk
    tab = PatientsTab(env.store, env.state, env.runner, lambda: None, lambda: None, env.notify)
    qtbot.addWidget(tab)
    tab.refresh_exam()
    assert tab.recordings.rowCount() == 1
    length = tab.recordings.item(0, 1)
    assert length.text().endswith("s (damaged part left out)") and length.toolTip() == note
    env.store.close()


def test_the_guided_exam_says_what_a_damaged_file_left_out(env, qtbot):
    """The guided exam's 'use the selected recording' path with a damaged MP3: stored with its note,
    and the user is told for which site."""
    from audio_files import damaged_real_mp3
    from stethodesk.gui.workflow import GuidedExamTab

    mp3 = env.tmp / "site.mp3"
    damaged_real_mp3(mp3)
    tab = GuidedExamTab(env.store, env.state, env.runner, lambda: None, None, lambda: mp3, env.notify)
    qtbot.addWidget(tab)
    tab.start_exam("cardiac4")
    qtbot.mouseClick(tab.use_btn, Qt.LeftButton)
    (rec,) = env.store.list_recordings(tab.exam_id)
    assert "could not be decoded and were left out" in rec.note
    assert rec.site == "aortic" and ("warning", f"{site_title('aortic')}: {rec.note}") in env.messages


def test_the_teaching_tab_says_what_a_damaged_import_left_out(env, qtbot):
    """A damaged MP3 imported as a teaching sound: a warning at once, and the note beside the sound."""
    from audio_files import damaged_real_mp3
    from stethodesk.gui.workflow import TeachingTab

    mp3 = env.tmp / "teach.mp3"
    damaged_real_mp3(mp3)
    tab = TeachingTab(env.store, env.runner, lambda: None, env.notify)
    qtbot.addWidget(tab)
    assert tab.import_file(mp3, "Phone heart", "heart", description="from a phone app")
    (item,) = env.store.list_library_items()
    assert "could not be decoded and were left out" in item.note
    assert ("warning", f"Added 'Phone heart' to the library. {item.note}") in env.messages
    mine = next(tab.library.item(i) for i in range(tab.library.count()) if "yours" in tab.library.item(i).text())
    tab.library.setCurrentItem(mine)
    assert "Damaged file: teach.mp3: " in tab.about.text() and "from a phone app" in tab.about.text()


def test_the_compare_tab_names_a_recording_made_from_a_damaged_file(env, qtbot):
    """The Compare tab's recording choices: the one imported from a damaged MP3 says so, its note
    as the tooltip; the whole one does not."""
    from audio_files import damaged_real_mp3
    from stethodesk.gui.workflow import CompareTab

    mp3 = env.tmp / "cmp.mp3"
    damaged_real_mp3(mp3)
    p = env.store.add_patient("Cmp")
    e = env.store.add_exam(p.id)
    hit = env.store.add_recording(e.id, mp3, "mitral")
    whole = env.store.add_recording(e.id, circor_file("AV"), "aortic")
    env.state.set_patient(p.id)
    tab = CompareTab(env.store, env.state, env.runner, lambda: None, env.notify)
    qtbot.addWidget(tab)
    tab.refresh()
    i, j = tab.a.findData(hit.id), tab.a.findData(whole.id)
    assert "damaged part left out" in tab.a.itemText(i) and "damaged" not in tab.a.itemText(j)
    assert tab.a.itemData(i, Qt.ToolTipRole) == hit.note and "could not be decoded" in hit.note
