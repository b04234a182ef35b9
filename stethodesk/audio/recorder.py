"""Crash-safe recording: a writer thread streams FLAC to disk while capture goes on.

No Qt here. The audio thread calls :meth:`Recorder.feed` which only enqueues;
the writer thread converts to 16-bit PCM and hands it to libsndfile's FLAC
encoder, flushing and ``fsync``-ing about once a second.

Why the file survives ``kill -9``: libsndfile writes the FLAC STREAMINFO
header first with the length "unknown" and fixes it only when the file is
closed. Every FLAC frame written before the kill is complete and decodable,
so a killed recording is a valid FLAC of unknown length, missing at most the
last encoder block (4096 samples, < 0.1 s at 48 kHz). ``read_audio`` reads
such files block by block, and :func:`recover_incomplete` (run at app start)
rewrites them with a correct header and marks the sidecar JSON.

Full disk (``ENOSPC``) or a file-size limit (``EFBIG``): the writer stops
writing, the recording stops cleanly, the audio already on disk is kept and
:class:`RecordingResult` carries a plain-words ``error``.

Every write goes through :class:`_FileSink`, a small file object that
libsndfile calls back into, so disk errors surface as Python exceptions here
instead of being lost inside the encoder.
"""

from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from stethodesk.audio.sidecar import create_private, write_json_atomic
from stethodesk.paths import private_dir

FLUSH_S = 1.0  # s between flush + fsync of the FLAC (bounds loss on power failure)
QUEUE_POLL_S = 0.1  # s the writer waits for a block before checking for stop
INT16_SCALE = 32768.0  # float [-1, 1) <-> int16: the same scale PortAudio/PulseAudio use
RECOVER_BLOCK = 1024  # frames per read when salvaging a killed FLAC (a torn end costs < 1 block)

_STOP = object()  # sentinel that ends the writer loop


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def sidecar_path(path: Path) -> Path:
    """The metadata JSON beside a recording: ``<stem>.json``."""
    return Path(path).with_suffix(".json")


def float_to_int16(x: np.ndarray) -> np.ndarray:
    """float32 ``(n,)`` in [-1, 1] -> int16 ``(n,)``; exact inverse of ``int16 / 32768``."""
    y = np.rint(np.asarray(x, dtype=np.float32) * INT16_SCALE)
    return np.clip(y, -32768, 32767).astype(np.int16)


def disk_error_message(exc: OSError, *, started: bool = True) -> str:
    """The user's sentence for a write error; ``started=False``: before anything was recorded."""
    what = {errno.ENOSPC: "The disk is full", errno.EFBIG: "The file reached the size limit"}.get(exc.errno)
    if not started:
        return f"{what or f'Could not write ({exc.strerror or exc})'}: the recording could not start; nothing was saved."
    if what:
        return f"{what}. Recording stopped; everything recorded up to that moment is saved."
    return f"Could not write the recording ({exc.strerror or exc}). Recording stopped; what was written is kept."


class _FileSink:
    """Raw file object for libsndfile's virtual I/O that remembers the first OSError."""

    def __init__(self, fd: int):
        self.fd = fd
        self.error: OSError | None = None

    def write(self, data) -> int:
        # Called from inside libsndfile (a cffi callback): an exception here would only be
        # printed, so the error is stored and 0 returned; the writer checks ``error``.
        if self.error is not None:
            return 0
        buf = memoryview(data).cast("B")
        done = 0
        try:
            while done < len(buf):
                done += os.write(self.fd, buf[done:])
        except OSError as exc:
            self.error = exc
        return done

    def read(self, n: int = -1) -> bytes:
        return os.read(self.fd, n if n >= 0 else 1 << 30)

    def seek(self, offset: int, whence: int = 0) -> int:
        return os.lseek(self.fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self.fd, 0, os.SEEK_CUR)


@dataclass
class RecordingResult:
    """What a finished (or failed) recording left on disk."""

    path: Path
    seconds: float
    frames: int
    metadata_path: Path
    error: str | None = None
    metadata: dict = field(default_factory=dict)


