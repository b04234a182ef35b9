"""The workflow tabs offscreen with qtbot: site map, patients, guided exam, compare, quiz.

Real store on disk, real recordings from the shared data, real threads (the job
runner). The Engine is the tabs' neighbour and is replaced by a small scripted
stand-in here (the real engine runs in tests/test_no_network.py).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QColor

from stethodesk import paths
from gui_fixtures import no_qt_bug_warnings  # noqa: F401 (autouse fixture)
from stethodesk.gui.workflow import (
    CompareTab, GuidedExamTab, JobRunner, PatientsTab, SiteMapWidget, TeachingTab, WorkflowState,
)
from stethodesk.gui.workflow.sitemap import FINDING_COLOURS
from stethodesk.store import SITES, Store

CIRCOR_SITES = {"aortic": "AV", "pulmonic": "PV", "tricuspid": "TV", "mitral": "MV"}




def circor_file(code: str) -> Path:
    f = sorted((paths.shared_data_dir() / "circor2022").rglob(f"*_{code}.flac"))
    assert f, f"no CirCor recording at {code}"
    return f[0]


class ScriptedEngine:
    """Stands in for the Engine: fixed findings, a short streamed answer, records its calls."""

    name, version = "scripted-engine", "0.0-test"

    def __init__(self, findings=None, unusable: str | None = None):
        self.findings = findings or {"murmur": 0.9, "abnormal": 0.85}
        self.unusable = unusable
        self.calls = []
        self.threads = set()

    def analyze_audio(self, samples, sr, domain="auto", site=None):
        from stethodesk.audio.dsp import signal_quality

        self.threads.add(threading.current_thread().name)
        self.calls.append(("analyze", len(samples), sr, domain, site))
        return SimpleNamespace(domain=domain, site=site, findings=dict(self.findings), heart_rate_bpm=80.0,
                               quality=signal_quality(samples, sr, domain if domain != "auto" else "heart"),
                               usable=self.unusable is None, unusable_reason=self.unusable, encode_ms=5.0,
                               duration_s=len(samples) / sr)

    def ask(self, analysis, task, question=None, other=None, max_tokens=256):
        self.calls.append(("ask", task, other is not None))
        text = f"{task} answer for {analysis.site}" + (f" vs {other.site}" if other is not None else "")

        class Stream:
            first_token_ms, total_ms, tokens = 1.0, 2.0, 3

            def __iter__(self):
                return iter([w + " " for w in text.split(" ")])

            def close(self):
                pass

        return Stream()


@pytest.fixture()
def env(tmp_path, qtbot):
    store = Store(tmp_path / "home")
    state, runner = WorkflowState(), JobRunner()
    messages = []
    yield SimpleNamespace(store=store, state=state, runner=runner, messages=messages, tmp=tmp_path,
                          notify=lambda level, text: messages.append((level, text)))
    runner.shutdown()
    store.close()


def wait_jobs(qtbot, runner, timeout=20000):
    qtbot.waitUntil(lambda: runner.busy == 0, timeout=timeout)


def test_site_map_click_selects_site_and_colours_status(env, qtbot):
    m = SiteMapWidget()
    qtbot.addWidget(m)
    m.resize(800, 504)
    m.show()
    qtbot.waitExposed(m)
    for key in ("mitral", "aortic", "posterior_lower_left", "lateral_middle_right"):
        p = m.to_widget(SITES[key].x, SITES[key].y)
        with qtbot.waitSignal(m.siteClicked) as sig:
            qtbot.mouseClick(m, Qt.LeftButton, pos=QPoint(int(p.x()), int(p.y())))
        assert sig.args == [key] and m.selected == key
    # a click on the belly selects nothing
    with qtbot.assertNotEmitted(m.siteClicked):
        qtbot.mouseClick(m, Qt.LeftButton, pos=m.to_widget(200, 400).toPoint())
    # recorded + analysed sites are painted in their finding colour
    p = env.store.add_patient("Map")
    e = env.store.add_exam(p.id)
    r = env.store.add_recording(e.id, circor_file("MV"), "mitral", quality={"level": "good", "score": 1, "reason": ""})
    env.store.add_analysis(r.id, "binary", "x", findings={"murmur": 0.95}, model_name="m", model_version="1")
    r2 = env.store.add_recording(e.id, circor_file("AV"), "aortic")
    from stethodesk.gui.workflow import exam_site_status

    m.set_status(exam_site_status(env.store, e.id))
    m.set_selected(None)
    img = m.grab().toImage()
    def colour_at(key):
        c = m.to_widget(SITES[key].x, SITES[key].y)
        return img.pixelColor(int(c.x()), int(c.y())).name()
    assert colour_at("mitral") == QColor(FINDING_COLOURS["strong"]).name()
    assert colour_at("aortic") == QColor(FINDING_COLOURS["none"]).name()
    assert colour_at("tricuspid") not in {QColor(c).name() for c in FINDING_COLOURS.values()}
    assert r2.id != r.id


def test_patients_tab_add_record_report_delete(env, qtbot):
    src = circor_file("MV")
    tab = PatientsTab(env.store, env.state, env.runner, lambda: None, lambda: src, env.notify)
    qtbot.addWidget(tab)
    tab.resize(1200, 760)
    tab.show()
    qtbot.keyClicks(tab.name, "Grace Hopper")
    qtbot.keyClicks(tab.mrn, "MRN-1")
    tab.sex.setCurrentText("female")
    qtbot.mouseClick(tab.add_patient_btn, Qt.LeftButton)
    assert tab.patients.count() == 1 and "Grace Hopper" in tab.patients.item(0).text()
    pid = env.state.patient_id
    assert env.store.get_patient(pid).sex == "female"
    tab.age.setValue(37)
    qtbot.mouseClick(tab.save_patient_btn, Qt.LeftButton)
    assert env.store.get_patient(pid).age_years == 37 and "37 y" in tab.patients.item(0).text()
    assert tab.name.text() == "Grace Hopper"  # the form shows the chosen patient
    qtbot.keyClicks(tab.clinician, "Dr Z")
    qtbot.mouseClick(tab.add_exam_btn, Qt.LeftButton)
    assert tab.exams.count() == 1 and env.state.exam_id is not None
    assert not tab.add_rec_btn.isEnabled()  # no site chosen yet
    p = tab.map.to_widget(SITES["mitral"].x, SITES["mitral"].y)
    qtbot.mouseClick(tab.map, Qt.LeftButton, pos=p.toPoint())
    assert tab.add_rec_btn.isEnabled()
    qtbot.mouseClick(tab.add_rec_btn, Qt.LeftButton)
    assert tab.recordings.rowCount() == 1
    assert tab.recordings.item(0, 0).text() == "Mitral / apex"
    assert tab.recordings.item(0, 2).text() in ("good", "fair", "poor")  # measured quality
    p = tab.map.to_widget(SITES["aortic"].x, SITES["aortic"].y)
    qtbot.mouseClick(tab.map, Qt.LeftButton, pos=p.toPoint())
    assert tab.selected_recording_id() is None  # nothing recorded there
    p = tab.map.to_widget(SITES["mitral"].x, SITES["mitral"].y)
    qtbot.mouseClick(tab.map, Qt.LeftButton, pos=p.toPoint())
    assert tab.selected_recording_id() is not None and tab.analyse_btn.isEnabled()
    (rec,) = env.store.list_recordings(env.state.exam_id)
    assert rec.quality_level is not None and rec.site == "mitral"
    pdf = tab.make_report(env.tmp / "r.pdf")
    assert pdf is not None and pdf.read_bytes()[:5] == b"%PDF-"
    files = [env.store.recording_path(rec)]
    assert files[0].exists()
    # analyse without a model: a clear message, nothing stored
    tab.recordings.selectRow(0)
    qtbot.mouseClick(tab.analyse_btn, Qt.LeftButton)
    assert env.messages[-1][0] == "warning" and "not loaded" in env.messages[-1][1]
    tab.confirm = lambda text: False
    qtbot.mouseClick(tab.delete_patient_btn, Qt.LeftButton)
    assert env.store.list_patients() and files[0].exists()  # declined: nothing removed
    tab.confirm = lambda text: "1 recording" in text
    qtbot.mouseClick(tab.delete_patient_btn, Qt.LeftButton)
    assert env.store.list_patients() == [] and not files[0].exists()
    assert tab.patients.count() == 0 and tab.recordings.rowCount() == 0
    assert src.exists()


def test_guided_exam_records_and_analyses_every_site(env, qtbot):
    engine = ScriptedEngine()
    outbox = env.tmp / "recorder"
    outbox.mkdir()
    asked = []

    def start_recording(site, domain, seconds, filter):
        """Plays the recorder: writes the site's real recording, hands it back later."""
        asked.append((site, domain, seconds, filter))
        dst = outbox / f"{site}.flac"
        shutil.copy(circor_file(CIRCOR_SITES[site]), dst)
        QTimer.singleShot(30, lambda: tab.accept_recording(SimpleNamespace(path=dst, error=None, metadata_path=None)))
        return dst

    tab = GuidedExamTab(env.store, env.state, env.runner, lambda: engine, start_recording, lambda: None, env.notify)
    qtbot.addWidget(tab)
    tab.show()
    tab.choice.setCurrentIndex(tab.choice.findData("cardiac4"))
    qtbot.mouseClick(tab.start_btn, Qt.LeftButton)
    assert tab.exam_id is not None and env.state.patient_id is not None  # anonymous patient made
    assert tab.map.order == ["aortic", "pulmonic", "tricuspid", "mitral"]
    for i, site in enumerate(["aortic", "pulmonic", "tricuspid", "mitral"]):
        assert tab.map.selected == site and f"Step {i + 1} of 4" in tab.current.text()
        qtbot.mouseClick(tab.record_btn, Qt.LeftButton)
        qtbot.waitUntil(lambda: tab.step == i + 1, timeout=5000)
        assert tab.progress.value() == i + 1
    assert tab.finished and [a[0] for a in asked] == ["aortic", "pulmonic", "tricuspid", "mitral"]
    assert [a[3] for a in asked] == ["diaphragm", "diaphragm", "diaphragm", "bell"]  # the protocol's filters
    wait_jobs(qtbot, env.runner)
    qtbot.waitUntil(lambda: tab.step_state == ["analysed"] * 4, timeout=5000)
    assert engine.threads == {"workflow-jobs"}  # never on the GUI thread
    recs = env.store.list_recordings(tab.exam_id)
    assert [r.site for r in recs] == ["aortic", "pulmonic", "tricuspid", "mitral"]
    for r in recs:
        (a,) = env.store.list_analyses(r.id)
        assert a.task == "detection" and a.findings["murmur"] == 0.9 and a.model_name == "scripted-engine"
        assert a.answer.startswith("detection answer for")
    sites_sent = [c[4] for c in engine.calls if c[0] == "analyze"]
    assert sites_sent == ["AV", "PV", "TV", "MV"]
    assert all(st.finding.level == "strong" for st in tab.map.status.values()) and len(tab.map.status) == 4
    assert "Mitral / apex: Murmur 90%, quality" in tab.steps.item(3).text()
    assert env.messages[-1][0] == "success" and "4 of 4" in env.messages[-1][1]
    assert env.store.get_exam(tab.exam_id).protocol == "cardiac4"


