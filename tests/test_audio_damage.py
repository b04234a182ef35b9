"""Damaged frames in the middle of a compressed file (issue 11 item 1): FFmpeg decodes around them,
and the reader must say so. A real heart recording is encoded here to MP3, M4A (AAC) and OGG
(Vorbis), then bytes in its middle are overwritten or cut out. The note names how many frames and
seconds were left out and how much was read; a whole file gets no note; a mostly damaged file is
refused with how much could be decoded."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from audio_files import encode, overwrite
from stethodesk.audio.fileio import AudioFileError, read_audio, scan
from stethodesk.paths import shared_data_dir

REAL = shared_data_dir() / "circor2022" / "training_data" / "50111_MV.flac"  # 30.7 s at 4 kHz
SR = 8000  # the lowest rate MP3 and AAC encoders take: the recording resampled to it
SECONDS = 20.0
NOTE = re.compile(r"(\d+) damaged frames? \((about )?(\d+\.\d) s\) could not be decoded and were left out "
                  r"\(the first (\d+\.\d) s into the audio read\); the other (\d+\.\d) s were read and are used\.")
# s: how far the reported damage may be from the truth (the clean decode minus the damaged one)
TOLERANCE_S = 0.15


@pytest.fixture(scope="module")
def heart() -> np.ndarray:
    x, sr = sf.read(str(REAL), dtype="float32")
    x = resample_poly(x[: int(sr * SECONDS)], SR, sr).astype(np.float32)
    return 0.5 * x / np.max(np.abs(x))


def _write(path, kind: str, x: np.ndarray) -> None:
    if kind == "mp3":  # libmp3lame's default: constant bit rate, with an Info frame
        encode(path, x[:, None], SR, "libmp3lame", "mp3")
    elif kind == "vbr.mp3":  # a phone app's: variable bit rate, no Xing frame, so no stated length
        encode(path, x[:, None], SR, "libmp3lame", "mp3", {"write_xing": "0"}, vbr_quality=4)
    elif kind == "m4a":
        encode(path, x[:, None], SR, "aac", "mp4", {"movflags": "faststart"})
    else:
        sf.write(path, x, SR, format="OGG", subtype="VORBIS")


def _damage(path, how: str) -> None:
    if how == "overwritten":
        overwrite(path)
    else:  # "cut": 2000 bytes taken out of the middle
        b = bytearray(path.read_bytes())
        del b[len(b) // 2 : len(b) // 2 + 2000]
        path.write_bytes(bytes(b))


CASES = [  # (file kind, damage); an M4A's sample table points past a cut chunk: see the next test
    ("mp3", "overwritten"), ("mp3", "cut"), ("vbr.mp3", "overwritten"), ("vbr.mp3", "cut"),
    ("m4a", "overwritten"), ("ogg", "overwritten"), ("ogg", "cut"),
]


@pytest.mark.parametrize(("kind", "how"), CASES, ids=[f"{k}-{h}" for k, h in CASES])
def test_damage_in_the_middle_is_left_out_and_named(tmp_path, heart, kind, how):
    clean = tmp_path / f"clean.{kind}"
    _write(clean, kind, heart)
    notes: list[str] = []
    whole, sr = read_audio(clean, notes=notes)
    assert notes == [] and scan(clean).note == ""  # an undamaged file gets no note
    assert abs(whole.size / sr - SECONDS) < 0.3  # no Info frame: the encoder delay stays in

    hit = tmp_path / f"hit.{kind}"
    hit.write_bytes(clean.read_bytes())
    _damage(hit, how)
    y, got_sr = read_audio(hit, notes=notes)
    truth = (whole.size - y.size) / sr  # what the damage took out of the decoded audio
    print(f"{kind} {how}: read {y.size / sr:.2f} s, damage {truth:.2f} s; {notes}")
    assert got_sr == sr and 0.1 < truth < 0.3 * SECONDS  # the input is what this test is about
    assert len(notes) == 1 and notes[0].startswith(f"hit.{kind}: ")
    m = NOTE.search(notes[0])
    assert m, notes[0]
    frames, seconds, at_s, read_s = int(m[1]), float(m[3]), float(m[4]), float(m[5])
    if (kind, how) == ("vbr.mp3", "cut"):  # no stated length, and a cut leaves no trace of its own
        assert m[2] and 0 < seconds < truth  # "about", and an underestimate: the known limit
    elif m[2]:  # overwritten bytes at the stream's average bytes per second (a VBR file's vary)
        assert abs(seconds - truth) <= max(TOLERANCE_S, 0.15 * truth)
    else:  # from timestamps or the stated length
        assert abs(seconds - truth) <= TOLERANCE_S
    assert frames >= 1 and 0.3 * SECONDS < at_s < 0.7 * SECONDS  # the damage is in the middle
    assert read_s == pytest.approx(y.size / sr, abs=0.05)
    info = scan(hit)  # the store checks files with scan: same length, same note
    assert info.frames == y.size and info.note == notes[0]


def test_an_m4a_with_a_chunk_cut_out_of_its_middle_is_refused_as_cut(tmp_path, heart):
    """The MP4 sample table still points at the old offsets: nothing after the cut decodes, which
    is what a file cut short looks like, and is said the same way."""
    m4a = tmp_path / "cut.m4a"
    _write(m4a, "m4a", heart)
    _damage(m4a, "cut")
    with pytest.raises(AudioFileError, match=r"cut\.m4a: the file is damaged or cut short; only 1\d\.\d of 20\.0 s can be decoded"):
        read_audio(m4a)


@pytest.mark.parametrize("kind", ["mp3", "m4a", "ogg"])
def test_a_mostly_damaged_file_is_refused_with_how_much_was_decoded(tmp_path, heart, kind):
    p = tmp_path / f"wreck.{kind}"
    _write(p, kind, heart)
    overwrite(p, at=0.1, n=int(p.stat().st_size * 0.7))
    with pytest.raises(AudioFileError, match=rf"wreck\.{kind}: the file is damaged or cut short; only \d\.\d of (19|20)\.\d s can be decoded"):
        read_audio(p)
    with pytest.raises(AudioFileError, match="damaged"):
        scan(p)
