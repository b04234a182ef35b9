"""SQLite schema of the clinical records, as an ordered list of migrations. No Qt here.

Each migration is ``(version, description, sql)``. A database records the
highest version applied in ``schema_version``; opening an older database
applies the missing migrations in order, each in its own transaction, so a
crash during an upgrade leaves the file at the previous version (SQLite DDL is
transactional).

Never edit a shipped migration: add a new one.
"""

from __future__ import annotations

# v1: the first shipped layout (patients, exams, recordings, analyses).
V1 = """
CREATE TABLE patients (
    id INTEGER PRIMARY KEY,
    name TEXT,                  -- optional: anonymous patients are allowed
    mrn TEXT,                   -- medical record number, optional
    age_years REAL,
    sex TEXT CHECK (sex IN ('female', 'male', 'other', 'unknown') OR sex IS NULL),
    created TEXT NOT NULL
);
CREATE TABLE exams (
    id INTEGER PRIMARY KEY,
    patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
    date TEXT NOT NULL,         -- ISO-8601 local date-time of the exam
    clinician TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT ''
);
CREATE INDEX exams_patient ON exams(patient_id);
CREATE TABLE recordings (
    id INTEGER PRIMARY KEY,
    exam_id INTEGER NOT NULL REFERENCES exams(id) ON DELETE CASCADE,
    site TEXT NOT NULL,         -- a key of stethodesk.store.sites.SITES
    domain TEXT NOT NULL CHECK (domain IN ('heart', 'lung')),
    file TEXT NOT NULL UNIQUE,  -- path relative to the store's root folder
    sha256 TEXT NOT NULL,
    duration_s REAL NOT NULL,
    device TEXT NOT NULL DEFAULT '',
    filter TEXT NOT NULL DEFAULT '',
    quality_level TEXT,         -- good | fair | poor, NULL when not measured
    quality_score REAL,
    created TEXT NOT NULL
);
CREATE INDEX recordings_exam ON recordings(exam_id);
CREATE TABLE analyses (
    id INTEGER PRIMARY KEY,
    recording_id INTEGER NOT NULL REFERENCES recordings(id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    question TEXT,
    answer TEXT NOT NULL,
    findings TEXT NOT NULL DEFAULT '{}',   -- JSON object: finding -> probability
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    encode_ms REAL,
    total_ms REAL,
    created TEXT NOT NULL
);
CREATE INDEX analyses_recording ON analyses(recording_id);
"""

# v2: exam protocol, richer recording/analysis facts, comparison analyses, teaching mode.
V2 = """
ALTER TABLE exams ADD COLUMN protocol TEXT;
ALTER TABLE recordings ADD COLUMN samplerate INTEGER;
ALTER TABLE recordings ADD COLUMN quality_reason TEXT NOT NULL DEFAULT '';
ALTER TABLE analyses ADD COLUMN other_recording_id INTEGER REFERENCES recordings(id) ON DELETE CASCADE;
ALTER TABLE analyses ADD COLUMN first_token_ms REAL;
ALTER TABLE analyses ADD COLUMN tokens INTEGER;
ALTER TABLE analyses ADD COLUMN heart_rate_bpm REAL;
CREATE TABLE library_items (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    domain TEXT NOT NULL CHECK (domain IN ('heart', 'lung')),
    labels TEXT NOT NULL DEFAULT '{}',     -- JSON object, e.g. {"diagnosis": "aortic stenosis"}
    description TEXT NOT NULL DEFAULT '',
    file TEXT NOT NULL UNIQUE,             -- relative to the store's root folder
    sha256 TEXT NOT NULL,
    duration_s REAL NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE quiz_attempts (
    id INTEGER PRIMARY KEY,
    student TEXT NOT NULL,
    session TEXT NOT NULL,                 -- one quiz run; groups the score history
    item_key TEXT NOT NULL,                -- "synth:<name>" or "user:<id>"
    answer TEXT NOT NULL,
    truth TEXT NOT NULL,
    correct INTEGER NOT NULL CHECK (correct IN (0, 1)),
    model_answer TEXT,
    created TEXT NOT NULL
);
CREATE INDEX quiz_student ON quiz_attempts(student, created);
"""

