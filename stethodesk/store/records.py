"""Plain record types returned by the store. No Qt here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Patient:
    id: int
    name: str | None
    mrn: str | None
    age_years: float | None
    sex: str | None
    created: str

    @property
    def display(self) -> str:
        """What a list shows: the name, else the MRN, else an anonymous number."""
        return self.name or (f"MRN {self.mrn}" if self.mrn else f"Patient #{self.id}")


@dataclass(frozen=True)
class Exam:
    id: int
    patient_id: int
    date: str
    clinician: str
    notes: str
    protocol: str | None


@dataclass(frozen=True)
class Recording:
    id: int
    exam_id: int
    site: str
    domain: str
    file: str  # relative to the store root
    sha256: str
    duration_s: float
    samplerate: int | None
    device: str
    filter: str
    quality_level: str | None
    quality_score: float | None
    quality_reason: str
    created: str
    # the reader's sentence when damaged frames of the imported file could not be decoded and were
    # left out (names the file, how much was left out and read); "" for a whole file
    note: str = ""


@dataclass(frozen=True)
class Analysis:
    id: int
    recording_id: int
    task: str
    question: str | None
    answer: str
    findings: dict[str, float]
    model_name: str
    model_version: str
    timings: dict[str, float] = field(default_factory=dict)
    other_recording_id: int | None = None
    heart_rate_bpm: float | None = None
    created: str = ""
    grounding: dict | None = None  # how the answer was checked ({"source", "violations"}); None = not recorded
    # the operating points the findings were called at (finding -> point); {} = all at 0.5
    points: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class LibraryItem:
    id: int
    title: str
    domain: str
    labels: dict
    description: str
    file: str
    sha256: str
    duration_s: float
    created: str
    note: str = ""  # as Recording.note: damaged frames of the imported file left out ("" = none)


@dataclass(frozen=True)
class QuizAttempt:
    id: int
    student: str
    session: str
    item_key: str
    answer: str
    truth: str
    correct: bool
    model_answer: str | None
    created: str


def clean_points(points: dict | None, findings: dict) -> dict[str, float]:
    """Operating points to store beside ``findings``: those of its keys, as floats in (0, 1).
    Raises ValueError for a point outside (0, 1) (it would call every or no finding)."""
    out = {str(k): float(v) for k, v in (points or {}).items() if k in findings}
    bad = {k: v for k, v in out.items() if not 0.0 < v < 1.0}
    if bad:
        raise ValueError(f"operating points must lie in (0, 1), not {bad}")
    return out


# the file name the reader's damage note starts with (``fileio.damage_note``: "<name>: N damaged frames (...")
_NOTE_FILE_NAME = re.compile(r"^.*: (?=\d+ damaged frames? \()", re.S)


def note_without_file_name(note: str) -> str:
    """A recording's damage ``note`` for an anonymised report or export: the imported file's name
    (which may name the patient) replaced by "The imported file"; "" stays ""."""
    return _NOTE_FILE_NAME.sub("The imported file: ", note, count=1) if note else ""


def row_to_patient(r) -> Patient:
    return Patient(r["id"], r["name"], r["mrn"], r["age_years"], r["sex"], r["created"])


def row_to_exam(r) -> Exam:
    return Exam(r["id"], r["patient_id"], r["date"], r["clinician"], r["notes"], r["protocol"])


def row_to_recording(r) -> Recording:
    return Recording(
        r["id"], r["exam_id"], r["site"], r["domain"], r["file"], r["sha256"], r["duration_s"],
        r["samplerate"], r["device"], r["filter"], r["quality_level"], r["quality_score"],
        r["quality_reason"], r["created"], r["note"] if "note" in r.keys() else "",
    )


def row_to_analysis(r) -> Analysis:
    timings = {
        k: r[k] for k in ("encode_ms", "first_token_ms", "total_ms", "tokens") if r[k] is not None
    }
    return Analysis(
        r["id"], r["recording_id"], r["task"], r["question"], r["answer"],
        json.loads(r["findings"] or "{}"), r["model_name"], r["model_version"], timings,
        r["other_recording_id"], r["heart_rate_bpm"], r["created"],
        json.loads(r["grounding"]) if "grounding" in r.keys() and r["grounding"] else None,
        json.loads(r["operating_points"] or "{}") if "operating_points" in r.keys() else {},
    )


def row_to_library_item(r) -> LibraryItem:
    return LibraryItem(
        r["id"], r["title"], r["domain"], json.loads(r["labels"] or "{}"), r["description"],
        r["file"], r["sha256"], r["duration_s"], r["created"], r["note"] if "note" in r.keys() else "",
    )


def row_to_attempt(r) -> QuizAttempt:
    return QuizAttempt(
        r["id"], r["student"], r["session"], r["item_key"], r["answer"], r["truth"],
        bool(r["correct"]), r["model_answer"], r["created"],
    )