def test_guided_exam_skip_back_and_ignores_unrequested_recordings(env, qtbot):
    tab = GuidedExamTab(env.store, env.state, env.runner, lambda: None, None, lambda: circor_file("PV"), env.notify)
    qtbot.addWidget(tab)
    tab.start_exam("lung_posterior")
    assert tab.accept_recording(circor_file("AV")) is None  # nobody asked for it
    qtbot.mouseClick(tab.skip_btn, Qt.LeftButton)
    assert tab.step == 1 and tab.step_state[0] == "skipped"
    qtbot.mouseClick(tab.back_btn, Qt.LeftButton)
    assert tab.step == 0
    qtbot.mouseClick(tab.use_btn, Qt.LeftButton)  # the Listen tab's selected recording
    assert tab.step == 1 and tab.step_state[0] == "recorded"  # no engine: saved, not analysed
    (rec,) = env.store.list_recordings(tab.exam_id)
    assert rec.site == "posterior_upper_left" and rec.domain == "lung"
    assert env.runner.busy == 0


def test_compare_links_axes_and_stores_comparison(env, qtbot):
    engine = ScriptedEngine()
    p = env.store.add_patient("Cmp")
    e1, e2 = env.store.add_exam(p.id, date="2026-01-01T09:00"), env.store.add_exam(p.id, date="2026-03-01T09:00")
    ra = env.store.add_recording(e1.id, circor_file("MV"), "mitral")
    rb = env.store.add_recording(e2.id, circor_file("AV"), "aortic")
    env.state.set_patient(p.id)
    tab = CompareTab(env.store, env.state, env.runner, lambda: engine, env.notify)
    qtbot.addWidget(tab)
    tab.show()
    tab.select(ra.id, rb.id)
    assert tab.plot_a.samples.size > 0 and tab.plot_b.samples.size > 0
    tab.plot_a.setXRange(1.0, 2.0, padding=0)
    xb = tab.plot_b.getViewBox().viewRange()[0]
    assert xb == pytest.approx([1.0, 2.0], abs=1e-6)
    qtbot.mouseClick(tab.compare_btn, Qt.LeftButton)
    wait_jobs(qtbot, env.runner)
    assert tab.answer.toPlainText() == "comparison answer for MV vs AV"
    (an,) = [a for a in env.store.list_analyses(ra.id) if a.task == "comparison"]
    assert an.other_recording_id == rb.id
    assert "Decision support" in tab.info.text()


