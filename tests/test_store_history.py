"""Nothing asked is lost: whole-exam and Listen-tab answers in a real SQLite store, across a
restart, in the patient's history and on the PDF's exam summary page (real CirCor exam, real
engine and llama.cpp, PDF rendered with poppler)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from stethodesk.paths import shared_data_dir
from stethodesk.reports import build_exam_report
from stethodesk.store import Shelf, Store
from stethodesk.store.analyse import analyse_recording
from stethodesk.store.exam_analyse import analyse_exam, stored_exam_findings
from stethodesk.store.history import listen_answers, patient_history, save_listen_answer

pytestmark = pytest.mark.llm

PATIENT = "85198"  # CirCor test split: murmur Present, most audible at AV
SITES = {"AV": "aortic", "PV": "pulmonic", "TV": "tricuspid", "MV": "mitral"}


@pytest.fixture(scope="module")
def engine():
    from stethodesk.model.engine import Engine

    e = Engine(n_threads=1).load()
    yield e
    e.close()


def _exam(root):
    s = Store(root)
    p = s.add_patient("Ada Exam", "MRN-EXAM-1", 9, "female")
    e = s.add_exam(p.id, clinician="Dr Site", protocol="cardiac4")
    folder = shared_data_dir() / "circor2022" / "training_data"
    recs = [s.add_recording(e.id, folder / f"{PATIENT}_{code}.flac", key) for code, key in SITES.items()]
    return s, p, e, recs


def test_exam_answer_survives_restart_and_reaches_history_and_pdf(tmp_path, engine):
    root = tmp_path / "home"
    s, p, e, recs = _exam(root)
    for r in recs:  # the per-site analyses, each stored with how its answer was checked
        a = analyse_recording(s, engine, r.id, "detection", max_tokens=24)
        assert a.grounding and a.grounding["source"] in ("model", "template", "model+findings", "facts")
    stored = analyse_exam(s, engine, e.id, "differential", max_tokens=48)
    assert stored.kind == "exam" and "most audible at the aortic area" in stored.answer
    assert stored.answer_source in ("exam template", "model (checked against the exam findings)")
    assert stored.exam_findings["most_audible_site"] == "AV" and stored.model_name == engine.name
    s.close()

    s = Store(root)  # a restart: everything is read back from the SQLite file
    hist = patient_history(s, p.id)
    assert [h.kind for h in hist].count("recording") == 4 and [h.kind for h in hist].count("exam") == 1
    ex_row = next(h for h in hist if h.kind == "exam")
    assert ex_row.answer == stored.answer and ex_row.grounding["checked_against"] == "exam findings"
    assert ex_row.findings["murmur"] == pytest.approx(stored.exam_findings["murmur"])
    assert all(h.grounding for h in hist)
    ex = stored_exam_findings(s, e.id, "heart")
    assert ex.most_audible_site == "AV" and ex.murmur_call == "present"

    pdf = build_exam_report(s, e.id, tmp_path / "report.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for needle in ("Exam summary (all sites)", "Most audible at the aortic area", "Answers about the whole exam",
                   "most audible at the aortic area", stored.answer_source):
        assert needle in text, needle
    pages = text.split("\f")
    summary = next(i for i, pg in enumerate(pages) if "Exam summary (all sites)" in pg)
    assert "Ada Exam" not in pages[summary] or summary == 0  # the summary starts its own page
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", str(summary + 1), "-l", str(summary + 1), str(pdf),
                    str(tmp_path / "summary")], check=True)
    img = np.asarray(Image.open(next(tmp_path.glob("summary*.png"))).convert("L"))
    assert (img < 128).mean() > 0.005  # the page has text on it, rendered
    s.close()


def test_listen_answers_are_kept_with_their_recording(tmp_path):
    root = tmp_path / "home"
    s, p, e, recs = _exam(root)
    shelf = Shelf(s)
    shelf.folder.mkdir(parents=True, exist_ok=True)
    loose = shelf.folder / "bedside.flac"
    shutil.copy(shared_data_dir() / "circor2022" / "training_data" / f"{PATIENT}_MV.flac", loose)
    g = {"source": "model", "violations": []}
    a = save_listen_answer(s, loose, "question", "A systolic murmur is called.", question="Any murmur?",
                           grounding=g, findings={"murmur": 0.9}, model_name="m", model_version="1",
                           timings={"first_token_ms": 120.0, "total_ms": 900.0, "tokens": 12})
    assert a.kind == "listen" and a.file == "recordings/bedside.flac"
    # the Listen tab on a file that is a stored patient recording: the patient's history gets it
    b = save_listen_answer(s, s.recording_path(recs[0]), "binary", "Abnormal.", grounding=g,
                           findings={"murmur": 0.95}, model_name="m", model_version="1")
    assert b.kind == "recording" and b.recording_id == recs[0].id
    live = save_listen_answer(s, None, "report", "Live report.", model_name="m", model_version="1")
    s.close()

    s = Store(root)
    (got,) = listen_answers(s, loose)
    assert (got.question, got.answer, got.grounding, got.findings) == ("Any murmur?", "A systolic murmur is called.",
                                                                      g, {"murmur": 0.9})
    assert got.created and got.model_name == "m"
    assert [h.answer for h in patient_history(s, p.id)] == ["Abnormal."]
    assert [x.id for x in listen_answers(s, None)] == [live.id]
    Shelf(s).delete(loose)  # deleting the recording deletes its answers, not another file's
    assert listen_answers(s, loose) == [] and len(listen_answers(s, None)) == 1
    s.close()
