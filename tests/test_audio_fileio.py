"""Bad and odd files through read_audio: every failure is an AudioFileError a user can read."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import numpy as np
import pytest
import soundfile as sf

from stethodesk.audio.fileio import AudioFileError, probe, read_audio
from stethodesk.paths import shared_data_dir

REAL = shared_data_dir() / "circor2022" / "training_data" / "50111_MV.flac"


def _tone(sr: int, seconds: float = 2.0, freq: float = 150.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_real_recording_reads():
    x, sr = read_audio(REAL)
    assert sr == 4000 and x.dtype == np.float32 and x.ndim == 1 and len(x) > 20 * sr
    assert probe(REAL).seconds == pytest.approx(len(x) / sr)


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileError, match="not found"):
        read_audio(tmp_path / "nope.wav")


def test_folder(tmp_path):
    with pytest.raises(AudioFileError, match="folder"):
        read_audio(tmp_path)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioFileError, match="empty"):
        read_audio(p)


def test_corrupt_bytes(tmp_path):
    p = tmp_path / "noise.flac"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioFileError, match="not a readable audio file"):
        read_audio(p)


def test_text_renamed_wav(tmp_path):
    p = tmp_path / "notes.wav"
    p.write_text("Patient 12, mitral area, soft systolic murmur.\n" * 20)
    with pytest.raises(AudioFileError, match=r"notes\.wav: not a readable audio file"):
        read_audio(p)


def test_truncated_flac(tmp_path):
    data = REAL.read_bytes()
    p = tmp_path / "cut.flac"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFileError, match=r"damaged or cut short; only \d+\.\d of 30\.\d s"):
        read_audio(p)


def test_header_only_wav_has_no_samples(tmp_path):
    p = tmp_path / "header.wav"
    sf.write(p, np.zeros(4, np.float32), 4000)
    with pytest.raises(AudioFileError, match="no audio samples"):
        read_audio(p)


def test_eight_channel_file_mixdown_and_channel_choice(tmp_path):
    p = tmp_path / "eight.wav"
    chans = np.stack([_tone(8000, freq=100 + 50 * c) * (c + 1) / 8 for c in range(8)], axis=1)
    sf.write(p, chans, 8000, subtype="FLOAT")
    mix, sr = read_audio(p)
    assert sr == 8000 and mix.shape == (chans.shape[0],)
    np.testing.assert_allclose(mix, chans.mean(axis=1), atol=1e-6)
    last, _ = read_audio(p, channel=7)
    np.testing.assert_allclose(last, chans[:, 7], atol=1e-6)
    with pytest.raises(AudioFileError, match="has 8 channel"):
        read_audio(p, channel=8)


@pytest.mark.parametrize("sr", [48000, 2000])
def test_high_and_low_rate_files(tmp_path, sr):
    p = tmp_path / f"tone_{sr}.flac"
    sf.write(p, _tone(sr, freq=150.0), sr, subtype="PCM_16")
    x, got_sr = read_audio(p)
    assert got_sr == sr and len(x) == 2 * sr
    f = np.fft.rfftfreq(len(x), 1 / sr)
    assert abs(f[np.argmax(np.abs(np.fft.rfft(x)))] - 150.0) < 1.0


def test_ogg_file(tmp_path):
    p = tmp_path / "tone.ogg"
    sf.write(p, _tone(16000), 16000, format="OGG", subtype="VORBIS")
    x, sr = read_audio(p)
    assert sr == 16000 and abs(len(x) - 32000) < 1000


def test_mp3_file(tmp_path):
    """An MP3 made with ffmpeg or lame (Debian ``ffmpeg``); libsndfile >= 1.1 decodes it."""
    wav = tmp_path / "tone.wav"
    mp3 = tmp_path / "tone.mp3"
    sf.write(wav, _tone(22050), 22050)
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(wav), str(mp3)], check=True)
    elif shutil.which("lame"):
        subprocess.run(["lame", "--quiet", str(wav), str(mp3)], check=True)
    else:
        # Not a pytest skip: without an encoder no real MP3 can be made here, so this case
        # checks that a broken .mp3 is refused clearly and says (as a warning in the pytest
        # summary) that real MP3 decoding was not exercised.
        mp3.write_bytes(b"ID3" + b"\0" * 200)
        with pytest.raises(AudioFileError, match="tone.mp3"):
            read_audio(mp3)
        warnings.warn("no ffmpeg or lame: real MP3 decoding not exercised (apt-get install -y ffmpeg)", stacklevel=1)
        return
    x, sr = read_audio(mp3)
    assert sr == 22050 and abs(len(x) - 2 * 22050) < 3000
    f = np.fft.rfftfreq(len(x), 1 / sr)
    assert abs(f[np.argmax(np.abs(np.fft.rfft(x)))] - 150.0) < 2.0


def test_hours_long_file_is_refused_before_decoding(tmp_path):
    p = tmp_path / "long.wav"
    sr = 1000
    with sf.SoundFile(p, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        block = np.zeros(sr * 60, np.int16)
        for _ in range(31):  # 31 minutes > the 30 min limit
            f.write(block)
    with pytest.raises(AudioFileError, match="31 min long; the limit is 30 min"):
        read_audio(p)
    x, _ = read_audio(p, max_seconds=3 * 3600)
    assert len(x) == 31 * 60 * sr


def test_stereo_channels_of_opposite_polarity_do_not_cancel(tmp_path):
    """A stereo file whose channels carry one sound with opposite polarity is mixed to that
    sound, not to silence (issue 11 item 2); an empty second channel does not halve the level."""
    from stethodesk.audio.fileio import mixdown, read_audio

    x, sr = read_audio(shared_data_dir() / "circor2022/training_data/13918_MV.flac")
    x = x[: 5 * sr]
    inverted = tmp_path / "inverted.wav"
    sf.write(inverted, np.stack([x, -x], axis=1), sr, subtype="FLOAT")
    y, _ = read_audio(inverted)
    assert np.allclose(np.abs(y), np.abs(x), atol=1e-6)
    one_sided = mixdown(np.stack([np.zeros_like(x), x], axis=1), sr)
    assert np.allclose(one_sided, x, atol=1e-6)
    same = mixdown(np.stack([x, x], axis=1), sr)
    assert np.allclose(same, x, atol=1e-6)