def test_quiz_flow_reveals_truth_and_model_and_keeps_history(env, qtbot):
    engine = ScriptedEngine(findings={"crackle": 0.7})
    tab = TeachingTab(env.store, env.runner, lambda: engine, env.notify)
    qtbot.addWidget(tab)
    tab.show()
    qtbot.mouseClick(tab.start_btn, Qt.LeftButton)
    assert "student's name" in env.messages[-1][1]  # no name, no quiz
    qtbot.keyClicks(tab.student, "Kim")
    tab.n_questions.setValue(3)
    tab.start_quiz(seed=11)
    assert tab.quiz is not None and len(tab.choice_buttons) == 4
    truths = []
    for i in range(3):
        q = tab.quiz.current
        truths.append(q.truth)
        pick = q.truth if i != 1 else next(c for c in q.choices if c != q.truth)
        button = next(b for b in tab.choice_buttons if b.text() == pick)
        qtbot.mouseClick(button, Qt.LeftButton)
        assert ("Correct." in tab.reveal.text()) == (i != 1)
        assert q.truth in tab.reveal.text()
        wait_jobs(qtbot, env.runner)
        assert tab.model_label.text().startswith("<b>The model says:</b>")
        assert "detection answer" in tab.model_label.text()
        qtbot.mouseClick(tab.next_btn, Qt.LeftButton)
    assert "Quiz finished: 2 of 3 correct" in tab.question.text()
    assert tab.history.rowCount() == 1 and tab.history.item(0, 1).text() == "2"
    attempts = env.store.quiz_attempts("Kim")
    assert [a.truth for a in attempts] == truths and [a.correct for a in attempts] == [True, False, True]
    # import a real labelled recording into the library
    n = tab.library.count()
    assert tab.import_file(circor_file("TV"), "Real paediatric heart (CirCor)", "heart", description="CirCor TV site")
    assert tab.library.count() == n + 1
    item = next(tab.library.item(i) for i in range(tab.library.count()) if "yours" in tab.library.item(i).text())
    tab.library.setCurrentItem(item)
    assert "CirCor TV site" in tab.about.text() and tab.wave.samples.size > 4000


