"""Teaching records: the user's library of labelled sounds and the quiz score history. No Qt here.

Mixed into :class:`stethodesk.store.store.Store` (uses its ``transaction()``, ``_query()``,
``root`` and ``_remove_files()``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..audio.fileio import AudioFileError, read_audio, scan
from . import db as _db
from .db import StoreError, now
from .files import CopyError, durable_copy, safe_stem, sha256_file, unique_path
from .folders import LIBRARY
from .recordings import MissingAudioError, TamperedAudioError
from .records import LibraryItem, QuizAttempt, row_to_attempt, row_to_library_item


class TeachingMixin:
    """Store methods for ``library_items`` and ``quiz_attempts`` (see the module docstring)."""

    def add_library_item(
        self, source: Path, title: str, domain: str, labels: dict | None = None, description: str = "",
    ) -> LibraryItem:
        """Copy a labelled teaching recording into ``library/`` and record it; a file with damaged
        frames the reader decodes around keeps the reader's sentence as :attr:`LibraryItem.note`.
        Raises :class:`StoreError` with a readable reason."""
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
                    " duration_s, note, created) VALUES (?,?,?,?,?,?,?,?,?)",
                    (title.strip(), domain, json.dumps(labels or {}, sort_keys=True), description,
                     dst.relative_to(self.root).as_posix(), digest, info.seconds, info.note, now()),
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
                 model_answer, now()),
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
