"""Files that hold patient data, written user-only: the recording's sidecar JSON (it carries the
clinician's free-text notes) and the FLAC that crash recovery rewrites. No Qt here.

Every such file is created with mode 0600, whatever the umask (a umask can only take bits away
from 0600), like the database (0600 in a 0700 folder); issue 11 item 11 found the sidecar at 0644
(0666 under umask 000) and a recovered FLAC going from 0600 to 0644.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE_MODE = 0o600
JSON_RESERVE = 4096  # bytes: the sidecar is padded to this so it can be rewritten in place on a full disk


def create_private(path: Path) -> None:
    """Create ``path`` empty (or truncate it) with mode 0600, so whatever writes it next by name
    (libsndfile) writes into a user-only file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an older file of that name keeps its mode through O_CREAT
    finally:
        os.close(fd)


def json_bytes(data: dict) -> bytes:
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    return text.encode().ljust(JSON_RESERVE, b" ")  # trailing spaces are valid JSON whitespace


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` as JSON (mode 0600) via a temp file and rename; on a full disk overwrite in place.

    The in-place fallback needs no new disk blocks because the existing file
    was padded to ``JSON_RESERVE`` bytes when the recording started.
    """
    raw = json_bytes(data)
    tmp = path.with_name(path.name + ".tmp")
    try:
        create_private(tmp)
        with open(tmp, "r+b") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        if not path.exists() or len(raw) > path.stat().st_size:
            raise
        with open(path, "r+b") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