def test_guided_exam_shows_a_recording_the_model_refused(env, qtbot):
    engine = ScriptedEngine(unusable="No skin contact: place the stethoscope firmly.")
    tab = GuidedExamTab(env.store, env.state, env.runner, lambda: engine, None, lambda: circor_file("AV"), env.notify)
    qtbot.addWidget(tab)
    tab.start_exam("cardiac4")
    qtbot.mouseClick(tab.use_btn, Qt.LeftButton)
    wait_jobs(qtbot, env.runner)
    assert tab.step_state[0] == "analysed"
    assert "Aortic: not analysable" in tab.steps.item(0).text()
    assert "No skin contact" in tab.steps.item(0).toolTip()
    assert tab.map.status["aortic"].finding.level == "none"
    assert not [c for c in engine.calls if c[0] == "ask"]  # never asked about an unusable recording


def test_guided_exam_when_the_recording_cannot_start(env, qtbot):
    tab = GuidedExamTab(env.store, env.state, env.runner, lambda: None, lambda site, domain, secs, filt: None,
                        lambda: None, env.notify)
    qtbot.addWidget(tab)
    tab.start_exam("cardiac4")
    qtbot.mouseClick(tab.record_btn, Qt.LeftButton)
    assert not tab.recording_in_progress and "did not start" in tab.status.text()
    assert tab.accept_recording(circor_file("AV")) is None  # a later unrelated recording is not taken
    assert tab.step == 0 and env.store.list_recordings(tab.exam_id) == []


