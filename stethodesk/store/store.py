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

This module holds the connection, transactions, patients and exams; the other tables' methods
are mixed in by concern: :mod:`.recordings`, :mod:`.analyses`, :mod:`.teaching` (library and
quiz) and :mod:`.folders` (audio folders and orphan cleaning). Schema and migrations are
:mod:`.schema` and :mod:`.db`.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import db as _db
from .analyses import AnalysesMixin
from .db import StoreError, now
from .folders import LIBRARY, ORPHAN_MIN_AGE_S, RECORDINGS, FoldersMixin
from .recordings import MissingAudioError, RecordingsMixin, TamperedAudioError
from .records import Exam, Patient, row_to_exam, row_to_patient
from .teaching import TeachingMixin

__all__ = ["LIBRARY", "ORPHAN_MIN_AGE_S", "RECORDINGS", "SEXES", "MissingAudioError", "Store", "StoreError",
           "TamperedAudioError", "open_store"]

SEXES = ("female", "male", "other", "unknown")


class Store(RecordingsMixin, AnalysesMixin, TeachingMixin, FoldersMixin):
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
                (name, mrn, age_years, sex, now()),
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
                (patient_id, date or now(), clinician or "", notes or "", protocol),
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


def open_store(root: Path | None = None) -> Store:
    """The app's store in ``paths.user_home()`` (or ``root``)."""
    from ..paths import user_home

    return Store(root or user_home())
