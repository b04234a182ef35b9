"""Every kind of file a stethoscope app or a phone exports, made here and read in full (issue 11
items 1 and 8): MP3 without a Xing frame, AAC in M4A, WAV in all its sample formats, rates no
stethoscope produces, and the memory a high-rate multi-channel file takes."""

from __future__ import annotations

import re
import tracemalloc

import av
import numpy as np
import pytest
import soundfile as sf

from audio_files import encode, tone_and_noise
from stethodesk.audio.fileio import AudioFileError, probe, read_audio, scan

# Without an Info frame the decoder cannot drop the encoder's delay and padding: LAME's 576
# samples plus the decoder's 529, and up to one frame (576 or 1152 samples) of padding at the end.
MP3_SLACK = 576 + 529 + 1152
MP3_FRAME = 1152  # samples in an MPEG-1 layer III frame


def test_vbr_mp3_without_xing_frame_is_read_to_the_end(tmp_path):
    from stethodesk.store import Store

    sr, seconds = 22050, 21.3
    x = tone_and_noise(sr, seconds)
    mp3 = tmp_path / "phone.mp3"
    encode(mp3, x[:, None], sr, "libmp3lame", "mp3", {"write_xing": "0"}, vbr_quality=4)
    # The trap is real: libsndfile's header length for this file is a fraction of it.
    assert sf.info(str(mp3)).duration < 0.5 * seconds
    info = probe(mp3)
    assert info.decoder == "ffmpeg" and not info.exact
    y, got_sr = read_audio(mp3)
    assert got_sr == sr
    assert 0 <= y.size - x.size <= MP3_SLACK  # all of it, never less than the source
    assert np.sqrt(np.mean(y[-sr:] ** 2)) > 0.05  # the noise of the last second is there
    assert scan(mp3).frames == y.size
    with Store(tmp_path / "home") as store:  # the exam store records the decoded length
        rec = store.add_recording(store.add_exam(store.add_patient().id).id, mp3, "mitral")
        assert rec.duration_s == pytest.approx(y.size / sr)


def test_m4a_aac_from_a_phone_app_with_channel_choice(tmp_path):
    sr, n = 44100, 44100 * 5
    t = np.arange(n) / sr
    left, right = 0.3 * np.sin(2 * np.pi * 150 * t), 0.3 * np.sin(2 * np.pi * 400 * t)
    m4a = tmp_path / "export.m4a"
    encode(m4a, np.stack([left, right], axis=1), sr, "aac", "mp4")
    assert probe(m4a).exact and probe(m4a).channels == 2
    for channel, freq in ((0, 150.0), (1, 400.0)):
        y, got_sr = read_audio(m4a, channel=channel)
        assert got_sr == sr and abs(y.size - n) <= 2048  # AAC frames are 1024 samples
        f = np.fft.rfftfreq(y.size, 1 / sr)
        assert abs(f[np.argmax(np.abs(np.fft.rfft(y)))] - freq) < 1.0