def test_make_tabs_wires_the_app_context(tmp_path, qtbot, monkeypatch):
    """make_tabs with a real AppContext: store in the user folder, recordingSaved feeds the guided exam."""
    monkeypatch.setenv("STETHODESK_HOME", str(tmp_path / "home"))
    from stethodesk.gui.context import AppContext
    from stethodesk.gui.workflow import make_tabs

    ctx = AppContext()
    calls = []
    ctx.start_recording = lambda site, domain, secs, filt: calls.append((site, domain, secs, filt)) or tmp_path / "x.flac"
    tabs = dict(make_tabs(ctx))
    assert set(tabs) == {"Patients", "Guided exam", "Compare", "Teaching"}
    for w in tabs.values():
        qtbot.addWidget(w)
    assert ctx.store.root == tmp_path / "home" and ctx.store.db_path.exists()
    guided = tabs["Guided exam"]
    guided.start_exam("cardiac4")
    qtbot.mouseClick(guided.record_btn, Qt.LeftButton)
    assert calls == [("aortic", "heart", 15.0, "diaphragm")]
    ctx.recordingSaved.emit(SimpleNamespace(path=circor_file("AV"), error=None, metadata_path=None))
    assert guided.step == 1
    (rec,) = ctx.store.list_recordings(guided.exam_id)
    assert rec.site == "aortic"
    guided._workflow_runner.shutdown()
    ctx.store.close()


def test_patients_tab_analyses_the_rest_when_the_model_arrives(env, qtbot):
    p = env.store.add_patient("Later")
    e = env.store.add_exam(p.id)
    done = env.store.add_recording(e.id, circor_file("AV"), "aortic")
    env.store.add_analysis(done.id, "binary", "old", model_name="m", model_version="1")
    todo = [env.store.add_recording(e.id, circor_file(c), s) for c, s in (("PV", "pulmonic"), ("MV", "mitral"))]
    engine = None
    tab = PatientsTab(env.store, env.state, env.runner, lambda: engine, lambda: None, env.notify)
    qtbot.addWidget(tab)
    env.state.set_patient(p.id)
    env.state.set_exam(e.id)
    tab.refresh_exams()
    assert tab.analyse_all_btn.isEnabled() and tab.pending() == [r.id for r in todo]
    assert tab.analyse_pending() == 0 and "not loaded" in env.messages[-1][1]
    engine = ScriptedEngine()
    assert tab.analyse_pending() == 2
    wait_jobs(qtbot, env.runner)
    assert tab.pending() == [] and not tab.analyse_all_btn.isEnabled()
    assert len(env.store.list_analyses(done.id)) == 1  # not analysed twice
    assert tab.recordings.item(2, 3).text() == "Murmur 90%"


def test_a_broken_tab_does_not_take_the_others_down(tmp_path, qtbot, monkeypatch):
    monkeypatch.setenv("STETHODESK_HOME", str(tmp_path / "home"))
    import stethodesk.gui.workflow as wf
    from stethodesk.gui.context import AppContext

    def broken(*a, **k):
        raise ImportError("cannot import name 'render' from 'stethodesk.audio.synth'")

    monkeypatch.setattr(wf, "TeachingTab", broken)
    ctx = AppContext()
    shown = []
    ctx.message.connect(lambda level, text, key: shown.append((level, text)))
    tabs = dict(wf.make_tabs(ctx))
    for w in tabs.values():
        qtbot.addWidget(w)
    assert isinstance(tabs["Patients"], PatientsTab) and isinstance(tabs["Guided exam"], GuidedExamTab)
    assert "could not be opened" in tabs["Teaching"].text() and "render" in tabs["Teaching"].text()
    assert shown and shown[-1][0] == "error"
    tabs["Patients"]._workflow_runner.shutdown()
    ctx.store.close()
