"""Compare and teaching tabs play like the Listen tab (issue 12, item 4).

Real store on disk, real CirCor recordings, real Qt offscreen and the real player (silent
without a sound card, the playhead still runs); the engine is the scripted stand-in of
``test_workflow_gui_flows``.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gui_fixtures import no_qt_bug_warnings  # noqa: F401 (autouse fixture)
from screens import screenshot_path
from test_workflow_gui_flows import ScriptedEngine, circor_file, env, wait_jobs  # noqa: F401 (env: fixture)

from stethodesk.gui.workflow import CompareTab, TeachingTab

PLAY_MS = 20000  # ms: preparing playback (filter, stretch) on a busy 2-core machine


def _items(combo):
    return [combo.itemData(i) for i in range(combo.count())]


def _compare_tab(env, qtbot, engine, codes):
    """A compare tab on a new patient with one CirCor recording per valve code (two exams)."""
    p = env.store.add_patient("Cmp")
    exams = [env.store.add_exam(p.id, date=d) for d in ("2026-01-01T09:00", "2026-03-01T09:00")]
    sites = {"MV": "mitral", "AV": "aortic", "TV": "tricuspid"}
    recs = [env.store.add_recording(exams[min(i, 1)].id, circor_file(c), sites[c]) for i, c in enumerate(codes)]
    env.state.set_patient(p.id)
    tab = CompareTab(env.store, env.state, env.runner, lambda: engine, env.notify)
    qtbot.addWidget(tab)
    tab.show()
    return tab, recs


def test_compare_never_pairs_a_recording_with_itself_and_shows_both_findings(env, qtbot):
    tab, (ra, rb, rc) = _compare_tab(env, qtbot, ScriptedEngine(findings={"murmur": 0.9, "abnormal": 0.85}),
                                     ("MV", "AV", "TV"))
    env.store.add_analysis(rb.id, "detection", "S3 heard", findings={"s3": 0.7, "murmur": 0.1},
                           model_name="m", model_version="1")
    tab.refresh()
    for a in (ra.id, rb.id, rc.id):
        tab.a.setCurrentIndex(tab.a.findData(a))
        assert a not in _items(tab.b) and len(_items(tab.b)) == 2
        assert tab.b.currentData() not in (None, a)

    tab.select(ra.id, rb.id)
    assert tab.a.currentData() == ra.id and tab.b.currentData() == rb.id
    assert "not analysed yet" in tab.findings_a.text() and "S3 70%" in tab.findings_b.text()
    tab.compare_btn.click()
    wait_jobs(qtbot, env.runner)
    assert "Murmur 90%" in tab.findings_a.text() and "S3 70%" in tab.findings_b.text()

    # B never analysed alone: its findings as the comparison measured them
    tab.select(ra.id, rc.id)
    assert "not analysed yet" in tab.findings_b.text()
    tab.compare_btn.click()
    wait_jobs(qtbot, env.runner)
    assert "Murmur 90%" in tab.findings_b.text()
    tab.resize(1000, 700)
    qtbot.wait(100)
    tab.grab().save(str(screenshot_path("compare-findings-side-by-side.png")))


def test_compare_plays_each_side_with_a_playhead_one_at_a_time(env, qtbot):
    tab, (ra, rb) = _compare_tab(env, qtbot, None, ("MV", "AV"))
    tab.select(ra.id, rb.id)
    assert [c.speed_combo.itemData(i) for c in (tab.play_a,) for i in range(c.speed_combo.count())] == [1.0, 0.75, 0.5]
    tab.play_a.play(0.5)
    qtbot.waitUntil(lambda: tab.play_a.player.playing and tab.play_a.playhead.isVisible(), timeout=PLAY_MS)
    tab.play_b.play()
    qtbot.waitUntil(lambda: tab.play_b.player.playing, timeout=PLAY_MS)
    assert not tab.play_a.player.playing and not tab.play_a.playhead.isVisible()
    tab.toggle_play()  # Space: stops what plays
    assert not tab.play_b.player.playing and not tab.play_b.playhead.isVisible()


def test_teaching_library_has_play_stop_speed_and_a_playhead(env, qtbot):
    tab = TeachingTab(env.store, env.runner, lambda: None, env.notify)
    qtbot.addWidget(tab)
    tab.show()
    assert tab.library.count() >= 2
    tab.library.setCurrentRow(0)
    c = tab.library_controls
    assert c.play_button.isEnabled() and c.speed_combo.findData(0.5) >= 0
    c.play(0.5)
    qtbot.waitUntil(lambda: c.player.playing and c.playhead.isVisible(), timeout=PLAY_MS)
    qtbot.waitUntil(lambda: c.playhead.value() > 0.05, timeout=5000)
    tab.resize(1200, 720)
    qtbot.wait(100)
    tab.grab().save(str(screenshot_path("teaching-library-player.png")))
    tab.toggle_play()  # Space
    assert not c.player.playing and not c.playhead.isVisible()
    c.play()
    qtbot.waitUntil(lambda: c.player.playing, timeout=PLAY_MS)
    tab.library.setCurrentRow(1)  # another sound: the old one stops, its playhead goes
    assert not c.player.playing and not c.playhead.isVisible()
