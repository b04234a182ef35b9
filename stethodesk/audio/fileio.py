"""Reading audio files with clear, user-facing errors. No Qt here.

Every reader in the app (import, analysis, training adapters) goes through
:func:`read_audio` so a corrupt, empty or odd file fails the same way
everywhere: with :class:`AudioFileError` whose message a clinician can read.

Decoding is :mod:`stethodesk.audio.decode` (libsndfile, else FFmpeg), always to the end of the
stream and block by block: channels are mixed and rates above
:data:`~stethodesk.audio.limits.MAX_OUTPUT_RATE` resampled per block, so memory follows the
mono output, not the file (a 30-min 8-channel 192 kHz file needs ~0.7 GB, not ~11 GB).

A file with damaged frames in the middle (FFmpeg decodes around them) is read without them and
says so: :func:`damage_note`, carried by :attr:`AudioInfo.note` from :func:`scan` and handed out by
:func:`read_audio` through ``notes``. A file that is mostly damaged is refused.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stethodesk.audio.channels import ChannelMixer, ChannelSurvey, mix_array
from stethodesk.audio.damage import Damage
from stethodesk.audio.decode import (
    BLOCK_BYTES, SALVAGE_BLOCK, DecodeError, Downsampler, Source, UnreadableError, iter_blocks, open_source,
)
from stethodesk.audio.limits import MAX_CHANNELS, MAX_OUTPUT_RATE, MAX_SAMPLERATE, MAX_SECONDS, MIN_SAMPLERATE

__all__ = ["FILE_DIALOG_FILTER", "MAX_SECONDS", "MIN_SAMPLES", "AudioFileError", "AudioInfo", "damage_note",
           "display_name", "display_path", "mix_weights", "mixdown", "probe", "read_audio", "scan"]

MIN_SAMPLES = 16  # anything shorter is "empty" for every purpose in the app
FORMATS_HINT = "WAV, FLAC, OGG, MP3 or M4A expected"
# What the app's file dialogs offer (Qt's filter syntax, in both cases for case-sensitive file systems).
AUDIO_SUFFIXES = ("wav", "flac", "ogg", "opus", "mp3", "m4a", "aac", "mp4", "aif", "aiff", "caf")
FILE_DIALOG_FILTER = (
    "Audio files (" + " ".join(f"*.{e} *.{e.upper()}" for e in AUDIO_SUFFIXES) + ");;All files (*)"
)


class AudioFileError(ValueError):
    """A file that cannot be used as audio; ``str(err)`` is the user-facing reason."""


@dataclass(frozen=True)
class AudioInfo:
    """Facts of an audio file. ``frames`` is the header's length (0 when it gives none) from
    :func:`probe`, the decoded length from :func:`scan`; ``exact`` says whether it can be trusted
    (an MP3 header only estimates it). ``note``: from :func:`probe`, what is wrong with the header
    (one left unfinished); from :func:`scan`, that and what was damaged and left out; "" for a
    whole file."""

    path: Path
    samplerate: int
    channels: int
    frames: int
    format: str
    exact: bool = True
    decoder: str = "libsndfile"
    note: str = ""
    ignore_length: bool = False  # read to the end of the file, not the header's size (a WAV over 4 GB)

    @property
    def seconds(self) -> float:
        return self.frames / self.samplerate if self.samplerate else 0.0


def mix_weights(gram: np.ndarray) -> np.ndarray:
    """Mixing weights ``(channels,)`` from the channels' Gram matrix ``X^T X`` ``(channels, channels)``.

    A plain average cancels channels that carry the same sound with opposite polarity (a
    miswired or inverting stereo adaptor gives exactly that, issue 11 item 2): a channel clearly
    anti-correlated with the loudest one (correlation <= -0.2) is turned over first, and a silent
    channel (an empty second input) is left out rather than halving the level. Unrelated channels
    are averaged. The Gram matrix is summed block by block, so the whole file is never held.
    """
    gram = np.asarray(gram, dtype=np.float64)
    c = gram.shape[0]
    energy = np.diag(gram)
    ref = int(np.argmax(energy))
    if energy[ref] <= 0.0:
        return np.full(c, 1.0 / c)
    w = np.zeros(c)
    for k in range(c):
        if energy[k] <= 1e-12 * energy[ref]:
            continue
        corr = gram[ref, k] / np.sqrt(energy[ref] * energy[k])
        w[k] = -1.0 if corr <= -0.2 and k != ref else 1.0
    return w / np.count_nonzero(w)


def mixdown(data: np.ndarray, sr: int) -> np.ndarray:
    """Channels ``(frames, channels)`` at ``sr`` Hz -> mono ``(frames,)`` float32, the channels
    chosen and lined up as a file's are (:func:`stethodesk.audio.channels.mix_array`)."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1 or data.shape[1] == 1:
        return data.reshape(-1)
    if data.size == 0:  # no frames or no channels: nothing to mix
        return np.zeros(data.shape[0], np.float32)
    return mix_array(data, sr)[0]


