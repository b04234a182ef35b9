"""Where the store keeps audio files, removing them, and cleaning files no record names. No Qt here.

Mixed into :class:`stethodesk.store.store.Store` (uses its ``root`` and ``_query()``). Layout::

    recordings/patient-<id>/exam-<id>/<site>-<time>.<ext>   (plus the recorder's .json sidecar)
    library/<id>-<title>.<ext>
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from . import db as _db

RECORDINGS = "recordings"
LIBRARY = "library"
ORPHAN_MIN_AGE_S = 120.0  # s: a younger unreferenced file may be mid-import by another process


class FoldersMixin:
    """The store's audio folders (see the module docstring)."""

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
