"""Playback of a recording at 1x / 0.75x / 0.5x with the chosen stethoscope filter.

Preparing the audio (filter, pitch-preserving time stretch, resampling to the
output rate) runs in a helper thread; the sound card is fed by PortAudio's own
callback thread. The playhead position (in seconds of the *original* recording)
is read by the GUI on a timer: from the frames the callback has played, or from
the wall clock when there is no output device, so the view still animates on a
headless machine.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from stethodesk.audio import dsp

SPEEDS = (1.0, 0.75, 0.5)
PLAYHEAD_MS = 30  # playhead refresh
OUTPUT_STALL_S = 2.0  # s without a single output callback = the output does not work
HEADROOM = 0.9  # peak level after normalisation, avoids clipping on the way out


def _output_rate() -> int | None:
    """Default output device's rate, or None when there is no usable output."""
    try:
        import sounddevice as sd

        info = sd.query_devices(kind="output")
        return int(info["default_samplerate"])
    except Exception:
        return None


class Player(QObject):
    """Signals: position(float seconds of the original), started(float duration), finished(), message(str, str)."""

    position = Signal(float)
    started = Signal(float)
    finished = Signal()
    message = Signal(str, str)
    _prepared = Signal(object, int, float, float, int)  # audio, out_rate, speed, duration, token

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._stream = None
        self._frames_played = 0
        self._audio: np.ndarray | None = None
        self._out_rate = 0
        self._speed = 1.0
        self._duration = 0.0
        self._t0 = 0.0
        self._token = 0  # invalidates a preparation that finishes after stop() / a new play()
        self.playing = False
        self.headless = False
        self.last_position = 0.0
        self._prepared.connect(self._start)
        self.timer = QTimer(self)
        self.timer.setInterval(PLAYHEAD_MS)
        self.timer.timeout.connect(self._tick)

    def play(self, samples: np.ndarray, samplerate: int, speed: float = 1.0, mode: str = "wide") -> None:
        """Start playing ``samples`` (shape ``(n,)``) at ``speed`` through the ``mode`` filter."""
        if speed not in SPEEDS:
            raise ValueError(f"speed must be one of {SPEEDS}")
        self.stop()
        self._token += 1
        token = self._token
        x = np.asarray(samples, dtype=np.float32)
        duration = x.size / float(samplerate)

        def prepare():
            try:
                from stethodesk.audio.stretch import time_stretch

                y = dsp.apply_filter(x, samplerate, mode)
                if speed != 1.0:
                    y = time_stretch(y, samplerate, speed)
                out_rate = _output_rate()
                if out_rate and out_rate != samplerate:
                    y = dsp.resample(y, samplerate, out_rate)
                peak = float(np.max(np.abs(y))) if y.size else 0.0
                if peak > 0:
                    y = y * (HEADROOM / peak)
                self._prepared.emit(np.ascontiguousarray(y, dtype=np.float32), out_rate or 0, speed, duration, token)
            except Exception as exc:
                self.message.emit("error", f"Playback failed: {exc}")

        threading.Thread(target=prepare, name="playback-prepare", daemon=True).start()

    def _start(self, audio: np.ndarray, out_rate: int, speed: float, duration: float, token: int) -> None:
        if token != self._token:
            return  # stopped or replaced meanwhile
        self._audio, self._out_rate, self._speed, self._duration = audio, out_rate, speed, duration
        self._frames_played = 0
        self.headless = True
        if out_rate:
            try:
                import sounddevice as sd

                self._stream = sd.OutputStream(
                    samplerate=out_rate, channels=1, dtype="float32", callback=self._callback
                )
                self._stream.start()
                self.headless = False
            except Exception as exc:
                self._stream = None
                self.message.emit("warning", f"Sound output is not available ({exc}); the playhead runs silently.")
        else:
            self.message.emit(
                "warning", "No sound output device was found: playing silently, the playhead still shows the position."
            )
        self._t0 = time.monotonic()
        self.playing = True
        self.last_position = 0.0
        self.timer.start()
        self.started.emit(duration)

    def _callback(self, outdata, frames, _time, _status) -> None:
        # PortAudio thread: copy the next frames, nothing else.
        a = self._audio
        i = self._frames_played
        n = max(0, min(frames, a.size - i))
        outdata[:n, 0] = a[i : i + n]
        outdata[n:, 0] = 0.0
        self._frames_played = i + n

    def current_position(self) -> float:
        """Playhead in seconds of the original recording."""
        if not self.playing:
            return self.last_position
        if self.headless:
            elapsed = time.monotonic() - self._t0  # wall-clock seconds of slowed audio
        else:
            elapsed = self._frames_played / float(self._out_rate)
        return min(self._duration, elapsed * self._speed)

    def _tick(self) -> None:
        if not self.headless and self._frames_played == 0 and time.monotonic() - self._t0 > OUTPUT_STALL_S:
            # The device opened but never asked for audio (e.g. a sound server without a sink).
            self.headless = True
            self._t0 = time.monotonic()
            self.message.emit("warning", "The sound output is not playing; the playhead runs silently.")
        pos = self.current_position()
        self.last_position = pos
        self.position.emit(pos)
        if pos >= self._duration:
            self.stop()
            self.finished.emit()

    def stop(self) -> None:
        self._token += 1
        self.timer.stop()
        self.playing = False
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()  # abort(), not stop(): stop() can hang on some servers
                stream.close()
            except Exception:
                pass