def test_m4a_cut_short_says_how_much_was_read(tmp_path):
    sr = 22050
    m4a = tmp_path / "cut.m4a"
    encode(m4a, tone_and_noise(sr, 20.0)[:, None], sr, "aac", "mp4", {"movflags": "faststart"})
    data = m4a.read_bytes()
    m4a.write_bytes(data[: len(data) // 2])  # the sample table (at the front) still says 20 s
    with pytest.raises(AudioFileError, match=r"cut\.m4a: the file is damaged or cut short; only \d+\.\d of 20\.\d s"):
        read_audio(m4a)


WAV_KINDS = [  # (format, subtype, largest error against the float source)
    ("WAV", "PCM_U8", 1 / 64),
    ("WAV", "PCM_16", 1e-4),
    ("WAV", "PCM_24", 1e-6),
    ("WAV", "PCM_32", 1e-6),
    ("WAV", "FLOAT", 0.0),
    ("WAV", "DOUBLE", 1e-7),
    ("WAV", "ALAW", 0.02),
    ("WAV", "ULAW", 0.02),
    ("WAVEX", "PCM_24", 1e-6),  # WAVE_FORMAT_EXTENSIBLE
    ("WAVEX", "FLOAT", 0.0),
]


@pytest.mark.parametrize(("fmt", "subtype", "tol"), WAV_KINDS, ids=[f"{f}-{s}" for f, s, _ in WAV_KINDS])
def test_wav_sample_formats(tmp_path, fmt, subtype, tol):
    sr = 8000
    x = tone_and_noise(sr, 4.0).clip(-0.9, 0.9)
    p = tmp_path / f"{subtype}.wav"
    sf.write(p, x, sr, format=fmt, subtype=subtype)
    y, got_sr = read_audio(p)
    assert got_sr == sr and y.size == x.size
    assert np.max(np.abs(y - x)) <= tol


def test_float_wav_above_full_scale_keeps_its_level(tmp_path):
    p = tmp_path / "hot.wav"
    x = 1.6 * tone_and_noise(8000, 4.0) + 0.2
    sf.write(p, x, 8000, subtype="FLOAT")
    y, _ = read_audio(p)
    np.testing.assert_array_equal(y, x)  # nothing clipped or rescaled on the way in


@pytest.mark.parametrize("rate", [1, 500, 1_000_000])
def test_sample_rates_no_stethoscope_produces_are_refused(tmp_path, rate):
    p = tmp_path / f"rate{rate}.wav"
    sf.write(p, np.zeros(4 * max(rate, 16), np.float32)[:200_000], rate, subtype="FLOAT")
    with pytest.raises(AudioFileError, match=rf"rate{rate}\.wav: sample rate {rate} Hz; a stethoscope recording has 1000 to 768000 Hz"):
        read_audio(p)
    with pytest.raises(AudioFileError, match="sample rate"):
        scan(p)


def test_high_rate_multichannel_file_is_read_in_bounded_memory(tmp_path):
    """60 s of 384 kHz stereo: the old reader held 184 MB of float32 channels; decoding, mixing
    and resampling block by block holds the 48 kHz mono output (11.5 MB) and a few blocks."""
    sr, seconds = 384_000, 60
    p = tmp_path / "hires.wav"
    t = np.arange(sr) / sr
    second = (0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    with sf.SoundFile(p, "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
        for _ in range(seconds):
            f.write(np.stack([second, -second], axis=1))  # opposite polarity: must not cancel
    tracemalloc.start()
    try:
        y, got_sr = read_audio(p)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"peak traced memory reading 60 s of 384 kHz stereo: {peak / 1e6:.1f} MB")
    assert got_sr == 48_000 and abs(y.size - seconds * 48_000) <= 64
    assert peak < 48e6
    mid = y[48_000 : 2 * 48_000]
    assert 0.29 < np.max(np.abs(mid)) < 0.31  # the tone, resampled, at its level
    f = np.fft.rfftfreq(mid.size, 1 / 48_000)
    assert abs(f[np.argmax(np.abs(np.fft.rfft(mid)))] - 150.0) < 1.0


def test_path_of_more_than_1024_bytes_opens(tmp_path):
    d = tmp_path
    for i in range(6):
        d = d / (f"{i}" * 200)
    d.mkdir(parents=True)
    p = d / "caf\xe9.wav"
    sf.write(str(tmp_path / "short.wav"), tone_and_noise(4000, 4.0), 4000)
    (tmp_path / "short.wav").rename(p)
    assert len(bytes(p)) > 1024
    y, sr = read_audio(p)
    assert sr == 4000 and y.size == 16000


def test_mp3_with_a_frame_that_turns_stereo_is_read_whole(tmp_path):
    """A damaged frame header that says stereo in a mono MP3 (found by the fuzz test): FFmpeg
    decodes it as a stereo frame, which once raised a bare ValueError from the converter."""
    mp3 = tmp_path / "damaged.mp3"
    encode(mp3, tone_and_noise(8000, 2.0)[:, None], 8000, "libmp3lame", "mp3", {"write_xing": "0"}, vbr_quality=4)
    with av.open(str(mp3)) as c:
        pos = [p.pos for p in c.demux(c.streams.audio[0]) if p.size]
    data = bytearray(mp3.read_bytes())
    data[pos[5] + 3] &= 0x3F  # channel mode bits of the 6th frame header: mono (11) -> stereo (00)
    mp3.write_bytes(bytes(data))
    with av.open(str(mp3)) as c:  # the input is what this test is about
        layouts = {f.layout.name for f in c.decode(audio=0)}
    assert layouts == {"mono", "stereo"}
    y, sr = read_audio(mp3)
    assert sr == 8000 and 0 <= y.size - 16000 <= MP3_SLACK


def test_mp3_that_changes_rate_midway_is_read_and_the_seam_named(tmp_path):
    """8 kHz then 16 kHz: FFmpeg decodes both parts (the second converted to the first's rate);
    the packet across the seam cannot be decoded, and the note says where it was left out."""
    a, b = tmp_path / "a.mp3", tmp_path / "b.mp3"
    encode(a, tone_and_noise(8000, 4.0)[:, None], 8000, "libmp3lame", "mp3", {"write_xing": "0"})
    encode(b, tone_and_noise(16000, 4.0)[:, None], 16000, "libmp3lame", "mp3", {"write_xing": "0"})
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    notes = []
    y, sr = read_audio(joined, notes=notes)
    assert sr == 8000 and 8.0 < y.size / sr < 8.5  # both parts, 4 s each
    assert len(notes) == 1 and re.match(r"joined\.mp3: [12] damaged frames? \(about 0\.\d s\) could not be decoded and "
                                        r"were left out \(the first 4\.\d s into the audio read\)", notes[0]), notes


def test_more_channels_than_any_interface_are_refused_before_decoding(tmp_path):
    p = tmp_path / "many.wav"
    sf.write(p, np.zeros((400, 65), np.float32), 8000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="many.wav: the header gives 65 audio channels; 1 to 64 can be read"):
        read_audio(p)
    sf.write(p, np.zeros((400, 64), np.float32), 8000, subtype="FLOAT")
    assert read_audio(p, channel=63)[0].size == 400


def test_mp3_with_a_xing_frame_cut_short_says_how_much_was_read(tmp_path):
    """With a Xing/Info frame both decoders agree on the true length, so a cut copy is caught;
    without one nothing can be checked (test_vbr_mp3_without_xing_frame_is_read_to_the_end)."""
    sr = 22050
    x = tone_and_noise(sr, 21.3)
    mp3 = tmp_path / "xing.mp3"
    encode(mp3, x[:, None], sr, "libmp3lame", "mp3", vbr_quality=4)
    info = probe(mp3)
    assert info.exact and info.frames == x.size
    y, _ = read_audio(mp3)
    assert y.size == x.size  # the Info frame also says how much delay and padding to drop
    data = mp3.read_bytes()
    mp3.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFileError, match=r"xing\.mp3: the file is damaged or cut short; only 1\d\.\d of 21\.3 s"):
        read_audio(mp3)


def test_mp3_with_bytes_after_its_audio_is_whole_and_damage_inside_is_named(tmp_path):
    """Zero padding or junk after the last frame (an app that pre-allocated its file) is not damage:
    all the audio is read, with no note. Bytes FFmpeg cannot decode with more audio after them
    are: the rest is read and the note says where (tests/test_audio_damage.py for how much)."""
    sr = 22050
    x = tone_and_noise(sr, 21.3)
    clean = tmp_path / "clean.mp3"
    encode(clean, x[:, None], sr, "libmp3lame", "mp3", {"write_xing": "0"})
    data = clean.read_bytes()
    junk = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    whole, _ = read_audio(clean)
    for name, body in (("padded.mp3", data + bytes(200_000)), ("tail.mp3", data + junk * 60)):
        (tmp_path / name).write_bytes(body)
        notes = []
        y, _ = read_audio(tmp_path / name, notes=notes)
        assert y.size == whole.size and notes == [], name
    (tmp_path / "hit.mp3").write_bytes(data[: len(data) // 2] + junk + data[len(data) // 2 :])
    notes = []
    y, _ = read_audio(tmp_path / "hit.mp3", notes=notes)
    assert abs(y.size - whole.size) <= 2 * MP3_FRAME  # the junk was inserted: only the frame it hit is lost
    assert len(notes) == 1 and re.match(r"hit\.mp3: \d+ damaged frames? \(about \d\.\d s\) could not be decoded and "
                                        r"were left out \(the first 10\.\d s into the audio read\)", notes[0]), notes
