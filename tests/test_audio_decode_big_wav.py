"""A plain WAV of 4 GB or more (issue 11 item 1): its header's 32-bit sizes wrap, and libsndfile
read only what the wrapped size said (23.3 of 29 min of an 8-channel 192 kHz file, silently)."""

from __future__ import annotations

import struct

import numpy as np
import soundfile as sf

from stethodesk.audio import decode
from stethodesk.audio.fileio import probe, read_audio


def _wav_claiming_less(path, seconds=3.0, claimed_s=1.0, sr=8000, channels=2):
    """A 16-bit WAV of ``seconds`` whose data chunk states only ``claimed_s`` (what a wrapped size does)."""
    t = np.arange(int(seconds * sr)) / sr
    x = np.stack([0.3 * np.sin(2 * np.pi * 60 * t) * (1 + np.sin(2 * np.pi * 1.2 * t))] * channels, axis=1)
    sf.write(path, x, sr, subtype="PCM_16")
    b = bytearray(path.read_bytes())
    at = b.find(b"data")
    b[at + 4 : at + 8] = struct.pack("<I", int(claimed_s * sr) * 2 * channels)
    path.write_bytes(bytes(b))
    return x


def test_a_wav_past_the_riff_limit_is_read_to_its_end(tmp_path, monkeypatch):
    p = tmp_path / "wrapped.wav"
    x = _wav_claiming_less(p)
    assert sf.info(str(p)).frames == 8000  # what libsndfile alone would read: a third
    monkeypatch.setattr(decode, "RIFF_LIMIT", 1000)  # this small file stands for one of 4 GB
    info = probe(p)
    assert info.frames == x.shape[0] and info.exact and "larger than 4 GB" in info.note
    notes: list[str] = []
    y, sr = read_audio(p, notes=notes)
    assert sr == 8000 and y.shape == (x.shape[0],)
    assert np.corrcoef(y, x[:, 0])[0, 1] > 0.99  # the last two seconds are the file's audio, not noise


def test_a_sparse_file_of_over_4_gb_is_measured_by_its_bytes(tmp_path):
    """The real size, without writing 4 GB: a sparse file (the header wrapped, the rest zeros)."""
    p = tmp_path / "big.wav"
    _wav_claiming_less(p, seconds=1.0, claimed_s=0.5)
    size = 2**32 + 2**20
    with open(p, "r+b") as fh:
        fh.truncate(size)
    info = probe(p)
    assert info.exact and "larger than 4 GB" in info.note
    assert abs(info.frames - size // 4) < 64  # 2 channels x 16 bit = 4 bytes a frame, less the header
