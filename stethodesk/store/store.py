"""The clinical records: one SQLite file plus the audio files beside it. No Qt here.

Layout of a store's root folder (``paths.user_home()`` in the app)::

    stethodesk.db                 (0600, WAL mode)
    recordings/patient-<id>/exam-<id>/<site>-<time>.flac
    library/<id>-<title>.flac     (teaching sounds imported by the user)

Every write that belongs together (an exam and its recordings, a patient
deletion) is one transaction. Audio files are copied in *before* the row that
names them is committed, and removed only *after* the row's deletion is
committed, so a crash can leave an unreferenced file (cleaned by
:meth:`Store.clean_orphans`) but never a row pointing at a missing file.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..audio.fileio import AudioFileError, read_audio, scan
from . import db as _db
from .db import StoreError
from .files import CopyError, durable_copy, safe_stem, sha256_file, unique_path
from .records import (
    Analysis, Exam, LibraryItem, Patient, QuizAttempt, Recording, clean_points, row_to_analysis,
    row_to_attempt, row_to_exam, row_to_library_item, row_to_patient, row_to_recording,
)
from .sites import domain_of

RECORDINGS = "recordings"
LIBRARY = "library"
ORPHAN_MIN_AGE_S = 120.0  # s: a younger unreferenced file may be mid-import by another process
SEXES = ("female", "male", "other", "unknown")


class TamperedAudioError(StoreError):
    """The audio file no longer matches the checksum saved with it."""


class MissingAudioError(StoreError):
    """The audio file a record names is gone."""


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _quality_fields(quality: Any) -> tuple[str | None, float | None, str]:
    """Accept a dsp.Quality, a dict with level/score/reason, or None."""
    if quality is None:
        return None, None, ""
    if isinstance(quality, dict):
        return quality.get("level"), quality.get("score"), quality.get("reason", "") or ""
    return getattr(quality, "level", None), getattr(quality, "score", None), getattr(quality, "reason", "") or ""


class Store:
    """Records and audio files under ``root``.

    Parameters
    ----------
    root : Path
        The folder holding ``stethodesk.db`` and the audio folders; created 0700.
    clean : bool
        Remove orphaned audio files older than ``ORPHAN_MIN_AGE_S`` on open.

    Thread-safe: one connection guarded by a lock (SQLite serialises writers anyway).
    """

    def __init__(self, root: Path, *, clean: bool = True, migrate: bool = True):
        self.root = _db.secure_dir(Path(root))
        self.db_path = self.root / _db.DB_NAME
        self._lock = threading.RLock()
        self._depth = 0  # nesting level of transaction()
        self._con = _db.connect(self.db_path)
        if migrate:
            _db.migrate(self._con)
        _db.secure_dir(self.root / RECORDINGS)
        if clean:
            self.clean_orphans()

    # ------------------------------------------------------------------ basics
    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return _db.schema_version(self._con)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of writes; nested uses join the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._con
                finally:
                    self._depth -= 1
                return
            self._con.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self._con
            except BaseException:
                self._depth = 0
                self._con.execute("ROLLBACK")
                raise
            self._depth = 0
            self._con.execute("COMMIT")

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._con.execute(sql, args).fetchall()

    def integrity_check(self) -> str:
        """SQLite's own verdict ("ok" when healthy) plus foreign-key violations."""
        with self._lock:
            verdict = self._con.execute("PRAGMA integrity_check").fetchone()[0]
            bad = self._con.execute("PRAGMA foreign_key_check").fetchall()
        return verdict if not bad else f"{verdict}; {len(bad)} foreign-key violation(s)"

    # ---------------------------------------------------------------- patients
    def add_patient(
        self, name: str | None = None, mrn: str | None = None,
        age_years: float | None = None, sex: str | None = None,
    ) -> Patient:
        """Create a patient; every field is optional (anonymous teaching patients)."""
        name, mrn, sex = (name or None), (mrn or None), (sex or None)
        if sex is not None and sex not in SEXES:
            raise StoreError(f"Sex must be one of {', '.join(SEXES)} (got {sex!r}).")
        if age_years is not None and not 0 <= float(age_years) <= 130:
            raise StoreError(f"Age {age_years} is outside 0-130 years.")
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO patients(name, mrn, age_years, sex, created) VALUES (?,?,?,?,?)",
                (name, mrn, age_years, sex, _now()),
            )
            return self.get_patient(cur.lastrowid)

    def update_patient(self, patient_id: int, **fields) -> Patient:
        allowed = {"name", "mrn", "age_years", "sex"}
        unknown = set(fields) - allowed
        if unknown:
            raise StoreError(f"Unknown patient field(s): {', '.join(sorted(unknown))}")
        if fields.get("sex") not in (None, *SEXES):
            raise StoreError(f"Sex must be one of {', '.join(SEXES)}.")
        with self.transaction() as con:
            for key, value in fields.items():
                # empty text means "unknown"; 0 is a real age (newborn)
                value = None if isinstance(value, str) and not value.strip() else value
                con.execute(f"UPDATE patients SET {key}=? WHERE id=?", (value, patient_id))
            return self.get_patient(patient_id)

    def get_patient(self, patient_id: int) -> Patient:
        rows = self._query("SELECT * FROM patients WHERE id=?", (patient_id,))
        if not rows:
            raise StoreError(f"Patient #{patient_id} does not exist (was it deleted?).")
        return row_to_patient(rows[0])

    def list_patients(self, search: str = "") -> list[Patient]:
        """Patients, newest first; ``search`` matches name or MRN (case-insensitive)."""
        like = f"%{search.strip()}%"
        rows = self._query(
            "SELECT * FROM patients WHERE ? = '%%' OR name LIKE ? OR mrn LIKE ? ORDER BY id DESC",
            (like, like, like),
        )
        return [row_to_patient(r) for r in rows]

    def delete_patient(self, patient_id: int) -> list[Path]:
        """Delete a patient, their exams, recordings, analyses, then their audio files.

        The rows go first (one transaction); files are removed after the commit,
        so a crash in between leaves only orphan files that :meth:`clean_orphans`
        removes. Returns the files removed.
        """
        self.get_patient(patient_id)
        files = [
            self.root / r["file"]
            for r in self._query(
                "SELECT r.file FROM recordings r JOIN exams e ON r.exam_id=e.id WHERE e.patient_id=?",
                (patient_id,),
            )
        ]
        with self.transaction() as con:
            con.execute("DELETE FROM patients WHERE id=?", (patient_id,))
        removed = self._remove_files(files)
        folder = self._patient_dir(patient_id, create=False)
        if folder.exists():
            removed += [p for p in folder.rglob("*") if p.is_file()]
            shutil.rmtree(folder, ignore_errors=True)
        return removed

    # ------------------------------------------------------------------- exams
    def add_exam(
        self, patient_id: int, *, date: str | None = None, clinician: str = "",
        notes: str = "", protocol: str | None = None,
    ) -> Exam:
        self.get_patient(patient_id)
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO exams(patient_id, date, clinician, notes, protocol) VALUES (?,?,?,?,?)",
                (patient_id, date or _now(), clinician or "", notes or "", protocol),
            )
            return self.get_exam(cur.lastrowid)

    def get_exam(self, exam_id: int) -> Exam:
        rows = self._query("SELECT * FROM exams WHERE id=?", (exam_id,))
        if not rows:
            raise StoreError(f"Exam #{exam_id} does not exist (was it deleted?).")
        return row_to_exam(rows[0])

    def list_exams(self, patient_id: int) -> list[Exam]:
        rows = self._query("SELECT * FROM exams WHERE patient_id=? ORDER BY date DESC, id DESC", (patient_id,))
        return [row_to_exam(r) for r in rows]

    def update_exam(self, exam_id: int, *, clinician: str | None = None, notes: str | None = None) -> Exam:
        with self.transaction() as con:
            if clinician is not None:
                con.execute("UPDATE exams SET clinician=? WHERE id=?", (clinician, exam_id))
            if notes is not None:
                con.execute("UPDATE exams SET notes=? WHERE id=?", (notes, exam_id))
            return self.get_exam(exam_id)

    def delete_exam(self, exam_id: int) -> list[Path]:
        exam = self.get_exam(exam_id)
        files = [self.root / r.file for r in self.list_recordings(exam_id)]
        with self.transaction() as con:
            con.execute("DELETE FROM exams WHERE id=?", (exam_id,))
        removed = self._remove_files(files)
        shutil.rmtree(self._exam_dir(exam.patient_id, exam_id, create=False), ignore_errors=True)
        return removed

    # -------------------------------------------------------------- recordings
    def add_recording(
        self, exam_id: int, source: Path, site: str, *, domain: str | None = None,
        device: str = "", filter: str = "", quality: Any = None,
    ) -> Recording:
        """Copy the audio file ``source`` into the exam's folder and record it.

        The source file is left where it is (never lose audio). Raises
        :class:`StoreError` with a readable reason for unreadable audio.
        """
        exam = self.get_exam(exam_id)
        source = Path(source)
        try:
            info = scan(source)  # decoded in full: what is stored can be read, at its real length
        except AudioFileError as exc:
            raise StoreError(f"Cannot add the recording: {exc}") from None
        domain = domain or domain_of(site)
        if domain not in ("heart", "lung"):
            raise StoreError(f"Domain must be 'heart' or 'lung' (got {domain!r}).")
        folder = self._exam_dir(exam.patient_id, exam_id)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        dst = unique_path(folder, safe_stem(f"{site}-{stamp}"), source.suffix.lower() or ".flac")
        try:
            durable_copy(source, dst)
        except CopyError as exc:
            raise StoreError(str(exc)) from None
        digest = sha256_file(dst)
        level, score, reason = _quality_fields(quality)
        rel = dst.relative_to(self.root).as_posix()
        try:
            with self.transaction() as con:
                cur = con.execute(
                    "INSERT INTO recordings(exam_id, site, domain, file, sha256, duration_s, samplerate,"
                    " device, filter, quality_level, quality_score, quality_reason, created)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (exam_id, site, domain, rel, digest, info.seconds, info.samplerate, device or "",
                     filter or "", level, score, reason, _now()),
                )
                rec_id = cur.lastrowid
        except BaseException:
            dst.unlink(missing_ok=True)  # our copy only; the source is untouched
            raise
        return self.get_recording(rec_id)

    def set_quality(self, recording_id: int, quality: Any) -> Recording:
        level, score, reason = _quality_fields(quality)
        with self.transaction() as con:
            con.execute(
                "UPDATE recordings SET quality_level=?, quality_score=?, quality_reason=? WHERE id=?",
                (level, score, reason, recording_id),
            )
        return self.get_recording(recording_id)

    def get_recording(self, recording_id: int) -> Recording:
        rows = self._query("SELECT * FROM recordings WHERE id=?", (recording_id,))
        if not rows:
            raise StoreError(f"Recording #{recording_id} does not exist (was it deleted?).")
        return row_to_recording(rows[0])

    def list_recordings(self, exam_id: int) -> list[Recording]:
        rows = self._query("SELECT * FROM recordings WHERE exam_id=? ORDER BY id", (exam_id,))
        return [row_to_recording(r) for r in rows]

    def recordings_of_patient(self, patient_id: int) -> list[Recording]:
        rows = self._query(
            "SELECT r.* FROM recordings r JOIN exams e ON r.exam_id=e.id WHERE e.patient_id=? "
            "ORDER BY e.date, r.id", (patient_id,),
        )
        return [row_to_recording(r) for r in rows]

    def recording_path(self, rec: Recording | int) -> Path:
        rec = rec if isinstance(rec, Recording) else self.get_recording(rec)
        return self.root / rec.file

    def verify_recording(self, rec: Recording | int) -> Path:
        """The recording's file path after checking it exists and matches its sha256.

        Raises :class:`MissingAudioError` or :class:`TamperedAudioError`.
        """
        rec = rec if isinstance(rec, Recording) else self.get_recording(rec)
        path = self.root / rec.file
        if not path.is_file():
            raise MissingAudioError(
                f"The audio of recording #{rec.id} ({rec.site}) is missing: {path} was moved or deleted."
            )
        if sha256_file(path) != rec.sha256:
            raise TamperedAudioError(
                f"The audio of recording #{rec.id} ({rec.site}) has changed since it was saved "
                f"({path.name} no longer matches its checksum). It may have been edited or damaged; "
                "it will not be analysed or exported as the original."
            )
        return path

    def load_audio(self, rec: Recording | int) -> tuple[np.ndarray, int]:
        """Verified samples of a recording: ``(float32 [n], samplerate)``."""
        path = self.verify_recording(rec)
        try:
            return read_audio(path)
        except AudioFileError as exc:
            raise StoreError(str(exc)) from None

    def delete_recording(self, recording_id: int) -> list[Path]:
        rec = self.get_recording(recording_id)
        with self.transaction() as con:
            con.execute("DELETE FROM recordings WHERE id=?", (recording_id,))
        return self._remove_files([self.root / rec.file])

    # ---------------------------------------------------------------- analyses
    def add_analysis(
        self, recording_id: int, task: str, answer: str, *, findings: dict | None = None,
        model_name: str = "", model_version: str = "", question: str | None = None,
        timings: dict | None = None, other_recording_id: int | None = None,
        heart_rate_bpm: float | None = None, grounding: dict | None = None, points: dict | None = None,
    ) -> Analysis:
        """Store a model answer; ``findings`` are probabilities keyed by finding name;
        ``grounding`` how the answer was checked (``Grounding.to_dict()``), stored as JSON;
        ``points`` the operating points the findings were called at (``AudioAnalysis.points``;
        only keys among the findings are kept, None / {} = every finding at 0.5)."""
        timings = timings or {}
        clean = {str(k): float(v) for k, v in (findings or {}).items()}
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO analyses(recording_id, task, question, answer, findings, model_name,"
                " model_version, encode_ms, first_token_ms, total_ms, tokens, other_recording_id,"
                " heart_rate_bpm, grounding, operating_points, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (recording_id, task, question, answer, json.dumps(clean, sort_keys=True),
                 model_name, model_version, timings.get("encode_ms"), timings.get("first_token_ms"),
                 timings.get("total_ms"), timings.get("tokens"), other_recording_id,
                 heart_rate_bpm, None if grounding is None else json.dumps(grounding),
                 json.dumps(clean_points(points, clean), sort_keys=True), _now()),
            )
            return self.get_analysis(cur.lastrowid)

    def get_analysis(self, analysis_id: int) -> Analysis:
        rows = self._query("SELECT * FROM analyses WHERE id=?", (analysis_id,))
        if not rows:
            raise StoreError(f"Analysis #{analysis_id} does not exist.")
        return row_to_analysis(rows[0])

    def list_analyses(self, recording_id: int) -> list[Analysis]:
        rows = self._query("SELECT * FROM analyses WHERE recording_id=? ORDER BY id", (recording_id,))
        return [row_to_analysis(r) for r in rows]

    def _latest(self, recording_id: int, column: str) -> dict:
        rows = self._query(
            f"SELECT {column} FROM analyses WHERE recording_id=? AND findings != '{{}}' ORDER BY id DESC LIMIT 1",
            (recording_id,),
        )
        return json.loads(rows[0][column] or "{}") if rows else {}

    def latest_findings(self, recording_id: int) -> dict[str, float]:
        """Findings of the newest analysis that has any, else {}."""
        return self._latest(recording_id, "findings")

    def latest_points(self, recording_id: int) -> dict[str, float]:
        """The operating points the :meth:`latest_findings` were called at ({}: all at 0.5)."""
        return self._latest(recording_id, "operating_points")

    # ----------------------------------------------------------------- library
    def add_library_item(
        self, source: Path, title: str, domain: str, labels: dict | None = None, description: str = "",
    ) -> LibraryItem:
        """Copy a labelled teaching recording into ``library/`` and record it."""
        if not title.strip():
            raise StoreError("A teaching sound needs a title (what the student should recognise).")
        if domain not in ("heart", "lung"):
            raise StoreError(f"Domain must be 'heart' or 'lung' (got {domain!r}).")
        try:
            info = scan(source)  # decoded in full: what is stored can be read, at its real length
        except AudioFileError as exc:
            raise StoreError(f"Cannot import the teaching sound: {exc}") from None
        folder = _db.secure_dir(self.root / LIBRARY)
        dst = unique_path(folder, safe_stem(title)[:60], Path(source).suffix.lower() or ".flac")
        try:
            durable_copy(Path(source), dst)
        except CopyError as exc:
            raise StoreError(str(exc)) from None
        digest = sha256_file(dst)
        try:
            with self.transaction() as con:
                cur = con.execute(
                    "INSERT INTO library_items(title, domain, labels, description, file, sha256,"
                    " duration_s, created) VALUES (?,?,?,?,?,?,?,?)",
                    (title.strip(), domain, json.dumps(labels or {}, sort_keys=True), description,
                     dst.relative_to(self.root).as_posix(), digest, info.seconds, _now()),
                )
                item_id = cur.lastrowid
        except BaseException:
            dst.unlink(missing_ok=True)
            raise
        return self.get_library_item(item_id)

    def get_library_item(self, item_id: int) -> LibraryItem:
        rows = self._query("SELECT * FROM library_items WHERE id=?", (item_id,))
        if not rows:
            raise StoreError(f"Teaching sound #{item_id} does not exist.")
        return row_to_library_item(rows[0])

    def list_library_items(self) -> list[LibraryItem]:
        return [row_to_library_item(r) for r in self._query("SELECT * FROM library_items ORDER BY title")]

    def delete_library_item(self, item_id: int) -> None:
        item = self.get_library_item(item_id)
        with self.transaction() as con:
            con.execute("DELETE FROM library_items WHERE id=?", (item_id,))
        self._remove_files([self.root / item.file])

    def load_library_audio(self, item: LibraryItem | int) -> tuple[np.ndarray, int]:
        item = item if isinstance(item, LibraryItem) else self.get_library_item(item)
        path = self.root / item.file
        if not path.is_file():
            raise MissingAudioError(f"The teaching sound '{item.title}' is missing: {path}.")
        if sha256_file(path) != item.sha256:
            raise TamperedAudioError(
                f"The teaching sound '{item.title}' has changed since it was imported "
                f"({path.name} no longer matches its checksum)."
            )
        try:
            return read_audio(path)
        except AudioFileError as exc:
            raise StoreError(str(exc)) from None

    # -------------------------------------------------------------------- quiz
    def add_quiz_attempt(
        self, student: str, session: str, item_key: str, answer: str, truth: str,
        correct: bool, model_answer: str | None = None,
    ) -> QuizAttempt:
        if not student.strip():
            raise StoreError("Enter the student's name to keep a score history.")
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO quiz_attempts(student, session, item_key, answer, truth, correct,"
                " model_answer, created) VALUES (?,?,?,?,?,?,?,?)",
                (student.strip(), session, item_key, answer, truth, int(bool(correct)),
                 model_answer, _now()),
            )
            rid = cur.lastrowid
        return row_to_attempt(self._query("SELECT * FROM quiz_attempts WHERE id=?", (rid,))[0])

    def quiz_attempts(self, student: str) -> list[QuizAttempt]:
        rows = self._query("SELECT * FROM quiz_attempts WHERE student=? ORDER BY id", (student.strip(),))
        return [row_to_attempt(r) for r in rows]

    def quiz_history(self, student: str) -> list[dict]:
        """Score per quiz session, oldest first: ``{session, started, answered, correct}``."""
        rows = self._query(
            "SELECT session, MIN(created) AS started, COUNT(*) AS answered, SUM(correct) AS correct "
            "FROM quiz_attempts WHERE student=? GROUP BY session ORDER BY MIN(id)",
            (student.strip(),),
        )
        return [dict(r) for r in rows]

    def students(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT student FROM quiz_attempts ORDER BY student")]

    # ------------------------------------------------------------------- files
    def _patient_dir(self, patient_id: int, create: bool = True) -> Path:
        d = self.root / RECORDINGS / f"patient-{patient_id}"
        return _db.secure_dir(d) if create else d

    def _exam_dir(self, patient_id: int, exam_id: int, create: bool = True) -> Path:
        d = self._patient_dir(patient_id, create) / f"exam-{exam_id}"
        return _db.secure_dir(d) if create else d

    def _remove_files(self, files: list[Path]) -> list[Path]:
        removed = []
        for f in files:
            for p in (f, f.with_suffix(".json")):  # the recorder's sidecar travels with the audio
                try:
                    p.unlink()
                    removed.append(p)
                except FileNotFoundError:
                    pass
        return removed

    def clean_orphans(self, min_age_s: float = ORPHAN_MIN_AGE_S) -> list[Path]:
        """Remove audio in the store's folders that no record names.

        Only the store-managed folders (``recordings/patient-*``, ``library``) are
        touched, and only files older than ``min_age_s`` (another process may be
        between copying a file and committing its row). The recorder's own
        output elsewhere in ``recordings/`` is never touched.
        """
        known = {r[0] for r in self._query("SELECT file FROM recordings")}
        known |= {r[0] for r in self._query("SELECT file FROM library_items")}
        cutoff = time.time() - min_age_s
        removed: list[Path] = []
        managed = list((self.root / RECORDINGS).glob("patient-*"))
        if (self.root / LIBRARY).is_dir():
            managed.append(self.root / LIBRARY)
        for folder in managed:
            for p in folder.rglob("*"):
                if not p.is_file() or p.stat().st_mtime > cutoff:
                    continue
                rel = p.relative_to(self.root).as_posix()
                audio_rel = p.with_suffix("").as_posix()
                if rel in known:
                    continue
                if p.suffix == ".json" and any(
                    (self.root / k).with_suffix("").as_posix() == audio_rel for k in known
                ):
                    continue
                p.unlink(missing_ok=True)
                removed.append(p)
        # empty folders of deleted patients/exams
        for folder in sorted((self.root / RECORDINGS).glob("patient-*/**"), reverse=True) + list(
            (self.root / RECORDINGS).glob("patient-*")
        ):
            if folder.is_dir() and not any(folder.iterdir()) and re.search(r"(patient|exam)-\d+$", folder.name):
                try:
                    folder.rmdir()
                except OSError:
                    pass
        return removed


def open_store(root: Path | None = None) -> Store:
    """The app's store in ``paths.user_home()`` (or ``root``)."""
    from ..paths import user_home

    return Store(root or user_home())
