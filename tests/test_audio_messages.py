"""The reader's messages name a file once, safely, with no Python repr in them (issue 11 re-test
F15): a non-UTF-8 name, a name with a newline, a text file, and an M4A cut before its index."""

from __future__ import annotations

import os

import numpy as np
import pytest
import soundfile as sf

from audio_files import encode, tone_and_noise
from stethodesk.audio.fileio import AudioFileError, display_name, read_audio, scan


def test_a_text_file_with_a_latin1_name_is_named_once_without_a_repr(tmp_path):
    name = os.fsencode(str(tmp_path)) + b"/bad\xe9.wav"
    with open(name, "wb") as f:
        f.write(b"this is not audio\n" * 10)
    with pytest.raises(AudioFileError) as err:
        read_audio(os.fsdecode(name))  # as the CLI gets it: str with a lone surrogate
    msg = str(err.value)
    assert msg.startswith("bad\\xe9.wav: not a readable audio file") and msg.count("bad") == 1
    assert "Format not recognised" in msg
    for repr_bit in ("<_io", "BufferedReader", "name=b'", "\udce9", "Error opening"):
        assert repr_bit not in msg
    msg.encode("utf-8")  # no lone surrogate: prints and serialises anywhere


def test_control_characters_in_a_name_cannot_forge_lines(tmp_path):
    from stethodesk.audio.fileio import display_path

    path = tmp_path / "new\nline\x1b[31m.wav"
    sf.write(str(path), tone_and_noise(4000, 4.0), 4000)
    assert display_name(path) == "new\\nline\\x1b[31m.wav"
    assert "\n" not in display_path(path) and display_path(path).endswith("/new\\nline\\x1b[31m.wav")
    assert display_path(os.fsencode(str(path))) == display_path(path)  # bytes and str: one rule
    path.write_bytes(b"junk" * 10)
    with pytest.raises(AudioFileError) as err:
        scan(path)
    assert "\n" not in str(err.value) and str(err.value).startswith("new\\nline\\x1b[31m.wav: ")


def test_an_m4a_cut_before_its_index_is_called_cut_short(tmp_path):
    whole, cut = tmp_path / "whole.m4a", tmp_path / "cut.m4a"
    encode(whole, tone_and_noise(22050, 10.0)[:, None], 22050, "aac", "mp4")  # index (moov) at the end
    data = whole.read_bytes()
    assert data.index(b"moov") > data.index(b"mdat")
    cut.write_bytes(data[: len(data) // 3])
    with pytest.raises(AudioFileError, match=r"^cut\.m4a: the file is damaged or cut short.*Copy it again") as err:
        scan(cut)
    assert "not a readable audio file" not in str(err.value)
    other = tmp_path / "notes.m4a"  # a non-MP4 file named .m4a is still "not a readable audio file"
    other.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioFileError, match="not a readable audio file"):
        scan(other)
