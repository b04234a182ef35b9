"""Decoding audio files block by block through well-kept decoders: libsndfile, else FFmpeg.

No Qt here. :mod:`stethodesk.audio.fileio` builds the app's reader on this; nothing else should
open audio files.

- libsndfile (``soundfile``) takes WAV in all its variants (WAVE_FORMAT_EXTENSIBLE, 8/16/24/32-bit
  integer, 32/64-bit float, A-law, mu-law), FLAC, AIFF, CAF. Their containers state the exact
  length.
- FFmpeg (through PyAV) takes MP3 and whatever libsndfile cannot open: AAC in M4A/MP4 (what phone
  stethoscope apps export), WMA, WebM... MP3 goes to FFmpeg although libsndfile opens it, because
  libsndfile takes an MP3's length from the header (the Xing/Info frame, or a guess from the first
  frame's bit rate when there is none) and stops reading there: a VBR file without a Xing frame
  read as 6.9 of its 21.4 s (issue 11 item 1). OGG (Vorbis, Opus) goes to FFmpeg too: libsndfile
  reads an OGG whose middle pages are damaged or cut out as its full stated length with nothing
  said, while FFmpeg's page timestamps show the gap (Opus then comes at its decoding rate, 48 kHz).

No length estimate is trusted: both paths decode to the end of the stream. Where the container
states an exact length, a stream that breaks off before it raises :class:`DecodeError` with how
much was decoded. Damage in the middle of an FFmpeg stream (frames FFmpeg cannot decode, bytes it
skips) is counted (:mod:`stethodesk.audio.damage`) and left out; the file is refused only when
most of it is damaged. A stream with no stated length that ends part-way through its last frame
or OGG page (a copy cut short) is read to its last whole frame and marked (``Damage.ends_early``). Files are opened as file objects, so any name the OS can open opens (a Latin-1
name, a path of 1,024 bytes or more, which libsndfile refuses by name).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from stethodesk.audio.damage import RAW_FORMATS, TAIL_MAX, Damage, DamageCount, EndCheck

BLOCK = 65536  # frames per block: 2 MB for 8 channels of float32, whatever the file's length
BLOCK_BYTES = 2 << 20  # bytes of float32 per block the reader asks for (fewer frames for more channels)
SALVAGE_BLOCK = 1024  # frames per read when re-reading up to a torn frame (< 0.03 s at 44.1 kHz)
# Containers whose stated length is exact (sample tables), so a shorter stream means damage.
FFMPEG_EXACT = ("mov", "mp4", "m4a", "matroska", "webm", "ogg")
LENGTH_TOLERANCE_S = 0.1  # s: a stream this much shorter than stated is "cut short"
MP3_FRAME = 1152  # samples in an MPEG-1 layer III frame (576 in MPEG-2 and 2.5)
AFTER_DAMAGE_S = 1.0  # s of audio decoded after an undecodable packet that make it damage, not trailing bytes


class UnreadableError(Exception):
    """No decoder can open the file as audio; ``str(err)`` is the decoder's reason. ``cut``: the
    file is of a known audio container but incomplete (an M4A whose index, written last, is missing)."""

    def __init__(self, reason: str, cut: bool = False):
        super().__init__(reason)
        self.cut = cut


# An MP4/M4A (ISO base media file) opens with a box of one of these types at byte 4 (ISO 14496-12).
MP4_FIRST_BOXES = (b"ftyp", b"styp", b"moov", b"mdat", b"free", b"wide")


class DecodeError(Exception):
    """Decoding broke off after ``frames_read`` frames (a damaged or cut-off file), or ``damaged_s``
    seconds of damage left out are more than was read."""

    def __init__(self, frames_read: int, cause: str, damaged_s: float = 0.0):
        super().__init__(cause)
        self.frames_read = int(frames_read)
        self.cause = cause
        self.damaged_s = float(damaged_s)


@dataclass(frozen=True)
class Source:
    """What the container says about an audio file, before decoding it.

    ``frames`` is the stated length (0 when the container gives none); ``exact`` says whether it
    is exact or only an estimate (MP3). ``decoder`` is "libsndfile" or "ffmpeg".
    """

    path: Path
    samplerate: int
    channels: int
    frames: int
    exact: bool
    format: str
    decoder: str
    note: str = ""  # what the user should know of the header (one left unfinished), "" when nothing
    ignore_length: bool = False  # FFmpeg reads the data to the end of the file, not the header's size


# libsndfile's log line for a chunk whose stated size runs past the end of the file:
# "data : 460544 (should be 153461)" (WAV, W64, RF64), "SSND : 96008 (should be 31972)" (AIFF).
_CUT_CHUNK = re.compile(r"^\s*(data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
_BYTES_PER_FRAME = {"PCM_S8": 1, "PCM_U8": 1, "ULAW": 1, "ALAW": 1, "PCM_16": 2, "PCM_24": 3, "PCM_32": 4,
                    "FLOAT": 4, "DOUBLE": 8}
PLACEHOLDER_SIZE = 0x7FFFFFFF  # a data size this large or larger is a streaming recorder's "unknown", not a length
UNFINISHED_NOTE = ("its header was left unfinished (no audio length written, as when a recorder stops "
                   "abruptly), so the audio after it was read to the end of the file")


def stated_frames(f: sf.SoundFile) -> int:
    """Frames the header of an open libsndfile file states when its audio chunk claims more bytes
    than the file holds (a copy cut short); libsndfile itself reads what is there and says so only
    in its log. 0 when the header states no more than is there, or a placeholder size."""
    m = _CUT_CHUNK.search(f.extra_info or "")
    per_frame = _BYTES_PER_FRAME.get(str(f.subtype).upper(), 0) * int(f.channels)
    if not m or not per_frame:
        return 0
    stated = int(m.group(2)) - (8 if m.group(1) == "SSND" else 0)  # SSND counts its offset fields
    return stated // per_frame if 0 < stated < PLACEHOLDER_SIZE else 0


RIFF_LIMIT = 2**32  # bytes: a plain RIFF WAV's 32-bit sizes cannot state a larger file (RF64 and W64 can)
BIG_WAV_NOTE = ("it is larger than 4 GB, more than a plain WAV header can state, so its audio was read "
                "to the end of the file")


def _big_wav(p: Path, fh, f: sf.SoundFile) -> Source | None:
    """A plain WAV of 4 GB or more: its header's sizes wrapped past 2**32, and libsndfile would
    read only what the wrapped size says (23 of 29 min, silently). Then FFmpeg reads the data to
    the end of the file (its ``ignore_length``); the length is the bytes after the data chunk's
    header. None for any other file."""
    size = os.fstat(fh.fileno()).st_size
    per_frame = _BYTES_PER_FRAME.get(str(f.subtype).upper(), 0) * int(f.channels)
    if str(f.format).upper() != "WAV" or size < RIFF_LIMIT or not per_frame:
        return None
    fh.seek(0)
    at = fh.read(1 << 16).find(b"data")
    start = at + 8 if at >= 0 else 44
    return Source(p, int(f.samplerate), int(f.channels), (size - start) // per_frame, True,
                  f"{f.format} {f.subtype}", "ffmpeg", BIG_WAV_NOTE, ignore_length=True)


def _open_file(path: Path):
    return open(os.fsencode(path), "rb")


def _is_mpeg(info_format: str, subtype: str) -> bool:
    return info_format.upper() in ("MP3", "MPEG") or subtype.upper().startswith("MPEG")


def open_source(path: str | Path) -> Source:
    """Header facts of ``path``. Raises :class:`UnreadableError` when no decoder takes it."""
    p = Path(path)
    sndfile_error = ""
    mpeg_frames = 0
    try:
        with _open_file(p) as fh, sf.SoundFile(fh) as f:
            fmt, subtype = str(f.format), str(f.subtype)
            if _is_mpeg(fmt, subtype):
                mpeg_frames = int(f.frames)
            elif fmt.upper() != "OGG":  # OGG: libsndfile hides lost pages (see the module's doc)
                big = _big_wav(p, fh, f)
                if big is not None:
                    return big
                frames = int(f.frames)
                exact = 0 <= frames <= 2**40  # an unfinished FLAC states no length
                sndfile = Source(p, int(f.samplerate), int(f.channels), max(frames, stated_frames(f)) if exact else 0,
                                 exact, f"{fmt} {subtype}", "libsndfile")
                if frames != 0:
                    return sndfile
                # No frames: a header whose sizes were never written (0) by a recorder that stopped
                # abruptly; FFmpeg reads such a file to its end (issue 11 re-test F2).
                try:
                    src = _ffmpeg_source(p)
                except UnreadableError:
                    return sndfile
                return Source(p, src.samplerate, src.channels, 0, False, src.format, src.decoder, UNFINISHED_NOTE)
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types; all mean "not mine"
        # libsndfile's own words ("Format not recognised."), not "Error opening <_io.BufferedReader ...>"
        sndfile_error = str(getattr(exc, "error_string", "") or exc)
    try:
        src = _ffmpeg_source(p)
    except UnreadableError as exc:
        if "Invalid data" in str(exc) and _is_mp4(p):
            raise UnreadableError("an MP4/M4A file without its index of the audio (written at the end of "
                                  "the file, so a copy that stopped early lacks it)", cut=True) from None
        raise UnreadableError(sndfile_error if "Invalid data" in str(exc) and sndfile_error else str(exc)) from None
    if mpeg_frames and abs(mpeg_frames - src.frames) <= MP3_FRAME:
        # Two decoders read the same length from an MP3's Xing/Info frame: then it is the file's
        # true length and a shorter stream was cut. Without that frame each guesses from the bit
        # rate, and they disagree (4.7 and 39.7 s for a 21.3 s VBR file): nothing is checked.
        src = Source(src.path, src.samplerate, src.channels, src.frames, True, src.format, src.decoder)
    return src


def _is_mp4(p: Path) -> bool:
    with _open_file(p) as fh:
        return fh.read(8)[4:] in MP4_FIRST_BOXES


def _ffmpeg_source(p: Path) -> Source:
    import av

    try:
        with _open_file(p) as fh, av.open(fh) as c:
            if not c.streams.audio:
                raise UnreadableError(f"no audio stream in this {c.format.name} file")
            s = c.streams.audio[0]
            sr = int(s.codec_context.sample_rate or 0)
            channels = int(s.codec_context.layout.nb_channels or 0)
            exact = any(n in FFMPEG_EXACT for n in c.format.name.split(",")) and bool(s.duration)
            frames = round(float(s.duration * s.time_base) * sr) if s.duration else 0
            return Source(p, sr, channels, frames, exact, f"{c.format.name} {s.codec_context.name}", "ffmpeg")
    except UnreadableError:
        raise
    except Exception as exc:  # noqa: BLE001 - av.error.* and OSError: FFmpeg cannot read it either
        raise UnreadableError(str(exc)) from None


def iter_blocks(src: Source, block: int = BLOCK, damage: Damage | None = None) -> Iterator[np.ndarray]:
    """Decode ``src`` to the end, yielding float32 blocks of shape ``(n, channels)``, n <= ~block.

    Integer formats come scaled to [-1, 1); float formats as stored (they may exceed 1).
    Raises :class:`DecodeError` when the stream breaks off before an exact stated length (the
    blocks before the break have been yielded). A stream with no stated length (an unfinished
    FLAC of a killed recorder) ends quietly at its last whole frame. Damage inside an FFmpeg
    stream that FFmpeg decoded around is left out and, when ``damage`` is given, described there
    (filled when the stream ends); when it holds more audio than the rest, DecodeError.
    """
    if src.decoder == "libsndfile":
        yield from _sndfile_blocks(src, block)
    else:
        yield from _ffmpeg_blocks(src, damage)


def _sndfile_reads(src: Source, block: int, skip: int = 0) -> Iterator[np.ndarray]:
    """Blocks from a fresh handle, the first ``skip`` frames read and dropped; raises what libsndfile raises."""
    with _open_file(src.path) as fh, sf.SoundFile(fh) as f:
        while True:
            b = f.read(block, dtype="float32", always_2d=True)
            if b.shape[0] == 0:
                return
            if skip >= b.shape[0]:
                skip -= b.shape[0]
                continue
            yield b[skip:]
            skip = 0


def _sndfile_blocks(src: Source, block: int) -> Iterator[np.ndarray]:
    # A stream with no stated length is an unfinished recording whose last frame may be torn:
    # small reads keep everything before the tear (a failed read returns nothing).
    step = block if src.exact else SALVAGE_BLOCK
    n = 0
    try:
        for b in _sndfile_reads(src, step):
            n += b.shape[0]
            yield b
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
        if not src.exact:
            return  # the torn last frame of an unfinished recording: keep what came before
        try:  # say how much is good: re-read up to the damage in small steps
            for b in _sndfile_reads(src, SALVAGE_BLOCK, skip=n):
                n += b.shape[0]
                yield b
        except Exception:  # noqa: BLE001, S110 - the damage itself
            pass
        raise DecodeError(n, str(exc)) from None
    if src.exact and n < src.frames - LENGTH_TOLERANCE_S * src.samplerate:
        raise DecodeError(n, "the audio data ends before the length its header states")


def _ffmpeg_blocks(src: Source, damage: Damage | None = None) -> Iterator[np.ndarray]:
    """FFmpeg's decode as float32 blocks, with the damage FFmpeg decoded around counted
    (:class:`~stethodesk.audio.damage.DamageCount`) and left out of the output.

    Output after damage is held back until :data:`AFTER_DAMAGE_S` of it shows that the damage is
    inside the recording. Less than that at the end is where the file ends: trailing bytes after
    the audio (an app's zero padding, a tag), dropped with the damage they caused, or a cut-off
    file, which a container that states its length refuses as cut short (DecodeError). Damage inside fills
    ``damage``; when it holds more audio than was decoded, :class:`DecodeError` refuses the file."""
    import av

    n = 0
    cause = ""  # FFmpeg's message for the first damage
    held: list[np.ndarray] = []  # output after damage, until it shows the damage was inside
    pending = False
    with _open_file(src.path) as fh, av.open(fh, options={"ignore_length": "1"} if src.ignore_length else None) as c:
        s = c.streams.audio[0]
        layout = s.codec_context.layout
        raw = any(name in RAW_FORMATS for name in c.format.name.split(","))
        file_bytes = os.fstat(fh.fileno()).st_size
        count = DamageCount(raw, s.codec_context.bit_rate)
        codec = "mp3" if s.codec_context.name.startswith("mp3") else s.codec_context.name  # mp3float: mp3's parser
        end = EndCheck(raw, "ogg" in c.format.name.split(","), codec, file_bytes)
        # to interleaved float32 at the stream's first rate and channels (libswresample)
        conv = av.AudioResampler(format="flt", layout=layout, rate=src.samplerate)

        def convert(frame):
            nonlocal conv
            try:
                return conv.resample(frame)
            except ValueError:  # a damaged stream changed rate or channels: convert anew
                outs = conv.resample(None)
                conv = av.AudioResampler(format="flt", layout=layout, rate=src.samplerate)
                return outs + conv.resample(frame)

        def hit(message: str) -> None:
            nonlocal pending, cause
            cause = cause or message
            pending = True

        try:
            for packet in c.demux(s):
                if not packet.size:
                    continue
                end.packet(packet)
                out_s = n / src.samplerate
                if not pending:
                    count.mark()  # damage in this packet may turn out to be trailing bytes
                if count.packet(packet.pos, packet.size, out_s):
                    hit("bytes that are no audio frame were skipped")
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    count.failed(packet.size, out_s)
                    hit(str(exc))
                    continue
                size = packet.size
                for frame in frames:
                    start = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
                    if count.frame(start, frame.samples / frame.sample_rate, size, out_s):
                        hit("frames are missing")
                    size = 0
                    for out in convert(frame):
                        b = out.to_ndarray().reshape(-1, src.channels)
                        if pending:
                            held.append(b)
                            if sum(h.shape[0] for h in held) <= AFTER_DAMAGE_S * src.samplerate:
                                continue
                            pending = False  # damage inside the recording: keep what follows
                            for h in held:
                                n += h.shape[0]
                                yield h
                            held = []
                            continue
                        n += b.shape[0]
                        yield b
            if count.finish():
                hit("frames are missing")
            tail = conv.resample(None)
        except av.error.FFmpegError as exc:  # the container itself breaks off
            raise DecodeError(n, str(exc)) from None
    if pending:  # trailing bytes after the audio: not damage, and what they decoded to is dropped
        count.undo()
    else:
        for out in tail:
            b = out.to_ndarray().reshape(-1, src.channels)
            n += b.shape[0]
            yield b
    # 2 % slack: a constant-bit-rate MP3's agreed length is reckoned from the file size, tags included
    short = src.exact and n < src.frames - max(LENGTH_TOLERANCE_S * src.samplerate, 0.02 * src.frames)
    if damage is not None:
        damage.ends_early = end.torn(_tail(src.path, end.last_pos, file_bytes))
    if not count.seen:
        if short:
            raise DecodeError(n, "the audio stream ends before the length the file states")
        return
    got_s = n / src.samplerate
    # A container's exact length says how much is missing better than the estimates; an MP3's
    # "agreed" length may be the file size over the first frame's bit rate (no Xing frame): not that.
    exact = src.exact and not count.is_size_guess(src.frames / src.samplerate, file_bytes)
    report = count.report(src.frames / src.samplerate - got_s - count.lost_s if exact else None)
    if report.seconds > got_s:  # most of it is damaged: refuse rather than analyse a remnant
        raise DecodeError(n, f"{report.frames} damaged frames ({report.seconds:.1f} s) could not be decoded: {cause}",
                          report.seconds)
    if damage is not None:
        damage.frames, damage.seconds, damage.at_s, damage.estimated = (report.frames, report.seconds, report.at_s,
                                                                       report.estimated)


def _tail(path: Path, pos: int, file_bytes: int) -> bytes:
    """The file's bytes from ``pos`` to its end (b"" when unknown or longer than TAIL_MAX)."""
    if pos < 0 or file_bytes - pos > TAIL_MAX:
        return b""
    with _open_file(path) as fh:
        fh.seek(pos)
        return fh.read()


class Downsampler:
    """Mono float32 blocks at ``sr_in`` -> blocks at ``sr_out`` (libswresample, state kept between
    blocks, so the joined output equals resampling the joined input)."""

    def __init__(self, sr_in: int, sr_out: int):
        import av

        self.sr_in, self.sr_out = int(sr_in), int(sr_out)
        self._r = av.AudioResampler(format="flt", layout="mono", rate=self.sr_out)

    def _frame(self, x: np.ndarray):
        import av

        f = av.AudioFrame.from_ndarray(np.ascontiguousarray(x, dtype=np.float32).reshape(1, -1),
                                       format="flt", layout="mono")
        f.sample_rate = self.sr_in
        return f

    def process(self, x: np.ndarray) -> np.ndarray:
        """One block ``(n,)`` -> about ``(n * sr_out / sr_in,)`` float32."""
        if x.size == 0:
            return np.zeros(0, np.float32)
        return self._join(self._r.resample(self._frame(x)))

    def flush(self) -> np.ndarray:
        """The samples still held in the filter, at the end of the stream."""
        return self._join(self._r.resample(None))

    @staticmethod
    def _join(frames) -> np.ndarray:
        parts = [f.to_ndarray().reshape(-1) for f in frames]
        return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)
