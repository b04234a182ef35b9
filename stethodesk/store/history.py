"""Everything a user asks, kept: whole-exam answers, Listen-tab answers, a patient's history. No Qt.

Three kinds of stored answer (schema v4, :mod:`stethodesk.store.schema`):

- an answer about one stored patient recording: the ``analyses`` table (``Store.add_analysis``),
  now with its ``grounding`` (how it was checked against the findings);
- an answer about a whole exam: ``exam_analyses`` (:func:`save_exam_answer`), with the snapshot of
  the exam findings it was given and which path produced it (exam template / model);
- an answer in the Listen tab about a file that belongs to no patient (or the live input):
  ``listen_analyses`` keyed by the file (:func:`save_listen_answer`). A Listen-tab answer about a
  file that *is* a stored patient recording goes to ``analyses`` instead, so it appears in that
  patient's history.

:func:`patient_history` lists a patient's stored answers of both patient kinds, oldest first.
Every row carries task, question, answer, grounding, findings snapshot, timestamp and the model
bundle (name and version). All of it is in the SQLite file, so it survives a restart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .records import Analysis, clean_points


@dataclass(frozen=True)
class StoredAnswer:
    """One stored answer, whatever it was about.

    ``kind``: "recording" (``analyses``), "exam" (``exam_analyses``) or "listen"
    (``listen_analyses``); ``about``: the recording's site, "whole exam" or the file's name;
    ``findings``: probabilities (the exam's patient-level ones for an exam answer);
    ``exam_findings``: the full exam snapshot (exam answers only); ``points``: the operating
    points the findings were called at ({} = all at 0.5; an exam answer's calls are in its snapshot).
    """

    kind: str
    id: int
    about: str
    task: str
    question: str | None
    answer: str
    grounding: dict | None
    findings: dict
    model_name: str
    model_version: str
    created: str
    answer_source: str = ""
    exam_id: int | None = None
    recording_id: int | None = None
    file: str | None = None
    exam_findings: dict = field(default_factory=dict)
    points: dict = field(default_factory=dict)


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def _json(v) -> str | None:
    return None if v is None else json.dumps(v, sort_keys=True)


def _load(v) -> dict | None:
    return json.loads(v) if v else None


def _key(store, path: str | Path | None) -> str:
    """Row key of a file: relative to the store root when inside it, else absolute; '' = live input."""
    if path is None or str(path) == "":
        return ""
    p = Path(path).absolute()
    try:
        return p.relative_to(Path(store.root).absolute()).as_posix()
    except ValueError:
        return p.as_posix()


def save_exam_answer(store, exam_id: int, task: str, answer: str, *, question: str | None = None,
                     answer_source: str = "", grounding: dict | None = None, exam_findings: dict | None = None,
                     model_name: str = "", model_version: str = "") -> StoredAnswer:
    """Store an answer about the whole exam ``exam_id`` (raises StoreError for an unknown exam)."""
    store.get_exam(exam_id)
    with store.transaction() as con:
        cur = con.execute(
            "INSERT INTO exam_analyses(exam_id, task, question, answer, answer_source, grounding, exam_findings,"
            " model_name, model_version, created) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (exam_id, task, question, answer, answer_source, _json(grounding), json.dumps(exam_findings or {}),
             model_name, model_version, _now()))
        row_id = cur.lastrowid
    return next(a for a in exam_answers(store, exam_id) if a.id == row_id)


def exam_answers(store, exam_id: int) -> list[StoredAnswer]:
    """The whole-exam answers of ``exam_id``, oldest first."""
    out = []
    for r in store._query("SELECT * FROM exam_analyses WHERE exam_id=? ORDER BY id", (exam_id,)):
        snap = json.loads(r["exam_findings"] or "{}")
        probs = {k: snap[k] for k in ("abnormal", "murmur") if snap.get(k) is not None}
        out.append(StoredAnswer("exam", r["id"], "whole exam", r["task"], r["question"], r["answer"],
                                _load(r["grounding"]), probs, r["model_name"], r["model_version"], r["created"],
                                answer_source=r["answer_source"], exam_id=r["exam_id"], exam_findings=snap))
    return out


def recording_of_file(store, path: str | Path | None) -> int | None:
    """The id of the stored patient recording kept at ``path``, else None."""
    key = _key(store, path)
    rows = store._query("SELECT id FROM recordings WHERE file=?", (key,)) if key else []
    return rows[0]["id"] if rows else None


def save_listen_answer(store, path: str | Path | None, task: str, answer: str, *, question: str | None = None,
                       grounding: dict | None = None, findings: dict | None = None, model_name: str = "",
                       model_version: str = "", timings: dict | None = None,
                       heart_rate_bpm: float | None = None, points: dict | None = None) -> StoredAnswer:
    """Store a Listen-tab answer about ``path`` (None / "" = the live input).

    A file that is a stored patient recording gets an ``analyses`` row (its patient's history);
    any other file a ``listen_analyses`` row keyed by the file. ``points``: the operating points the
    findings were called at (``AudioAnalysis.points``).
    """
    t = timings or {}
    clean = {str(k): float(v) for k, v in (findings or {}).items()}
    rec_id = recording_of_file(store, path)
    if rec_id is not None:
        a = store.add_analysis(rec_id, task, answer, findings=clean, model_name=model_name,
                               model_version=model_version, question=question, timings=t,
                               heart_rate_bpm=heart_rate_bpm, grounding=grounding, points=points)
        return _from_analysis(store, a)
    key = _key(store, path)
    with store.transaction() as con:
        cur = con.execute(
            "INSERT INTO listen_analyses(file, task, question, answer, grounding, findings, operating_points,"
            " model_name, model_version, first_token_ms, total_ms, tokens, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (key, task, question, answer, _json(grounding), json.dumps(clean, sort_keys=True),
             json.dumps(clean_points(points, clean), sort_keys=True), model_name,
             model_version, t.get("first_token_ms"), t.get("total_ms"), t.get("tokens"), _now()))
        row_id = cur.lastrowid
    return next(a for a in listen_answers(store, path) if a.id == row_id)


def listen_answers(store, path: str | Path | None) -> list[StoredAnswer]:
    """Stored answers about ``path`` asked in the Listen tab, oldest first (a patient recording's
    come from ``analyses``)."""
    rec_id = recording_of_file(store, path)
    if rec_id is not None:
        return [_from_analysis(store, a) for a in store.list_analyses(rec_id)]
    key = _key(store, path)
    return [StoredAnswer("listen", r["id"], Path(key).name if key else "live input", r["task"], r["question"],
                         r["answer"], _load(r["grounding"]), json.loads(r["findings"] or "{}"), r["model_name"],
                         r["model_version"], r["created"], file=key, points=json.loads(r["operating_points"] or "{}"))
            for r in store._query("SELECT * FROM listen_analyses WHERE file=? ORDER BY id", (key,))]


def forget_listen_answers(store, path: str | Path) -> int:
    """Delete the Listen-tab answers about ``path`` (its file was deleted); returns how many."""
    with store.transaction() as con:
        return con.execute("DELETE FROM listen_analyses WHERE file=?", (_key(store, path),)).rowcount


def _from_analysis(store, a: Analysis) -> StoredAnswer:
    rec = store.get_recording(a.recording_id)
    from .sites import site_title

    return StoredAnswer("recording", a.id, site_title(rec.site), a.task, a.question, a.answer, a.grounding,
                        dict(a.findings), a.model_name, a.model_version, a.created, exam_id=rec.exam_id,
                        recording_id=rec.id, file=rec.file, points=dict(a.points))


def patient_history(store, patient_id: int) -> list[StoredAnswer]:
    """Every stored answer about the patient's recordings and exams, oldest first."""
    out = []
    for exam in store.list_exams(patient_id):
        for rec in store.list_recordings(exam.id):
            out += [_from_analysis(store, a) for a in store.list_analyses(rec.id)]
        out += exam_answers(store, exam.id)
    return sorted(out, key=lambda a: (a.created, a.kind != "recording", a.id))
