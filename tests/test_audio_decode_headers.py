"""Headers that do not match the audio after them (issue 11 re-test, kinds F1 and F2): a WAV or
AIFF copied short whose header still states the whole length, and a WAV whose sizes a recorder
never wrote (0). Inputs are made here: every sample format libsndfile writes, cut or zeroed."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf

from audio_files import tone_and_noise
from stethodesk.audio.fileio import AudioFileError, read_audio, scan

SR, SECONDS = 4000, 12.0


def _write(path, subtype: str) -> bytes:
    sf.write(str(path), tone_and_noise(SR, SECONDS), SR, subtype=subtype)
    return path.read_bytes()


@pytest.mark.parametrize("suffix,subtype", [("wav", "PCM_16"), ("wav", "PCM_24"), ("wav", "FLOAT"),
                                            ("wav", "ULAW"), ("wav", "PCM_U8"), ("aiff", "PCM_16")])
def test_a_file_cut_short_under_a_whole_header_says_how_much_is_left(tmp_path, suffix, subtype):
    path = tmp_path / f"cut.{suffix}"
    data = _write(path, subtype)
    path.write_bytes(data[: len(data) // 3])  # a copy that stopped a third of the way
    for read in (scan, read_audio):
        with pytest.raises(AudioFileError, match=r"damaged or cut short; only 4\.0 of 12\.0 s can be decoded"
                                                 r".*Copy it again"):
            read(path)


def test_a_whole_file_and_a_placeholder_size_are_not_called_cut(tmp_path):
    path = tmp_path / "whole.wav"
    data = bytearray(_write(path, "PCM_16"))
    assert scan(path).note == "" and scan(path).seconds == pytest.approx(SECONDS)
    i = data.index(b"data")  # a streaming recorder's "size unknown": 0xFFFFFFFF
    data[4:8] = data[i + 4 : i + 8] = struct.pack("<I", 0xFFFFFFFF)
    path.write_bytes(bytes(data))
    info = scan(path)
    assert info.seconds == pytest.approx(SECONDS) and "damaged" not in info.note


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_a_wav_whose_sizes_were_never_written_is_read_whole_with_a_note(tmp_path, subtype):
    path = tmp_path / "crashed.wav"
    data = bytearray(_write(path, subtype))
    i = data.index(b"data")
    data[4:8] = data[i + 4 : i + 8] = struct.pack("<I", 0)  # a recorder that crashed before closing
    path.write_bytes(bytes(data))
    info = scan(path)
    assert info.seconds == pytest.approx(SECONDS, abs=0.01)
    assert "header was left unfinished" in info.note
    notes: list[str] = []
    y, sr = read_audio(path, notes=notes)
    assert sr == SR and y.size == pytest.approx(SR * SECONDS, abs=40)
    assert len(notes) == 1 and "header was left unfinished" in notes[0]
    assert np.sqrt(np.mean(y[-SR:] ** 2)) > 0.05  # the last second is there


def test_a_header_with_no_audio_after_it_is_still_refused(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(str(path), np.zeros(0, np.float32), SR, subtype="PCM_16")
    with pytest.raises(AudioFileError, match="no audio samples"):
        scan(path)
