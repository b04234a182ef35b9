"""Audio files beside the database: durable copies and checksums. No Qt here."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

CHUNK_BYTES = 1 << 20  # 1 MiB read size for hashing and copying


class CopyError(OSError):
    """A copy into the store failed; ``str(err)`` is the user-facing reason."""


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def durable_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` so that ``dst`` is either absent or complete.

    Writes to a temporary name in the destination folder, fsyncs, then renames
    (rename is atomic within a folder), then fsyncs the folder entry.
    """
    tmp = dst.with_name(f".{dst.name}.part")
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK_BYTES)
            fout.flush()
            os.fsync(fout.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, dst)
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # never leave half a copy; the source is untouched
        if exc.errno == errno.ENOSPC:
            raise CopyError(
                f"Not enough disk space to store {src.name} in the records folder. "
                "Free some space and add it again; the original file is kept."
            ) from None
        raise CopyError(f"Could not copy {src.name} into the records folder: {exc.strerror or exc}") from None
    fsync_dir(dst.parent)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unique_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem.suffix``, or ``stem-2.suffix`` etc. when taken."""
    candidate = folder / f"{stem}{suffix}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}-{n}{suffix}"
        n += 1
    return candidate


def safe_stem(text: str) -> str:
    """A file-name-safe version of ``text`` (letters, digits, - and _)."""
    out = "".join(c if c.isalnum() or c in "-_" else "_" for c in text)
    return out.strip("_") or "recording"