class Recorder:
    """Stream mono audio to ``out_path`` (FLAC, 16-bit) with a sidecar JSON.

    Parameters
    ----------
    out_path : Path
        The FLAC to create (never overwritten: an existing file is refused).
    samplerate : int
        Hz of the blocks that will be fed.
    metadata : dict
        site, domain, device, filter, notes, ...; samplerate, started, complete,
        frames and seconds are filled in by the recorder.
    """

    def __init__(self, out_path: Path, samplerate: int, metadata: dict | None = None):
        self.path = Path(out_path)
        if self.path.suffix.lower() != ".flac":
            self.path = self.path.with_suffix(".flac")
        self.samplerate = int(samplerate)
        self.metadata = dict(metadata or {})
        self.metadata_path = sidecar_path(self.path)
        self.frames = 0  # frames handed to the encoder (on disk after the next encoder block)
        self.error: str | None = None
        self.dropped = 0  # frames fed after a disk error (could not be saved)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._fd: int | None = None
        self._sink: _FileSink | None = None
        self._sf: sf.SoundFile | None = None
        self._accepting = False
        self._result: RecordingResult | None = None

    # -- control ----------------------------------------------------------------------
    def start(self) -> None:
        """Create the file and its JSON, start the writer. Raises ``OSError`` with a clear message."""
        private_dir(self.path.parent)  # folders it makes are user-only, whatever the umask
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise FileExistsError(f"{self.path} already exists; choose another name") from None
        # Held while recording: recover_incomplete skips files a live recorder still owns.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._fd = fd
        self._sink = _FileSink(fd)
        self.metadata.update(
            samplerate=self.samplerate,
            started=self.metadata.get("started") or now_iso(),
            file=self.path.name,
            format="FLAC 16-bit mono",
            complete=False,
        )
        try:
            self._sf = sf.SoundFile(
                self._sink, mode="w", samplerate=self.samplerate, channels=1, format="FLAC", subtype="PCM_16"
            )
            write_json_atomic(self.metadata_path, self.metadata)
        except OSError as exc:
            self._close_files()
            self.path.unlink(missing_ok=True)  # ours (O_EXCL) and empty: no 0-byte file left behind
            raise OSError(exc.errno, disk_error_message(exc, started=False)) from None
        self._accepting = True
        self._thread = threading.Thread(target=self._run, name="recorder-writer", daemon=True)
        self._thread.start()

    def feed(self, block: np.ndarray) -> None:
        """Enqueue a mono float32 block ``(n,)``. Non-blocking; safe from the audio thread."""
        if self._accepting:
            self._queue.put(block)
        else:
            self.dropped += len(block)

    @property
    def seconds(self) -> float:
        return self.frames / self.samplerate

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> RecordingResult:
        """Finish writing, close the FLAC, write the final JSON. Idempotent."""
        if self._result is not None:
            return self._result
        self._accepting = False
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
        close_error = self._close_files()
        if close_error is not None and self.error is None:
            self.error = disk_error_message(close_error)
        if self.error is not None:
            # Count what is really decodable on disk, not what was handed to the encoder.
            try:
                self.frames = int(salvage_frames(self.path)[0].size)
            except Exception:
                pass
        self.metadata.update(
            frames=self.frames,
            seconds=round(self.seconds, 3),
            stopped=now_iso(),
            complete=self.error is None,
        )
        if self.error:
            self.metadata["error"] = self.error
        try:
            write_json_atomic(self.metadata_path, self.metadata)
        except OSError:
            # Disk still full: the JSON written at start (complete: false) stays, and
            # recover_incomplete finishes the job at the next start.
            pass
        self._result = RecordingResult(
            self.path, self.seconds, self.frames, self.metadata_path, self.error, dict(self.metadata)
        )
        return self._result

    # -- writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            try:
                item = self._queue.get(timeout=QUEUE_POLL_S)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            if item is not None and self.error is None:
                pcm = float_to_int16(item)
                try:
                    self._sf.write(pcm)
                except Exception as exc:
                    self._on_disk_error(exc)
                if self._sink.error is not None:
                    self._on_disk_error(self._sink.error)
                    self.dropped += pcm.size
                else:
                    self.frames += pcm.size
            elif item is not None:
                self.dropped += len(item)
            if self.error is None and time.monotonic() - last_flush >= FLUSH_S:
                last_flush = time.monotonic()
                try:
                    self._sf.flush()
                    os.fsync(self._fd)
                except Exception as exc:
                    self._on_disk_error(exc)
                if self._sink.error is not None:
                    self._on_disk_error(self._sink.error)

    def _on_disk_error(self, exc: Exception) -> None:
        err = self._sink.error if self._sink is not None and self._sink.error else exc
        if isinstance(err, OSError):
            self.error = disk_error_message(err)
        else:
            self.error = f"Could not write the recording ({err}). Recording stopped; what was written is kept."
        self._accepting = False

    def _close_files(self) -> OSError | None:
        err = None
        if self._sf is not None:
            try:
                self._sf.close()  # writes the last frame and the true length into the header
            except Exception as exc:
                err = OSError(errno.EIO, str(exc))
            if self._sink is not None and self._sink.error is not None:
                err = self._sink.error
            self._sf = None
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)  # also releases the flock
            self._fd = None
        return err