def display_path(path) -> str:
    """A path as the user sees it in messages, text output and JSON: any name the OS can open, shown
    safely on one line. Bytes that are not UTF-8 (a Latin-1 name) appear as ``\\xe9``, control
    characters as ``\\n``, ``\\x1b``... (a newline in a name cannot forge an output line)."""
    text = os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")
    return "".join(_escape(ch) for ch in text)


# Bidirectional controls reorder what follows on screen ("evil\u202egnp.wav" shows as "evilvaw.png"):
# shown escaped like control characters, though their Unicode category is Cf.
BIDI_CONTROLS = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(ch: str) -> str:
    if unicodedata.category(ch) not in ("Cc", "Zl", "Zp") and ch not in BIDI_CONTROLS:
        return ch
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}")


def display_name(path) -> str:
    """A file's name (no folder) for messages, by :func:`display_path`'s rule."""
    return display_path(os.path.basename(os.fsencode(os.fspath(path))))


def probe(path: str | Path) -> AudioInfo:
    """Header facts of ``path`` without decoding it (the length may be an estimate: ``exact``)."""
    p = Path(path)
    if not p.exists():
        raise AudioFileError(f"{display_name(p)}: file not found")
    if p.is_dir():
        raise AudioFileError(f"{display_name(p)}: is a folder, not an audio file")
    if p.stat().st_size == 0:
        raise AudioFileError(f"{display_name(p)}: the file is empty (0 bytes)")
    try:
        s = open_source(p)
    except UnreadableError as exc:
        if exc.cut:
            raise AudioFileError(f"{display_name(p)}: the file is damaged or cut short: {exc}. "
                                 "Copy it again from the original source.") from None
        raise AudioFileError(f"{display_name(p)}: not a readable audio file ({FORMATS_HINT}): {exc}") from None
    except OSError as exc:  # its strerror only: str(exc) repeats the name in Python's quoting
        raise AudioFileError(f"{display_name(p)}: cannot be read: {exc.strerror or exc}") from None
    return AudioInfo(p, s.samplerate, s.channels, s.frames, s.format, s.exact, s.decoder,
                     f"{display_name(p)}: {s.note}." if s.note else "", s.ignore_length)


def _check_header(info: AudioInfo, max_seconds: float) -> None:
    """Refuse what the header already rules out: odd sample rates, no channels, an exact
    length over the limit (before anything is decoded)."""
    name = display_name(info.path)
    if not MIN_SAMPLERATE <= info.samplerate <= MAX_SAMPLERATE:
        raise AudioFileError(
            f"{name}: sample rate {info.samplerate} Hz; a stethoscope recording has "
            f"{MIN_SAMPLERATE} to {MAX_SAMPLERATE} Hz (heart sounds reach 500 Hz, so a lower rate "
            "cannot hold them). The file's header may be damaged."
        )
    if not 0 < info.channels <= MAX_CHANNELS:
        raise AudioFileError(
            f"{name}: the header gives {info.channels} audio channels; 1 to {MAX_CHANNELS} can be read. "
            "The file's header may be damaged."
        )
    if info.exact and info.frames / info.samplerate > max_seconds:
        raise AudioFileError(
            f"{name}: {info.seconds / 60:.0f} min long; the limit is "
            f"{max_seconds / 60:.0f} min. Trim it to the part you want to analyse."
        )


