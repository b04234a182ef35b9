"""Audio sources feeding a mono ring buffer: a real input device or a simulated stethoscope.

No Qt here. Every source has the same face (:class:`Source`): ``samplerate``,
``ring`` (:class:`~stethodesk.audio.ringbuffer.RingBuffer`), ``overflows``,
``error`` (a user-facing sentence once the device is lost or fails),
``label``, ``running``, ``start()``, ``stop()`` and ``add_listener(fn)``.

Threading: the PortAudio callback (or the simulator's timer thread) copies the
block into the ring and hands the same mono block to the listeners, which must
only enqueue (the recorder does). Readers (the GUI clock, heart-rate) pull from
the ring on their own schedule. A watchdog thread notices a device that stops
delivering audio (unplugged USB stethoscope) and sets ``error``; ``stop()``
aborts the stream from a helper thread so the caller never blocks (PortAudio's
``stop()`` can hang, see the GUIDE).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from stethodesk.audio.fileio import mix_weights
from stethodesk.audio.ringbuffer import RingBuffer

RING_SECONDS = 30.0  # s of newest audio kept for the live view and heart rate
SIM_BLOCK_S = 0.01  # s: simulator block (~10 ms, like a typical audio callback)
WATCHDOG_PERIOD_S = 0.1  # s between watchdog checks
STALL_S = 3.0  # s without a callback while running = the device is gone (long enough to ride out a busy machine)
START_GRACE_S = 4.0  # s allowed for the first callback after start (slow USB/pulse start)
ABORT_WAIT_S = 0.25  # s stop() waits for PortAudio's abort (ms normally) before leaving it to a daemon thread

Listener = Callable[[np.ndarray], None]

# Streams PortAudio may never let go of: the abort threads of stopped device streams, and
# whether a device vanished under an open stream (see :func:`portaudio_stuck`).
_abort_threads: list[threading.Thread] = []
_device_lost = threading.Event()


def portaudio_stuck() -> bool:
    """True when PortAudio holds a stream it cannot close: a device vanished under an open stream,
    or a stream's ``abort()`` has not returned. sounddevice's exit handler (``Pa_Terminate``)
    then waits forever, so a process that has saved its work must leave with ``os._exit``
    (:func:`stethodesk.cli.entry` does; issue 11 item 6: ``record`` saved, then never exited)."""
    return _device_lost.is_set() or any(t.is_alive() for t in _abort_threads)


class CaptureError(RuntimeError):
    """A source that cannot start; ``str(err)`` is the user-facing reason."""


class Source:
    """Common face of all sources.

    Attributes
    ----------
    samplerate : int
        Hz of the mono blocks.
    ring : RingBuffer
        Newest ``RING_SECONDS`` of audio.
    overflows : int
        Input overflows reported by the device (samples lost before we saw them).
    error : str or None
        Set when the device is lost or fails; the source stops itself.
    label : str
        What the user sees (device name, file name or simulated sound).
    running : bool
    """

    def __init__(self, samplerate: int, label: str):
        self.samplerate = int(samplerate)
        self.label = label
        self.ring = RingBuffer(int(RING_SECONDS * self.samplerate))
        self.overflows = 0
        self.error: str | None = None
        self.running = False
        self._listeners: list[Listener] = []
        self.listener_errors = 0  # listener exceptions swallowed in the audio thread

    def add_listener(self, fn: Listener) -> None:
        """Call ``fn(block)`` from the audio thread with every mono float32 block ``(n,)``."""
        self._listeners = self._listeners + [fn]  # copy-on-write: the audio thread iterates safely

    def remove_listener(self, fn: Listener) -> None:
        self._listeners = [f for f in self._listeners if f is not fn]

    def _deliver(self, mono: np.ndarray) -> None:
        """Audio-thread path: into the ring, then to each listener. Never raises."""
        self.ring.write(mono)
        for fn in self._listeners:
            try:
                fn(mono)
            except Exception:  # a faulty listener must not kill capture
                self.listener_errors += 1

    def start(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def seconds(self) -> float:
        """Seconds of audio delivered since start."""
        return self.ring.total / self.samplerate


class DeviceSource(Source):
    """A real input device through PortAudio (sounddevice).

    Parameters
    ----------
    device : int, str or None
        PortAudio index, name or name substring; None = system default input.
    samplerate : int or None
        Any native rate (4-48 kHz typical); None = the device's default rate.
    channel : int or None
        0-based channel to use; None mixes down (the first two channels at most,
        so a 32-channel virtual device is not opened 32 wide).
    blocksize : int
        Frames per callback; 0 lets PortAudio choose (lowest latency).
    """

    def __init__(
        self,
        device: int | str | None = None,
        samplerate: int | None = None,
        channel: int | None = None,
        blocksize: int = 0,
    ):
        from stethodesk.audio import devices as devmod

        problem = devmod.portaudio_problem()
        if problem:
            raise CaptureError(problem)
        info = devmod.find_device(device)
        if info is None:
            names = ", ".join(d.name for d in devmod.list_input_devices(probe=False))
            if not names:
                raise CaptureError(
                    "No audio input device was found: plug in the stethoscope or a microphone "
                    "(or check that the sound system is running), or use the simulated stethoscope."
                )
            raise CaptureError(f"No input device matches {device!r}. Input devices: {names}.")
        rate = int(samplerate) if samplerate else int(info.default_samplerate)
        if channel is not None and not 0 <= int(channel) < info.max_input_channels:
            raise CaptureError(
                f"{info.name} has {info.max_input_channels} input channel(s); "
                f"channel {int(channel) + 1} does not exist."
            )
        super().__init__(rate, info.name)
        self.device = info
        self.channel = None if channel is None else int(channel)
        self.channels = (self.channel + 1) if self.channel is not None else min(2, info.max_input_channels)
        self._gram = np.zeros((self.channels, self.channels))  # X^T X of all audio so far (mixdown)
        self.blocksize = int(blocksize)
        self._stream = None
        self._last_callback = 0.0
        self._started_at = 0.0
        self._watchdog: threading.Thread | None = None
        self._stop_event = threading.Event()

    # -- audio thread ------------------------------------------------------------------
    def _callback(self, indata, frames, time_info, status) -> None:
        # PortAudio reuses `indata`: take a copy (the channel slice or the mix-down is one).
        if status.input_overflow:
            self.overflows += 1
        if self.channel is not None:
            mono = indata[:, self.channel].copy()
        elif indata.shape[1] == 1:
            mono = indata[:, 0].copy()
        else:
            # Mixed like a file (fileio.mix_weights): a channel of opposite polarity is turned
            # over, a silent one left out. The weights come from all audio so far, so they settle
            # instead of changing block to block (a plain mean cancelled an inverted channel).
            x = indata.astype(np.float64)
            self._gram += x.T @ x
            mono = (indata @ mix_weights(self._gram).astype(np.float32)).astype(np.float32)
        self._last_callback = time.monotonic()
        self._deliver(mono)

    def _finished(self) -> None:
        # Called by PortAudio when the stream ends; only an error if we did not ask for it.
        if self.running and not self._stop_event.is_set():
            self._fail("the input stream ended unexpectedly")

    # -- control ---------------------------------------------------------------------------
    def start(self) -> None:
        """Open and start the stream; raises :class:`CaptureError` with a user-facing reason."""
        if self.running:
            return
        import sounddevice as sd

        try:
            sd.check_input_settings(
                device=self.device.index, channels=self.channels, samplerate=self.samplerate, dtype="float32"
            )
            self._stream = sd.InputStream(
                device=self.device.index,
                channels=self.channels,
                samplerate=self.samplerate,
                dtype="float32",
                blocksize=self.blocksize,
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._stop_event.clear()
            self._started_at = time.monotonic()
            self._last_callback = 0.0
            self.running = True
            self._stream.start()
        except Exception as exc:
            self.running = False
            from stethodesk.audio.devices import probe_rates

            try:
                rates = probe_rates(self.device.index, channels=self.channels)
            except Exception:
                rates = ()
            hint = f" It accepts: {', '.join(str(r) for r in rates)} Hz." if rates else ""
            self.error = f"Could not open {self.device.name} at {self.samplerate} Hz: {exc}.{hint}"
            self._close_stream()
            raise CaptureError(self.error) from None
        self._watchdog = threading.Thread(target=self._watch, name="capture-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        """Set ``error`` when callbacks stop arriving (device unplugged or server gone)."""
        while not self._stop_event.wait(WATCHDOG_PERIOD_S):
            now = time.monotonic()
            last = self._last_callback
            if last == 0.0:
                if now - self._started_at > START_GRACE_S:
                    self.error = (
                        f"The input {self.label} delivered no sound after starting: it may be muted, "
                        "disconnected or in use by another program."
                    )
                    self._shutdown()
                    return
            elif now - last > STALL_S:
                self._fail(f"the input device stopped delivering audio (no sound for {STALL_S:.1f} s)")
                return
            stream = self._stream
            if stream is not None and not stream.active and self.running:
                self._fail("the input stream stopped")
                return

    def _fail(self, why: str) -> None:
        _device_lost.set()
        if self.error is None:
            self.error = f"Lost the input {self.label}: {why}. Was the stethoscope unplugged?"
        self._shutdown()

    def stop(self) -> None:
        """Stop capturing. Uses ``abort()``; returns within ``ABORT_WAIT_S`` (0.25 s) at worst."""
        self._shutdown()

    def _shutdown(self) -> None:
        self._stop_event.set()
        self.running = False
        t = threading.Thread(target=self._close_stream, name="capture-abort", daemon=True)
        _abort_threads[:] = [a for a in _abort_threads if a.is_alive()] + [t]
        t.start()
        if threading.current_thread() is not self._watchdog:
            t.join(ABORT_WAIT_S)

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.abort(ignore_errors=True)
            stream.close(ignore_errors=True)
        except Exception:
            pass


class SimulatedSource(Source):
    """Streams an array in real time through the same ring and listeners as a device.

    Parameters
    ----------
    samples : np.ndarray, shape ``(n,)``
        Mono audio in [-1, 1].
    samplerate : int
    label : str
    loop : bool
        Start again at the end; otherwise the source stops itself at the end.
    fail_after : float or None
        Seconds after which the source pretends the device was unplugged
        (sets ``error`` and stops); for tests and demos of device loss.
    """

    def __init__(
        self,
        samples: np.ndarray,
        samplerate: int,
        label: str = "Simulated stethoscope",
        loop: bool = True,
        fail_after: float | None = None,
    ):
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if x.size == 0:
            raise ValueError("SimulatedSource needs at least one sample")
        super().__init__(samplerate, label)
        self.samples = x
        self.loop = loop
        self.fail_after = fail_after
        self.finished = False  # True once a non-looping source reached the end
        self.note = ""  # from_file: the reader's note on damaged frames left out of the file ("" = none)
        self._pos = 0
        self._thread: threading.Thread | None = None
        self._stop_event = threading.Event()

    @classmethod
    def from_file(cls, path: str | Path, loop: bool = True, channel: int | None = None) -> "SimulatedSource":
        """A user's recording (any format :func:`read_audio` takes), looped. Damaged frames the reader
        decodes around are left out of what plays, and ``note`` says so (for the user to be told)."""
        from stethodesk.audio.fileio import read_audio

        notes: list[str] = []
        x, sr = read_audio(path, channel=channel, notes=notes)
        src = cls(x, sr, label=f"File: {Path(path).name}", loop=loop)
        src.note = " ".join(notes)
        return src

    @classmethod
    def from_synth(cls, name: str, loop: bool = True, **kw) -> "SimulatedSource":
        """A sound of the project's synthesizer (``stethodesk.audio.synth.render(name, **kw)``)."""
        from stethodesk.audio import synth

        # 15 s holds a whole number of beats at 72 bpm and breaths at 16/min, so the
        # looped rendering has the requested rates exactly (10 s would give 18/min).
        kw.setdefault("seconds", 15.0)
        r = synth.render(name, **kw)
        spec = getattr(synth, "SOUNDS", {}).get(name)
        title = getattr(spec, "title", name)
        src = cls(r.samples, r.samplerate, label=f"Simulated: {title}", loop=loop)
        src.rendering = r  # labels and events for teaching overlays
        return src

    def start(self) -> None:
        if self.running:
            return
        self._stop_event.clear()
        self.running = True
        self._thread = threading.Thread(target=self._run, name="simulated-source", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop_event.set()
        self.running = False
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(1.0)

    def _next_block(self, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.float32)
        filled = 0
        while filled < n:
            if self._pos >= self.samples.size:
                if not self.loop:
                    break
                self._pos = 0
            k = min(n - filled, self.samples.size - self._pos)
            out[filled : filled + k] = self.samples[self._pos : self._pos + k]
            filled += k
            self._pos += k
        return out[:filled]

    def _run(self) -> None:
        # Pace blocks on the monotonic clock (not sleep-per-block) so timing does not drift.
        block = max(1, int(round(SIM_BLOCK_S * self.samplerate)))
        t0 = time.monotonic()
        sent = 0
        while not self._stop_event.is_set():
            due = t0 + (sent + block) / self.samplerate
            wait = due - time.monotonic()
            if wait > 0 and self._stop_event.wait(wait):
                break
            if self.fail_after is not None and sent >= self.fail_after * self.samplerate:
                self.error = f"Lost the input {self.label}: simulated unplug after {self.fail_after:g} s."
                break
            x = self._next_block(block)
            if x.size:
                self._deliver(x)
                sent += x.size
            if x.size < block:  # end of a non-looping array
                self.finished = True
                break
        self.running = False
