"""Counting the damaged stretches inside a stream that FFmpeg decodes around (issue 11 item 1).

No Qt here. FFmpeg's decoders conceal damage: a packet they cannot decode raises (PyAV's
``av.error.InvalidDataError``) and the demuxer resyncs past bytes that are no frame at all, so the
decoded audio is shorter than the recording with nothing said. :class:`DamageCount` reads what
the library reports per packet and per frame, never the bytes themselves:

- packets whose decoding fails (counted as damaged frames);
- frames whose timestamp jumps past where the previous frame ended (the audio of the packets
  that failed or are missing, from the container's timestamps: MP4/M4A, OGG, Matroska), by a
  frame or more and not undone by the next frame's timestamp (timestamp jitter, not loss);
- in a raw stream (MP3, ADTS AAC), whose timestamps the parser only counts up frame by frame,
  the bytes of the packets that failed and the bytes the demuxer skipped between one packet and
  the next (junk it resynced past), converted to seconds at the stream's own bytes per second;
- in a container that states its exact length, the part of it no frame was decoded for.

FFmpeg's log (``av.logging``) is not used: it is process-wide and off by default in PyAV, and
the per-packet errors above say the same per file.
"""

from __future__ import annotations

from dataclasses import dataclass

# Demuxers whose packets follow each other in the file, so a gap between them is skipped bytes.
RAW_FORMATS = ("mp3", "aac", "adts")
GAP_TOLERANCE_S = 0.002  # s: timestamp rounding between frames, not a gap
# s: a container's first frame may start this late (a phone's audio/video sync offset); later
# than that, what came before it was lost (an OGG whose first pages are damaged starts mid-way).
START_TOLERANCE_S = 0.1
BYTE_SLACK = 16  # bytes between packets that are padding, not damage
OGG_PAGE_HEADER_MAX = 27 + 255  # bytes: an OGG page's header and its largest segment table
TORN_PAD = 8192  # zero bytes that complete any MP3 / ADTS frame whose end was cut off
TAIL_MAX = 65536  # bytes: a last packet and a torn frame after it are shorter (more is a tag, not a tear)


@dataclass
class Damage:
    """What could not be decoded in a file that was otherwise read.

    ``frames``: damaged or missing codec frames (an MP3 frame is 576 or 1152 samples, an AAC frame
    1024); ``seconds``: the audio they held (estimated from timestamps, skipped bytes or the
    stated length); ``at_s``: where in the decoded output the first one was left out (s).
    ``estimated``: ``seconds`` comes from byte counts at the stream's bit rate (a raw MP3 stream
    with no trusted stated length): bytes that replaced audio count right, a chunk cut out leaves
    no trace of its length, and junk inserted between frames counts as audio it did not replace.
    ``ends_early``: the file ends part-way through a frame or an OGG page (see :class:`EndCheck`).
    """

    frames: int = 0
    seconds: float = 0.0
    at_s: float = 0.0
    estimated: bool = False
    ends_early: bool = False  # the file stops inside its last frame or page (a copy cut short)


class EndCheck:
    """Whether a stream's file ends part-way through its last frame or page, which a file cut off
    by ``head -c`` or a stopped copy does, while FFmpeg reads such a file to its last whole frame
    with nothing said. Call :meth:`packet` for each demuxed packet, then :meth:`torn`.

    - raw MP3 / ADTS AAC: in the bytes from the last packet to the end of the file, FFmpeg's own
      parser for the codec finds one whole frame more once zeros stand in for missing bytes (a
      frame header there states more bytes than follow it; a tag or junk has no frame header);
    - OGG: more bytes follow the last page FFmpeg read than an OGG page header holds (a torn last
      page, which the demuxer drops; the final page of a whole file ends the file).
    """

    def __init__(self, raw: bool, ogg: bool, codec: str, file_bytes: int):
        self.raw, self.ogg, self.codec, self.file_bytes = raw, ogg, codec, file_bytes
        self.last_pos = -1  # byte where the last packet starts (raw streams)
        self._page = (-1, 0)  # (byte where the OGG page of the last packets starts, their bytes)

    def packet(self, packet) -> None:
        pos = packet.pos if packet.pos is not None else -1
        if self.raw:
            self.last_pos = pos
        elif self.ogg and pos >= 0:
            self._page = (pos, packet.size + (self._page[1] if pos == self._page[0] else 0))

    def torn(self, tail: bytes = b"") -> bool:
        """``tail``: a raw stream's bytes from :attr:`last_pos` to the end of the file."""
        if self.ogg and self._page[0] >= 0:
            return self.file_bytes - sum(self._page) > OGG_PAGE_HEADER_MAX + BYTE_SLACK
        if not self.raw or not tail:
            return False
        import av

        def whole_frames(b: bytes) -> int:
            return len(av.CodecContext.create(self.codec, "r").parse(b))

        return whole_frames(tail + bytes(TORN_PAD)) > whole_frames(tail)


