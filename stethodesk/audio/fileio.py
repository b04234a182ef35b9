"""Reading audio files with clear, user-facing errors. No Qt here.

Every reader in the app (import, analysis, training adapters) goes through
:func:`read_audio` so a corrupt, empty or odd file fails the same way
everywhere: with :class:`AudioFileError` whose message a clinician can read.
"""

from __future__ import annotations

import os

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

MAX_SECONDS = 30 * 60  # 30 min: beyond this an import is refused rather than filling memory
MIN_SAMPLES = 16  # anything shorter is "empty" for every purpose in the app


class AudioFileError(ValueError):
    """A file that cannot be used as audio; ``str(err)`` is the user-facing reason."""


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    samplerate: int
    channels: int
    frames: int
    format: str

    @property
    def seconds(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


def mixdown(data: np.ndarray) -> np.ndarray:
    """Channels ``(frames, channels)`` -> mono ``(frames,)`` without destroying the signal.

    A plain average cancels channels that carry the same sound with opposite polarity (a
    miswired or inverting stereo adaptor gives exactly that, issue 11 item 2): a channel clearly
    anti-correlated with the loudest one (correlation <= -0.2) is turned over first, and a silent
    channel (an empty second input) is left out rather than halving the level. Unrelated channels
    are averaged as before.
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1 or data.shape[1] == 1:
        return data.reshape(-1)
    energy = np.sum(np.square(data, dtype=np.float64), axis=0)
    ref = int(np.argmax(energy))
    if energy[ref] <= 0.0:
        return data.mean(axis=1)
    x0 = data[:, ref].astype(np.float64)
    parts = []
    for c in range(data.shape[1]):
        if energy[c] <= 1e-12 * energy[ref]:
            continue
        corr = float(np.dot(x0, data[:, c]) / np.sqrt(energy[ref] * energy[c]))
        parts.append(data[:, c] * (-1.0 if corr <= -0.2 and c != ref else 1.0))
    return np.mean(parts, axis=0).astype(np.float32)


def display_name(path) -> str:
    """A file's name for messages and JSON: any name the OS can open, shown safely (bytes that are
    not UTF-8, e.g. a Latin-1 name, appear as ``\\xe9`` instead of breaking the output)."""
    return os.fsencode(os.path.basename(os.fspath(path))).decode("utf-8", "backslashreplace")


def probe(path: str | Path) -> AudioInfo:
    """Header facts of ``path`` without decoding it all."""
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{display_name(p)}: file not found")
    if p.is_dir():
        raise AudioFileError(f"{display_name(p)}: is a folder, not an audio file")
    if p.stat().st_size == 0:
        raise AudioFileError(f"{display_name(p)}: the file is empty (0 bytes)")
    try:
        info = sf.info(os.fsencode(p))
    except Exception as exc:  # libsndfile raises several types; all mean "unreadable"
        raise AudioFileError(
            f"{display_name(p)}: not a readable audio file (WAV, FLAC, OGG or MP3 expected): {exc}"
        ) from None
    frames = int(info.frames)
    if frames < 0 or frames > 2**40:  # unknown length (truncated stream); decode will tell
        frames = 0
    return AudioInfo(p, int(info.samplerate), int(info.channels), frames, str(info.format))


READ_BLOCK = 1024  # frames per read when the length is unknown: a torn end costs < 1 block


def _damaged_message(info: AudioInfo, exc: Exception) -> str:
    """Say how much of a damaged file still decodes (a cut-off copy is the usual cause)."""
    try:
        good, _ = _read_unknown_length(info, MAX_SECONDS)
        seconds = good.shape[0] / info.samplerate
    except AudioFileError:
        seconds = 0.0
    return (
        f"{display_name(info.path)}: the file is damaged or cut short; only {seconds:.1f} of "
        f"{info.seconds:.1f} s can be decoded ({exc}). Copy it again from the original source."
    )


def _read_unknown_length(info: AudioInfo, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode block by block until the data ends or breaks off; keep every complete block.

    A FLAC written by a recorder that was killed has no length in its header and
    may end in a torn frame; everything before that frame is good audio.
    """
    chunks: list[np.ndarray] = []
    n = 0
    limit = int(max_seconds * info.samplerate)
    try:
        f = sf.SoundFile(os.fsencode(info.path))
    except Exception as exc:
        raise AudioFileError(f"{display_name(info.path)}: the audio data is damaged: {exc}") from None
    with f:
        while True:
            try:
                b = f.read(READ_BLOCK, dtype="float32", always_2d=True)
            except Exception:
                break  # torn last frame: keep what came before
            if b.shape[0] == 0:
                break
            chunks.append(b)
            n += b.shape[0]
            if n > limit:
                raise AudioFileError(
                    f"{display_name(info.path)}: longer than {max_seconds / 60:.0f} min, the limit. "
                    "Trim it to the part you want to analyse."
                )
        sr = f.samplerate
    if not chunks:
        return np.zeros((0, max(info.channels, 1)), dtype=np.float32), int(sr)
    return np.concatenate(chunks), int(sr)


def read_audio(
    path: str | Path,
    *,
    channel: int | None = None,
    max_seconds: float = MAX_SECONDS,
) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 in [-1, 1] and its sample rate.

    ``channel`` picks one channel (0-based); ``None`` mixes all channels down.
    Raises :class:`AudioFileError` for missing, empty, corrupt, non-audio or
    over-long files. Shape: ``(n,)`` float32.
    """
    info = probe(path)
    if info.samplerate <= 0:
        raise AudioFileError(f"{display_name(info.path)}: the header gives no valid sample rate")
    if info.frames and info.frames / info.samplerate > max_seconds:
        raise AudioFileError(
            f"{display_name(info.path)}: {info.seconds / 60:.0f} min long; the limit is "
            f"{max_seconds / 60:.0f} min. Trim it to the part you want to analyse."
        )
    if info.frames == 0:
        # Length unknown: a stream cut short, e.g. a recording whose app was killed.
        data, sr = _read_unknown_length(info, max_seconds)
    else:
        try:
            data, sr = sf.read(os.fsencode(info.path), dtype="float32", always_2d=True)
        except Exception as exc:
            raise AudioFileError(_damaged_message(info, exc)) from None
    if data.shape[0] < MIN_SAMPLES:
        raise AudioFileError(f"{display_name(info.path)}: contains no audio samples")
    if channel is not None:
        if not 0 <= channel < data.shape[1]:
            raise AudioFileError(
                f"{display_name(info.path)}: has {data.shape[1]} channel(s); channel {channel + 1} does not exist"
            )
        mono = data[:, channel]
    else:
        mono = mixdown(data)
    if not np.all(np.isfinite(mono)):
        raise AudioFileError(f"{display_name(info.path)}: contains invalid (NaN/inf) samples")
    return np.ascontiguousarray(mono, dtype=np.float32), int(sr)
