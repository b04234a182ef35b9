"""Shared test fixtures.

``pulse_mic`` (session): the PulseAudio virtual microphone of the GUIDE, a pipe
source that turns s16le mono 48 kHz PCM written into a FIFO into the capture
device ``pulse``. The fixture starts the server with ``.ci/pulse.sh`` when it is
not running (shared ``XDG_RUNTIME_DIR``, exported into ``os.environ`` so
subprocesses see the same server), and runs a feeder thread that writes PCM in
real time: zeros while idle (an empty FIFO sends nothing and a stream would
stall), and whatever a test queues with :meth:`PulseMic.feed`.

Needs Debian ``pulseaudio pulseaudio-utils libasound2-plugins libportaudio2``;
without them the fixture fails with the install command (never a skip).

A file lock next to the FIFO keeps two pytest sessions from writing into the
one microphone at the same time (the second waits).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
PULSE_RATE = 48000  # Hz, fixed by module-pipe-source in .ci/pulse.sh
PULSE_DEVICE = "pulse"  # PortAudio (ALSA plugin) name of the PulseAudio capture device
FEED_BLOCK = 480  # samples per write (10 ms at 48 kHz)
LOCK_WAIT_S = 300  # s to wait for another test session that holds the microphone


class PulseMic:
    """The virtual microphone: queue int16 PCM and it comes out of device ``pulse``.

    Attributes
    ----------
    device : str
        Device name to open with sounddevice / ``stethodesk record --device``.
    rate : int
        48000.
    fifo : Path
    """

    def __init__(self, fifo: Path):
        self.device = PULSE_DEVICE
        self.rate = PULSE_RATE
        self.fifo = fifo
        self._pending: deque[tuple[np.ndarray, threading.Event]] = deque()
        self._cur: tuple[np.ndarray, threading.Event] | None = None
        self._pos = 0
        self._lock = threading.Lock()
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._fd = os.open(fifo, os.O_WRONLY)  # pulse holds the read end open, so no block
        self.written = 0  # samples written so far (zeros included)
        self._thread = threading.Thread(target=self._run, name="pulse-mic-feeder", daemon=True)
        self._thread.start()

    def feed(self, pcm: np.ndarray) -> threading.Event:
        """Queue mono int16 ``pcm`` ``(n,)``; the returned event is set once all of it is written."""
        x = np.ascontiguousarray(np.asarray(pcm).reshape(-1))
        if x.dtype != np.int16:
            raise TypeError("PulseMic.feed takes int16 PCM")
        done = threading.Event()
        with self._lock:
            self._pending.append((x, done))
        return done

    def feed_float(self, x: np.ndarray) -> threading.Event:
        """Queue float audio in [-1, 1] (converted to int16 as ``round(x * 32767)``)."""
        pcm = np.clip(np.rint(np.asarray(x, dtype=np.float64) * 32767), -32768, 32767).astype(np.int16)
        return self.feed(pcm)

    def clear(self) -> None:
        """Drop queued PCM (idle zeros resume at once)."""
        with self._lock:
            for _, ev in self._pending:
                ev.set()
            self._pending.clear()
            if self._cur is not None:
                self._cur[1].set()
            self._cur = None

    def pause(self) -> None:
        """Write nothing at all: capture streams stall as if the device were unplugged."""
        self._paused.set()

    def resume(self) -> None:
        self._paused.clear()

    def _next_block(self) -> np.ndarray:
        out = np.zeros(FEED_BLOCK, dtype=np.int16)
        filled = 0
        with self._lock:
            while filled < FEED_BLOCK:
                if self._cur is None:
                    if not self._pending:
                        break
                    self._cur = self._pending.popleft()
                    self._pos = 0
                arr, ev = self._cur
                k = min(FEED_BLOCK - filled, arr.size - self._pos)
                out[filled : filled + k] = arr[self._pos : self._pos + k]
                filled += k
                self._pos += k
                if self._pos >= arr.size:
                    ev.set()
                    self._cur = None
        return out

    def _run(self) -> None:
        # Real-time pacing on the monotonic clock: pulse's pipe source has no clock of
        # its own, the writer is the clock.
        t0 = time.monotonic()
        sent = 0
        while not self._stop.is_set():
            due = t0 + sent / PULSE_RATE
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if self._paused.is_set():
                t0, sent = time.monotonic(), 0
                time.sleep(0.01)
                continue
            if wait < -0.5:  # fell far behind (machine busy): do not burst, restart the clock
                t0, sent = time.monotonic(), 0
            block = self._next_block()
            try:
                os.write(self._fd, block.tobytes())
            except OSError:
                return
            sent += block.size
            self.written += block.size

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        try:
            os.close(self._fd)
        except OSError:
            pass


def _pulse_env() -> dict[str, str]:
    runtime = os.environ.get("XDG_RUNTIME_DIR") or "/tmp/stethodesk-xdg"
    fifo = os.environ.get("STETH_FIFO") or "/tmp/steth.fifo"
    return {"XDG_RUNTIME_DIR": runtime, "STETH_FIFO": fifo}


@pytest.fixture(scope="session")
def pulse_mic():
    """Session-wide :class:`PulseMic`; starts PulseAudio's virtual microphone if needed."""
    missing = [b for b in ("pulseaudio", "pactl") if shutil.which(b) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: the capture tests need the virtual microphone. "
            "Install it with: apt-get install -y pulseaudio pulseaudio-utils libasound2-plugins libportaudio2"
        )
    env = _pulse_env()
    os.environ.update(env)  # subprocesses (stethodesk record) must talk to the same server
    Path(env["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_fd = os.open(env["STETH_FIFO"] + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail("another test session has held the virtual microphone for 5 minutes")
            time.sleep(0.5)
    proc = subprocess.run(
        ["sh", str(REPO / ".ci" / "pulse.sh")], env={**os.environ, **env}, capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.fail(f"could not start the PulseAudio virtual microphone: {proc.stderr or proc.stdout}")
    mic = PulseMic(Path(env["STETH_FIFO"]))
    try:
        yield mic
    finally:
        mic.close()
        os.close(lock_fd)  # releases the lock
