"""Regenerate the workflow and report screenshots in this folder from real recordings.

    QT_QPA_PLATFORM=offscreen python docs/screenshots/workflow_screenshots.py

Uses the installed default model bundle when there is one, else the runtime
tests' dev bundle (random weights: its answers are meaningless and its name,
"stetholm-dev-random", shows in every screenshot). Recordings come from the
shared data folder (CirCor patient 13918, SPRSound patient 40069321); nothing
is copied into the repository. Writes workflow_*.png and report_page1.png.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]
TMP = Path(tempfile.mkdtemp(prefix="stethodesk-shots-"))
os.environ["STETHODESK_HOME"] = str(TMP / "home")

from PySide6.QtWidgets import QApplication, QTabWidget  # noqa: E402

from stethodesk import paths  # noqa: E402
from stethodesk.store import Store  # noqa: E402
from stethodesk.store.analyse import analyse_recording  # noqa: E402

SIZE = (1200, 760)
CIRCOR_PATIENT = "13918"  # murmur present (tricuspid), all four valve areas recorded
SPR_PATIENT = "40069321"
SPR_SITES = {"left_posterior": "posterior_lower_left", "right_posterior": "posterior_lower_right"}


def load_engine():
    from stethodesk.model.bundle import load_bundle
    from stethodesk.model.engine import Engine
    from test_engine_fixture import runtime_bundle_dir

    folder, kind = runtime_bundle_dir(TMP / "bundle")
    print(f"engine: {kind} bundle {folder}")
    return Engine(load_bundle(folder), n_threads=1).load()


def pump(app, runner, timeout_s=600.0):
    t0 = time.time()
    while runner.busy and time.time() - t0 < timeout_s:
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()


def main() -> int:
    app = QApplication(sys.argv)
    engine = load_engine()
    data = paths.shared_data_dir()
    store = Store(TMP / "home")

    # a cardiac exam, analysed by the engine
    p = store.add_patient(f"Demo patient (CirCor {CIRCOR_PATIENT})", "DEMO-001", None, "male")
    e = store.add_exam(p.id, clinician="Demo clinician", protocol="cardiac4",
                       notes="Screenshot demo from a public dataset recording.")
    from stethodesk.audio.dsp import signal_quality
    from stethodesk.audio.fileio import read_audio

    for site, code in (("aortic", "AV"), ("pulmonic", "PV"), ("tricuspid", "TV"), ("mitral", "MV")):
        f = sorted((data / "circor2022").rglob(f"{CIRCOR_PATIENT}_{code}*.flac"))[0]
        x, sr = read_audio(f)
        r = store.add_recording(e.id, f, site, device="CirCor DigiScope", quality=signal_quality(x, sr, "heart"))
        analyse_recording(store, engine, r.id, task="detection", max_tokens=48)

    from stethodesk.gui.workflow import make_tabs

    class Ctx:
        pass

    ctx = Ctx()
    ctx.store, ctx.engine, ctx.selected_recording = store, engine, None
    tabs = make_tabs(ctx)
    tw = QTabWidget()
    for title, w in tabs:
        tw.addTab(w, title)
    tw.resize(*SIZE)
    tw.show()
    patients, guided, compare, teaching = (w for _, w in tabs)
    runner = patients._workflow_runner

    # Patients tab with the exam's map
    patients.refresh_patients()
    patients.patients.setCurrentRow(0)
    patients.exams.setCurrentRow(0)
    patients.recordings.selectRow(2)
    app.processEvents()
    tw.setCurrentWidget(patients)
    app.processEvents()
    tw.grab().save(str(HERE / "workflow_patients_sitemap.png"))
    patients.map.grab().save(str(HERE / "workflow_sitemap.png"))

    # guided lung exam, part-way through, with SPRSound recordings
    guided.choice.setCurrentIndex(guided.choice.findData("lung_posterior"))
    guided.start_exam("lung_posterior")
    rows = [r for r in csv.DictReader(open(data / "sprsound2022" / "recordings.csv")) if r["patient_id"] == SPR_PATIENT]
    by_loc = {r["chest_location"]: data / "sprsound2022" / r["file"] for r in rows}
    for loc in ("left_posterior", "right_posterior", "left_posterior", "right_posterior"):
        guided.accept_recording(by_loc[loc], force=True)
        pump(app, runner)
    tw.setCurrentWidget(guided)
    app.processEvents()
    tw.grab().save(str(HERE / "workflow_guided_exam.png"))

    # compare: the patient's aortic vs mitral recordings
    state = patients._workflow_state
    state.set_patient(p.id)
    compare.refresh()
    recs = store.list_recordings(e.id)
    compare.select(recs[0].id, recs[3].id)
    compare.compare()
    pump(app, runner)
    tw.setCurrentWidget(compare)
    app.processEvents()
    tw.grab().save(str(HERE / "workflow_compare.png"))

    # teaching: a quiz question answered and revealed
    teaching.student.setText("Demo student")
    teaching.n_questions.setValue(5)
    teaching.start_quiz(seed=2)
    q = teaching.quiz.current
    teaching.answer(q.truth)
    pump(app, runner)
    tw.setCurrentWidget(teaching)
    app.processEvents()
    tw.grab().save(str(HERE / "workflow_teaching_quiz.png"))

    # the report, page 1
    from stethodesk.reports import build_exam_report

    pdf = build_exam_report(store, e.id, TMP / "report.pdf")
    subprocess.run(["pdftoppm", "-png", "-r", "90", "-f", "1", "-l", "1", "-singlefile", str(pdf),
                    str(HERE / "report_page1")], check=True)
    print("wrote", sorted(p.name for p in HERE.glob("*.png")))
    runner.shutdown()
    engine.close()
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