def damage_note(info: AudioInfo, damage: Damage, frames_read: int) -> str:
    """The user's sentence for damage left out of a file that was read ("" when there was none):
    how many frames, how many seconds, where, and how much was read."""
    got = frames_read / info.samplerate if info.samplerate else 0.0
    early = (f"{display_name(info.path)}: the file ends early (cut short part-way through its last frame or "
             f"page, as when a copy stops); {got:.1f} s were read and are used. If more was recorded, copy it "
             "again from the original source.") if damage.ends_early else ""
    if damage.frames <= 0 and damage.seconds <= 0:
        return early
    about = "about " if damage.estimated else ""
    what = f"{damage.frames} damaged frame{'s' if damage.frames != 1 else ''} ({about}{damage.seconds:.1f} s)"
    return (
        f"{display_name(info.path)}: {what} could not be decoded and were left out (the first "
        f"{damage.at_s:.1f} s into the audio read); the other {got:.1f} s were read and are used."
        + (" " + early if early else "")
    )


def _blocks(info: AudioInfo, max_seconds: float, damage: Damage | None = None) -> Iterator[np.ndarray]:
    """Decoded blocks ``(n, channels)``; damage left out goes into ``damage``; a mostly damaged
    file or one over the limit -> AudioFileError."""
    name = display_name(info.path)
    src = Source(info.path, info.samplerate, info.channels, info.frames, info.exact, info.format, info.decoder,
                 ignore_length=info.ignore_length)
    limit = max_seconds * info.samplerate
    n = 0
    try:
        for b in iter_blocks(src, max(SALVAGE_BLOCK, BLOCK_BYTES // (4 * info.channels)), damage):
            n += b.shape[0]
            if n > limit:
                raise AudioFileError(
                    f"{name}: longer than {max_seconds / 60:.0f} min, the limit. "
                    "Trim it to the part you want to analyse."
                )
            yield b
    except DecodeError as exc:
        got = exc.frames_read / info.samplerate
        total = max(info.seconds if info.exact else 0.0, got + exc.damaged_s if exc.damaged_s else 0.0)
        of = f" of {total:.1f}" if total else ""
        raise AudioFileError(
            f"{name}: the file is damaged or cut short; only {got:.1f}{of} s can be decoded "
            f"({exc.cause}). Copy it again from the original source."
        ) from None


def _invalid(info: AudioInfo) -> AudioFileError:
    return AudioFileError(f"{display_name(info.path)}: contains invalid (NaN/inf) samples")


def scan(path: str | Path, *, max_seconds: float = MAX_SECONDS) -> AudioInfo:
    """Decode all of ``path`` without keeping it: the facts :func:`read_audio` would meet.

    ``frames`` is the decoded length, ``note`` says what damage was left out. Raises
    :class:`AudioFileError` for everything :func:`read_audio` refuses, so what passes here can be
    read later (the store checks with it).
    """
    info = probe(path)
    _check_header(info, max_seconds)
    n = 0
    damage = Damage()
    for b in _blocks(info, max_seconds, damage):
        if not np.all(np.isfinite(b)):
            raise _invalid(info)
        n += b.shape[0]
    if n < MIN_SAMPLES:
        raise AudioFileError(f"{display_name(info.path)}: contains no audio samples")
    note = " ".join(t for t in (info.note, damage_note(info, damage, n)) if t)
    return AudioInfo(info.path, info.samplerate, info.channels, n, info.format, True, info.decoder, note,
                     info.ignore_length)


def _output_rate(sr: int) -> int:
    if sr <= MAX_OUTPUT_RATE:
        return sr
    return 44_100 if sr % 44_100 == 0 and sr % MAX_OUTPUT_RATE else MAX_OUTPUT_RATE


class _Output:
    """The mono output, written in place when its length is known (an exact header): the peak is
    the output once, not the blocks plus their joined copy."""

    def __init__(self, expected: int):
        self._buf = np.empty(expected, np.float32) if expected else None
        self._n = 0
        self._parts: list[np.ndarray] = []

    def add(self, x: np.ndarray) -> None:
        if self._buf is not None and self._n + x.size <= self._buf.size:
            self._buf[self._n : self._n + x.size] = x
            self._n += x.size
            return
        if self._buf is not None:  # longer than stated after all: keep going in pieces
            self._parts.append(self._buf[: self._n])
            self._buf = None
        self._parts.append(np.array(x, dtype=np.float32))

    def result(self) -> np.ndarray:
        if self._buf is not None:
            return self._buf[: self._n]
        return np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)


def read_audio(
    path: str | Path,
    *,
    channel: int | None = None,
    max_seconds: float = MAX_SECONDS,
    notes: list[str] | None = None,
    channels: dict | None = None,
) -> tuple[np.ndarray, int]:
    """Decode ``path`` to mono float32 and its sample rate.

    ``channel`` picks one channel (0-based); ``None`` mixes the channels that hold a body sound,
    lined up by cross-correlation (:mod:`stethodesk.audio.channels`, from 30 s of the file that
    hold a body sound, wherever they start); ``channels``, when given, gets
    ``{"used": [...], "rule": "..."}`` saying which.
    Integer formats give [-1, 1); float files keep their level (they may exceed 1). Rates above
    48 kHz come back resampled to 48 kHz (44.1 kHz for its
    multiples). Damaged frames FFmpeg decodes around are left out; ``notes``, when given, gets
    :func:`damage_note`'s sentence about them. Raises :class:`AudioFileError` for missing, empty,
    corrupt, mostly damaged or cut-short, non-audio, over-long files and sample rates outside
    1-768 kHz. Shape: ``(n,)`` float32.
    """
    info = probe(path)
    _check_header(info, max_seconds)
    if channel is not None and not 0 <= channel < info.channels:
        raise AudioFileError(
            f"{display_name(info.path)}: has {info.channels} channel(s); channel {channel} (counting from 0) "
            "does not exist"
        )
    pick = channel if channel is not None else (0 if info.channels == 1 else None)
    if pick is None:
        survey = ChannelSurvey(info.channels, info.samplerate)
        for b in _blocks(info, max_seconds):
            if not np.all(np.isfinite(b)):
                raise _invalid(info)
            survey.add(b)
            if survey.done:
                break
        mixer = ChannelMixer(survey.plan())
        if channels is not None:
            channels.update(mixer.plan.as_dict())
    elif channels is not None:
        channels.update(used=[pick], rule="chosen with --channel" if channel is not None else "the file has one channel")
    sr = _output_rate(info.samplerate)
    down = Downsampler(info.samplerate, sr) if sr != info.samplerate else None
    out = _Output(int(info.frames * sr / info.samplerate) + 4096 if info.exact else 0)
    n_in = 0
    damage = Damage()
    for b in _blocks(info, max_seconds, damage):
        n_in += b.shape[0]
        mono = b[:, pick] if pick is not None else mixer.process(b)
        if not np.all(np.isfinite(mono)):
            raise _invalid(info)
        out.add(down.process(mono) if down else mono)
    if down:
        out.add(down.flush())
    if n_in < MIN_SAMPLES:
        raise AudioFileError(f"{display_name(info.path)}: contains no audio samples")
    x = out.result()
    if notes is not None:
        notes.extend(t for t in (info.note, damage_note(info, damage, n_in)) if t)
    return np.ascontiguousarray(x, dtype=np.float32), int(sr)