# -- crash recovery ---------------------------------------------------------------------
def salvage_frames(path: Path) -> tuple[np.ndarray, int]:
    """Decode every complete frame of a possibly killed FLAC. Returns (int16 ``(n,)``, sr)."""
    chunks = []
    with open(path, "rb") as fh, sf.SoundFile(fh) as f:  # by file object: any path length
        sr = f.samplerate
        while True:
            try:
                b = f.read(RECOVER_BLOCK, dtype="int16", always_2d=True)
            except Exception:  # the torn last frame of a killed file
                break
            if b.shape[0] == 0:
                break
            chunks.append(b[:, 0])
    x = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return x, int(sr)


def _is_locked(path: Path) -> bool:
    """True when a live recorder (this or another process) still holds ``path``."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def recover_incomplete(folder: Path, recursive: bool = True) -> list[Path]:
    """Repair recordings left incomplete by a crash or kill in ``folder`` (and sub-folders).

    A recording is incomplete when its sidecar JSON says ``complete: false`` and
    it is neither marked ``recovered`` nor still being written. Its complete FLAC
    frames are rewritten into a FLAC with a correct header (atomically), and
    the JSON gets ``recovered: true``, ``frames``, ``seconds`` and a note.

    Returns the FLAC paths that were recovered.
    """
    done: list[Path] = []
    folder = Path(folder)
    if not folder.is_dir():
        return done
    for meta_path in sorted(folder.rglob("*.json") if recursive else folder.glob("*.json")):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(meta, dict) or meta.get("complete", True) or meta.get("recovered"):
            continue
        flac = meta_path.with_suffix(".flac")
        if not flac.exists() or _is_locked(flac):
            continue
        try:
            x, sr = salvage_frames(flac)
        except Exception as exc:  # not even the header survived
            meta.update(recovered=True, frames=0, seconds=0.0, error=f"Could not recover the audio: {exc}")
            empty = flac.stat().st_size == 0
            if empty:  # killed before a byte was written: no audio to keep, no 0-byte file left
                flac.unlink()
                meta["error"] = "The app stopped before any audio was written; the empty file was removed."
            write_json_atomic(meta_path, meta)  # the sidecar (site, notes) is kept either way
            if not empty:
                done.append(flac)
            continue
        tmp = flac.with_name(flac.stem + ".recovering.flac")
        try:
            create_private(tmp)  # the recovered FLAC stays user-only like the one it replaces
            with open(tmp, "r+b") as f:  # by file object: any path length
                sf.write(f, x, sr, format="FLAC", subtype="PCM_16")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, flac)
        except Exception:  # OSError or LibsndfileError: no room to rewrite
            tmp.unlink(missing_ok=True)  # the original stays readable block by block
        meta.update(
            recovered=True,
            recovered_at=now_iso(),
            frames=int(x.size),
            seconds=round(x.size / sr, 3) if sr else 0.0,
            note="The app stopped during this recording; the audio up to that moment was recovered.",
        )
        write_json_atomic(meta_path, meta)
        done.append(flac)
    return done