# v3: the Listen tab's recordings list (stethodesk.store.shelf): imported copies that come back
# after a restart and the names the user gave to recordings.
V3 = """
CREATE TABLE listen_entries (
    file TEXT PRIMARY KEY,      -- relative to the store's root folder (recordings/...)
    title TEXT NOT NULL DEFAULT '',  -- the user's name for it; '' = the automatic description
    original TEXT,              -- imported: the file it was copied from; NULL for the recorder's own
    sha256 TEXT,                -- imported: checksum of the copy (the same file imported twice is one entry)
    created TEXT NOT NULL
);
"""

# v4: nothing the user asks is lost (issue 10): how each stored answer was checked against the
# findings, whole-exam answers with the exam findings they were given, and the Listen tab's runs
# on recordings that belong to no patient (stethodesk.store.history).
V4 = """
ALTER TABLE analyses ADD COLUMN grounding TEXT;   -- JSON: {"source", "violations"}; NULL = not recorded
CREATE TABLE exam_analyses (
    id INTEGER PRIMARY KEY,
    exam_id INTEGER NOT NULL REFERENCES exams(id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    question TEXT,
    answer TEXT NOT NULL,
    answer_source TEXT NOT NULL DEFAULT '',       -- which path produced the answer (exam template / model)
    grounding TEXT,                               -- JSON: the check against the exam findings
    exam_findings TEXT NOT NULL DEFAULT '{}',     -- JSON snapshot of stethodesk.model.exam.ExamFindings
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX exam_analyses_exam ON exam_analyses(exam_id);
CREATE TABLE listen_analyses (
    id INTEGER PRIMARY KEY,
    file TEXT NOT NULL,         -- relative to the store root when inside it, else absolute; '' = live input
    task TEXT NOT NULL,
    question TEXT,
    answer TEXT NOT NULL,
    grounding TEXT,             -- JSON, as in analyses
    findings TEXT NOT NULL DEFAULT '{}',
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    first_token_ms REAL,
    total_ms REAL,
    tokens INTEGER,
    created TEXT NOT NULL
);
CREATE INDEX listen_analyses_file ON listen_analyses(file);
"""

# v5: each stored analysis keeps the operating points its findings were called at (issue 9: the
# bundle's per-finding ``call_at``), so a reopened recording shows the calls it was analysed with;
# '{}' (every analysis stored before) means each finding is called at 0.5.
V5 = """
ALTER TABLE analyses ADD COLUMN operating_points TEXT NOT NULL DEFAULT '{}';         -- JSON: finding -> point
ALTER TABLE listen_analyses ADD COLUMN operating_points TEXT NOT NULL DEFAULT '{}';
"""

# v6: a recording imported from a file with damaged frames (issue 11 item 1: the reader decodes around
# them and leaves them out) keeps the reader's sentence saying so, shown wherever the recording is
# (patient view, PDF, export); '' (every recording stored before) = no damage was reported.
V6 = """
ALTER TABLE recordings ADD COLUMN note TEXT NOT NULL DEFAULT '';  -- what the reader left out of the file
"""

# v7: the same for a teaching sound imported into the library (a damaged file plays, and is quizzed,
# without its damaged frames: the note says so in the Teaching tab).
V7 = """
ALTER TABLE library_items ADD COLUMN note TEXT NOT NULL DEFAULT '';  -- as recordings.note
"""

MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "patients, exams, recordings, analyses", V1),
    (2, "protocols, comparison analyses, recording sample rate, teaching library and quiz", V2),
    (3, "recordings list: imported copies and user-given names", V3),
    (4, "answer grounding, whole-exam answers, Listen-tab answers", V4),
    (5, "the operating points each analysis was called at", V5),
    (6, "the reader's note on damaged frames left out of a recording", V6),
    (7, "the reader's note on damaged frames left out of a teaching sound", V7),
]

LATEST_VERSION = MIGRATIONS[-1][0]
