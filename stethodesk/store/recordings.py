"""The recordings of an exam: the audio file copied into the store, its row, its checks. No Qt here.

Mixed into :class:`stethodesk.store.store.Store`, whose ``transaction()``, ``_query()``, ``root``,
``get_exam()`` and folder helpers (:mod:`stethodesk.store.folders`) it uses. An audio file is copied
in *before* the row that names it is committed (a crash leaves at most an orphan file).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..audio.fileio import AudioFileError, read_audio, scan
from .db import StoreError, now
from .files import CopyError, durable_copy, safe_stem, sha256_file, unique_path
from .records import Recording, row_to_recording
from .sites import domain_of


class TamperedAudioError(StoreError):
    """The audio file no longer matches the checksum saved with it."""


class MissingAudioError(StoreError):
    """The audio file a record names is gone."""


def _quality_fields(quality: Any) -> tuple[str | None, float | None, str]:
    """Accept a dsp.Quality, a dict with level/score/reason, or None."""
    if quality is None:
        return None, None, ""
    if isinstance(quality, dict):
        return quality.get("level"), quality.get("score"), quality.get("reason", "") or ""
    return getattr(quality, "level", None), getattr(quality, "score", None), getattr(quality, "reason", "") or ""



class RecordingsMixin:
    """Store methods for the ``recordings`` table (see the module docstring)."""

    def add_recording(
        self, exam_id: int, source: Path, site: str, *, domain: str | None = None,
        device: str = "", filter: str = "", quality: Any = None,
    ) -> Recording:
        """Copy the audio file ``source`` into the exam's folder and record it.

        The source file is left where it is (never lose audio). Raises
        :class:`StoreError` with a readable reason for unreadable audio. A file with damaged frames
        the reader decodes around is stored as it is, at the length that can be read, and the
        reader's sentence about it is kept as :attr:`Recording.note`.
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
                    " device, filter, quality_level, quality_score, quality_reason, note, created)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (exam_id, site, domain, rel, digest, info.seconds, info.samplerate, device or "",
                     filter or "", level, score, reason, info.note, now()),
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
