"""Opening the SQLite file safely and bringing its schema up to date. No Qt here.

Why these settings:
- WAL journal: readers never block the writer, and a process killed mid-write
  leaves the last committed state (the WAL is replayed or ignored on open).
- synchronous=FULL: a committed exam survives a power cut too, not only a crash.
  The cost (one fsync per commit) is invisible at clinical write rates.
- foreign_keys=ON: deleting a patient cascades to exams/recordings/analyses.
- The file is created 0600 and its folder 0700 before SQLite touches it;
  SQLite creates the -wal/-shm files with the database file's permissions.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import datetime
from pathlib import Path

from stethodesk.paths import private_dir

from .schema import LATEST_VERSION, MIGRATIONS

DB_NAME = "stethodesk.db"
BUSY_TIMEOUT_S = 10.0  # s: how long a writer waits for another process's lock
FILE_MODE = 0o600
DIR_MODE = 0o700


class StoreError(Exception):
    """A records problem with a user-facing message in ``str(err)``."""


def now() -> str:
    """The ``created`` time of a row: local ISO-8601 with its UTC offset, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def secure_dir(path: Path) -> Path:
    """Create ``path`` (and parents, all 0700: :func:`stethodesk.paths.private_dir`) and make
    it user-only (0700) even when it existed."""
    private_dir(path)
    if stat.S_IMODE(path.stat().st_mode) != DIR_MODE:
        os.chmod(path, DIR_MODE)
    return path


def _create_private_file(path: Path) -> None:
    # O_EXCL so we never chmod a file someone else made; an existing file keeps its mode
    # unless it is readable by others, which we tighten.
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        os.close(fd)
    except FileExistsError:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, FILE_MODE)


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the database at ``path`` with the app's pragmas.

    The connection is in autocommit mode (``isolation_level=None``): callers
    open transactions explicitly with ``BEGIN IMMEDIATE``.
    """
    secure_dir(path.parent)
    _create_private_file(path)
    try:
        con = sqlite3.connect(
            str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA foreign_keys = ON")
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"{path}: the database could not switch to WAL mode (got {mode}).")
        con.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{path}: is not a StethoDesk database or is damaged ({exc}). "
            "Move it aside and restart to begin a new one."
        ) from None
    return con


def schema_version(con: sqlite3.Connection) -> int:
    """The highest migration applied (0 for an empty database)."""
    has = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
    ).fetchone()
    if not has:
        return 0
    row = con.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(con: sqlite3.Connection, target: int = LATEST_VERSION) -> list[int]:
    """Apply every migration above the current version up to ``target``, in order.

    Each migration runs in its own transaction together with its
    ``schema_version`` row, so an interrupted upgrade leaves the previous
    version intact. Returns the versions applied.
    """
    current = schema_version(con)
    if current > LATEST_VERSION:
        raise StoreError(
            f"The database was written by a newer StethoDesk (schema v{current}; this version "
            f"understands up to v{LATEST_VERSION}). Update the app to open it."
        )
    applied = []
    for version, description, sql in MIGRATIONS:
        if version <= current or version > target:
            continue
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied TEXT NOT NULL)"
            )
            # executescript would COMMIT first; run statement by statement inside our transaction
            for statement in _split_sql(sql):
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_version(version, description, applied) "
                "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                (version, description),
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        applied.append(version)
    return applied


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (the scripts hold no ';' inside strings)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
