"""Compressed streams cut off part-way (``head -c``, a copy that stopped) are read up to the cut
and say so (issue 11 re-test F3): raw MP3 and ADTS AAC whose last frame is torn, OGG (Opus,
Vorbis) whose last page is torn. FFmpeg reads all of them to their last whole frame silently."""

from __future__ import annotations

import pytest
import soundfile as sf

from audio_files import encode, tone_and_noise
from stethodesk.audio.fileio import read_audio, scan

SECONDS = 12.0


def _make(path, kind: str) -> int:
    """Write a clean ``kind`` file of SECONDS; returns its rate."""
    if kind == "vorbis":
        sf.write(str(path), tone_and_noise(22050, SECONDS), 22050, format="OGG", subtype="VORBIS")
        return 22050
    codec, fmt, sr = {"mp3": ("libmp3lame", "mp3", 22050), "adts": ("aac", "adts", 22050),
                      "opus": ("libopus", "ogg", 48000)}[kind]
    mp3 = kind == "mp3"  # VBR without a Xing frame: no stated length tells a cut (with one it is refused)
    encode(path, tone_and_noise(sr, SECONDS)[:, None], sr, codec, fmt, {"write_xing": "0"} if mp3 else None,
           vbr_quality=4 if mp3 else None)
    return sr


@pytest.mark.parametrize("kind,suffix", [("mp3", "mp3"), ("adts", "aac"), ("opus", "opus"), ("vorbis", "ogg")])
@pytest.mark.parametrize("fraction", [0.5, 0.77])
def test_a_stream_cut_off_part_way_is_read_to_the_cut_with_a_note(tmp_path, kind, suffix, fraction):
    whole, cut = tmp_path / f"whole.{suffix}", tmp_path / f"cut.{suffix}"
    _make(whole, kind)
    data = whole.read_bytes()
    assert scan(whole).note == ""
    cut.write_bytes(data[: int(len(data) * fraction) + 7])  # +7: inside a frame, not on a boundary
    info = scan(cut)
    assert info.seconds < 0.9 * SECONDS
    assert info.note.startswith("cut.") and "ends early" in info.note and f"{info.seconds:.1f} s were read" in info.note
    notes: list[str] = []
    y, sr = read_audio(cut, notes=notes)
    assert notes == [info.note] and y.size == pytest.approx(info.seconds * sr, abs=2)


def test_tags_after_the_last_frame_are_no_cut(tmp_path):
    mp3 = tmp_path / "tagged.mp3"
    _make(mp3, "mp3")
    with open(mp3, "ab") as f:  # an ID3v1 tag, then an APE tag's footer: bytes after the audio, no frame
        f.write(b"TAG" + b"t" * 125 + b"APETAGEX" + bytes(24))
    assert scan(mp3).note == ""
