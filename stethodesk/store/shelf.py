"""The Listen tab's recordings list: the recorder's own files and imported copies. No Qt here.

Files live in the recordings folder (``<store root>/recordings`` in the app):

- the recorder writes ``<name>.flac`` with its metadata sidecar ``<name>.json`` at the top level;
- an import copies the chosen file into ``recordings/imported/`` (the original is never touched,
  so deleting the entry later removes only the app's copy).

The ``listen_entries`` table (schema v3) remembers the imported copies, so they are listed
again after a restart, and the name the user gave to any entry. Deleting an entry removes
its row first (one transaction) and then its audio file and sidecar, like the rest of the
store: a crash in between leaves a file without a row, never a row without its file
(:meth:`Shelf.forget_missing` drops rows whose file was removed behind the app's back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .db import StoreError, secure_dir
from .files import CopyError, durable_copy, sha256_file, unique_path

IMPORTED = "imported"  # sub-folder of the recordings folder holding imported copies
MAX_TITLE = 120  # characters of a user-given name


@dataclass(frozen=True)
class ListenEntry:
    """One row of the recordings list.

    ``path``: the audio file; ``title``: the user's name for it ('' = none given);
    ``original``: for an imported copy, the file it was copied from, else None.
    """

    path: Path
    title: str = ""
    original: str | None = None

    @property
    def imported(self) -> bool:
        return self.original is not None


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


class Shelf:
    """The recordings list of ``folder``, with its names and imports kept in ``store``'s database.

    Parameters
    ----------
    store : stethodesk.store.Store
        Supplies the SQLite connection (its ``transaction()``) and the root that keys are relative to.
    folder : Path, optional
        The recordings folder (default ``store.root / "recordings"``).
    """

    def __init__(self, store, folder: Path | None = None):
        self.store = store
        self.folder = Path(folder) if folder is not None else store.root / "recordings"

    # ------------------------------------------------------------------ keys
    def _key(self, path: Path) -> str:
        """The row key of ``path``: relative to the store root when inside it, else absolute."""
        p = Path(path).absolute()
        try:
            return p.relative_to(self.store.root.absolute()).as_posix()
        except ValueError:
            return p.as_posix()

    def _path(self, key: str) -> Path:
        p = Path(key)
        return p if p.is_absolute() else self.store.root / p

    def _mine(self, path: Path) -> bool:
        """True for a file of the recordings folder (top level or the imported copies)."""
        p = Path(path).absolute()
        folder = self.folder.absolute()
        return p.parent == folder or p.parent == folder / IMPORTED

    def _row(self, path: Path):
        rows = self.store._query("SELECT * FROM listen_entries WHERE file=?", (self._key(path),))
        return rows[0] if rows else None

    # ------------------------------------------------------------------ listing
    def entries(self) -> list[ListenEntry]:
        """Imported copies (newest first), then the recorder's FLAC files (newest first)."""
        rows = self.store._query("SELECT * FROM listen_entries ORDER BY created DESC, rowid DESC")
        titles = {r["file"]: r["title"] for r in rows}
        out = [
            ListenEntry(self._path(r["file"]), r["title"], r["original"])
            for r in rows
            if r["original"] is not None and self._path(r["file"]).is_file()
        ]
        files = []
        for p in self.folder.glob("*.flac"):
            try:
                files.append((p.stat().st_mtime, p))
            except FileNotFoundError:  # removed while listing
                continue
        for _, p in sorted(files, reverse=True):
            out.append(ListenEntry(p, titles.get(self._key(p), "")))
        return out

    def entry(self, path: Path) -> ListenEntry:
        """The entry of ``path`` (a file never renamed or imported has no row and no title)."""
        r = self._row(path)
        return ListenEntry(Path(path), r["title"], r["original"]) if r else ListenEntry(Path(path))

    def forget_missing(self) -> list[Path]:
        """Drop rows whose audio file is gone; returns the paths they named."""
        rows = self.store._query("SELECT file FROM listen_entries")
        gone = [r["file"] for r in rows if not self._path(r["file"]).is_file()]
        if gone:
            with self.store.transaction() as con:
                con.executemany("DELETE FROM listen_entries WHERE file=?", [(k,) for k in gone])
        return [self._path(k) for k in gone]

    # ------------------------------------------------------------------ import
    def import_copy(self, source: Path) -> Path:
        """Copy ``source`` into ``recordings/imported/`` and list it; returns the copy's path.

        The copy keeps the original's file name (``name-2.wav`` when taken). Importing a
        file whose bytes are already imported returns the existing copy. The original is
        left untouched. Raises :class:`StoreError` when the file cannot be read or copied.
        """
        source = Path(source)
        if not source.is_file():
            raise StoreError(f"{source} is not a file that can be imported (was it moved or deleted?).")
        try:
            digest = sha256_file(source)
        except OSError as exc:
            raise StoreError(f"Cannot read {source.name}: {exc.strerror or exc}") from None
        for r in self.store._query("SELECT * FROM listen_entries WHERE sha256=?", (digest,)):
            if self._path(r["file"]).is_file():
                return self._path(r["file"])
        folder = secure_dir(self.folder / IMPORTED)
        dst = unique_path(folder, source.stem or "imported", source.suffix)
        try:
            durable_copy(source, dst)
        except CopyError as exc:
            raise StoreError(str(exc)) from None
        try:
            with self.store.transaction() as con:
                con.execute(
                    "INSERT OR REPLACE INTO listen_entries(file, title, original, sha256, created)"
                    " VALUES (?,?,?,?,?)",
                    (self._key(dst), "", str(source.absolute()), digest, _now()),
                )
        except BaseException:
            dst.unlink(missing_ok=True)  # our copy only
            raise
        return dst

    # ------------------------------------------------------------------ rename / delete
    def rename(self, path: Path, title: str) -> ListenEntry:
        """Give the entry of ``path`` the name ``title`` ('' returns to the automatic description).

        Only the name shown in the list changes; the file keeps its name, so analyses and
        exams that refer to it stay valid. Whitespace runs become one space; at most
        :data:`MAX_TITLE` characters. Raises :class:`StoreError` for a file that is not in
        the recordings folder or no longer exists.
        """
        path = Path(path)
        if not self._mine(path):
            raise StoreError(f"{path.name} is not one of the recordings in {self.folder}; it cannot be renamed here.")
        if not path.is_file():
            raise StoreError(f"{path.name} no longer exists (was it deleted?).")
        clean = re.sub(r"\s+", " ", title or "").strip()
        if len(clean) > MAX_TITLE:
            raise StoreError(f"A name can have at most {MAX_TITLE} characters (this one has {len(clean)}).")
        key = self._key(path)
        with self.store.transaction() as con:
            updated = con.execute("UPDATE listen_entries SET title=? WHERE file=?", (clean, key)).rowcount
            if not updated and clean:
                con.execute(
                    "INSERT INTO listen_entries(file, title, original, sha256, created) VALUES (?,?,NULL,NULL,?)",
                    (key, clean, _now()),
                )
            elif updated and not clean:
                # a recorder file with no name left needs no row; an imported copy keeps its row
                con.execute("DELETE FROM listen_entries WHERE file=? AND original IS NULL", (key,))
        return self.entry(path)

    def delete(self, path: Path) -> list[Path]:
        """Remove the entry of ``path``: its row, then its audio file and metadata sidecar.

        Only files of the recordings folder are deleted (an imported entry's original
        elsewhere is never touched). Returns the files removed. Raises :class:`StoreError`
        for a path outside the recordings folder.
        """
        path = Path(path)
        if not self._mine(path):
            raise StoreError(f"{path.name} is not one of the recordings in {self.folder}; nothing was deleted.")
        if not path.exists() and self._row(path) is None:
            raise StoreError(f"{path.name} was already deleted.")
        with self.store.transaction() as con:
            con.execute("DELETE FROM listen_entries WHERE file=?", (self._key(path),))
            con.execute("DELETE FROM listen_analyses WHERE file=?", (self._key(path),))  # its answers go with it
        if path.absolute().parent == self.folder.absolute():
            return self.store._remove_files([path])  # with the recorder's metadata sidecar
        path.unlink(missing_ok=True)
        note = path.with_suffix(".json")  # the channel chosen at import, when one was
        if note.is_file():
            note.unlink()
            return [path, note]
        return [path]
