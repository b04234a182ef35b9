"""The guided exam while a site records (issue 12, item 6): live trace, countdown and Stop stay
in view, and the protocol's filter is applied and written into the recording's metadata.

A real main window offscreen with the real simulated stethoscope streaming in real time,
the real recorder writing FLAC and the real SQLite store.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from gui_fixtures import isolated_home, no_qt_bug_warnings, open_main_window  # noqa: F401 (autouse fixtures)
from screens import screenshot_path


def test_guided_recording_shows_trace_countdown_and_stop_and_applies_the_protocol_filter(qtbot):
    w = open_main_window(qtbot)
    try:
        w.set_filter("bell")  # what the user had chosen before the exam
        w.start_source({"kind": "synth", "name": "normal_heart"})
        titles = [w.tabs.tabText(i) for i in range(w.tabs.count())]
        guided = w.tabs.widget(titles.index("Guided exam"))
        w.tabs.setCurrentWidget(guided)
        guided.start_exam("cardiac4")  # step 1: aortic, 15 s, diaphragm
        guided.record_btn.click()
        view = guided.recording_view
        assert w.record_panel.is_recording and guided.recording_in_progress
        assert view.isVisible() and view.stop_button.isVisible() and view.stop_button.isEnabled()
        assert not guided.record_btn.isEnabled() and guided.skip_btn.isEnabled()
        assert "diaphragm filter" in view.countdown.text() and "15 s left" in view.countdown.text()
        # the filter is really switched: the buttons, the live view and the settings the recorder reads
        assert w.source_panel.current_filter() == "diaphragm" and w.live_view.mode == "diaphragm"
        qtbot.waitUntil(lambda: view.curve.getData()[1] is not None and view.curve.getData()[1].size > 1000,
                        timeout=5000)
        qtbot.waitUntil(lambda: "13 s left" in view.countdown.text(), timeout=5000)  # it counts down
        w.grab().save(str(screenshot_path("guided-exam-recording.png")))

        with qtbot.waitSignal(w.ctx.recordingSaved, timeout=10000) as saved:
            view.stop_button.click()
        path = saved.args[0].path
        assert json.loads(path.with_suffix(".json").read_text())["filter"] == "diaphragm"
        qtbot.waitUntil(lambda: guided.step == 1, timeout=5000)
        (rec,) = w.ctx.store.list_recordings(guided.exam_id)
        assert rec.site == "aortic" and rec.filter == "diaphragm"
        assert 1.5 < rec.duration_s < 10  # stopped early, kept for the site
        assert not view.isVisible() and not w.record_panel.is_recording and guided.record_btn.isEnabled()
        w.tabs.setCurrentIndex(0)  # the Listen tab shows the filter the exam chose
        assert w.source_panel.filter_buttons["diaphragm"].isChecked()
    finally:
        w.close()