class DamageCount:
    """Damage met while one stream is decoded: call :meth:`packet` before decoding each packet,
    :meth:`failed` when decoding it raises, :meth:`frame` for each decoded frame, with the
    number of seconds already output. :meth:`mark` / :meth:`undo` drop what was counted after a
    point (damage that turned out to be trailing bytes after the audio)."""

    def __init__(self, raw: bool, bit_rate: int = 0):
        self.raw = raw
        self.bit_rate = int(bit_rate or 0)  # bits/s the codec states: bytes -> s before any frame decoded
        self.failed_packets = 0
        self.lost_s = 0.0
        self.at_s: float | None = None
        # s: where the next frame should start; a container's stream starts at 0
        self._expect: float | None = None if raw else 0.0
        self._started = False
        self._end_pos: int | None = None  # byte after the last packet
        self._first_pos: int | None = None  # byte of the first packet (after any ID3 tag)
        self._good_bytes = 0
        self._good_s = 0.0
        self._frame_s = 0.0  # s in the longest decoded frame, for counting frames in a gap
        self._jump: tuple[float, float] | None = None  # (s, out_s) of a jump ahead the next frame may undo
        self._saved: tuple[int, float, float | None, tuple[float, float] | None] | None = None

    @property
    def seen(self) -> bool:
        return self.failed_packets > 0 or self.lost_s > 0

    def _note(self, out_s: float) -> None:
        if self.at_s is None:
            self.at_s = out_s

    def _bytes_s(self, n: int) -> float:
        """Seconds of audio ``n`` bytes of this raw stream hold (0 before anything is known)."""
        rate = self._good_bytes / self._good_s if self._good_s > 0 else self.bit_rate / 8
        return n / rate if rate > 0 else 0.0

    def packet(self, pos: int | None, size: int, out_s: float) -> bool:
        """A packet at byte ``pos`` (None or -1 when unknown) of ``size`` bytes; True if bytes
        before it were skipped (damage)."""
        skipped = False
        if self.raw and pos is not None and pos >= 0:
            if self._end_pos is not None and pos > self._end_pos + BYTE_SLACK:
                self.lost_s += self._bytes_s(pos - self._end_pos)
                self._note(out_s)
                skipped = True
            self._end_pos = pos + size
            self._first_pos = pos if self._first_pos is None else self._first_pos
        return skipped

    def is_size_guess(self, stated_s: float, file_bytes: int) -> bool:
        """Whether a raw stream's stated length ``stated_s`` is only the file size over the first
        frame's bit rate (an MP3 without a Xing/Info frame, whose length both decoders guess
        alike): then it says nothing about missing audio. A Xing length that differs from that
        guess is the encoder's count of what was written."""
        if not self.raw or self.bit_rate <= 0:
            return False
        guess_s = (file_bytes - (self._first_pos or 0)) * 8 / self.bit_rate
        return abs(stated_s - guess_s) <= max(0.02 * stated_s, 2 * self._frame_s)

    def failed(self, size: int, out_s: float) -> None:
        """The packet of ``size`` bytes could not be decoded."""
        self.failed_packets += 1
        if self.raw:
            self.lost_s += self._bytes_s(size)
        self._note(out_s)

    def frame(self, start_s: float | None, seconds: float, size: int, out_s: float) -> bool:
        """A decoded frame starting at ``start_s`` (its timestamp, None when it has none) of
        ``seconds`` from a packet of ``size`` bytes; True if it starts after a gap (damage)."""
        gap = False
        if start_s is not None and not self.raw:
            tolerance = GAP_TOLERANCE_S if self._started else START_TOLERANCE_S
            if self._jump is not None:  # the previous frame jumped ahead: damage unless this one jumps back
                jump_s, at_s = self._jump
                self._jump = None
                if start_s > self._expect - jump_s + GAP_TOLERANCE_S:
                    gap = self._lost(jump_s, at_s)
            if self._expect is not None and start_s - self._expect > tolerance:
                jump_s = start_s - self._expect
                # Less than a frame is no lost frame: FFmpeg's Vorbis timestamps jump by the
                # difference of two block sizes (+10.16 ms) and back (issue 11 re-test F4).
                if not self._started or jump_s >= self._frame_s - GAP_TOLERANCE_S:
                    self._jump = (jump_s, out_s)
            self._started = True
            self._expect = start_s + seconds
        self._good_bytes += size
        self._good_s += seconds
        self._frame_s = max(self._frame_s, seconds)  # the first frame may be cut by the encoder delay
        return gap

    def _lost(self, seconds: float, out_s: float) -> bool:
        self.lost_s += seconds
        self._note(out_s)
        return True

    def finish(self) -> bool:
        """The stream ended: a jump ahead on its last frame, which no frame undid, is damage (True)."""
        jump, self._jump = self._jump, None
        return self._lost(*jump) if jump is not None else False

    def mark(self) -> None:
        self._saved = (self.failed_packets, self.lost_s, self.at_s, self._jump)

    def undo(self) -> None:
        if self._saved is not None:
            self.failed_packets, self.lost_s, self.at_s, self._jump = self._saved

    def report(self, shortfall_s: float | None = None) -> Damage:
        """The damage counted; ``shortfall_s``: stated length not covered by output or counted
        gaps (added: an exact container says how much is missing better than an estimate; None
        when no length is stated)."""
        seconds = self.lost_s + max(0.0, shortfall_s or 0.0)
        frames = round(seconds / self._frame_s) if self._frame_s > 0 else 0
        return Damage(max(frames, self.failed_packets), seconds, self.at_s or 0.0,
                      estimated=self.raw and shortfall_s is None)
