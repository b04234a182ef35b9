"""Audio files the tests make themselves (no dataset audio in the repo): FFmpeg's encoders through
PyAV for MP3 and AAC/M4A, and a test signal whose end a short read would miss."""

from __future__ import annotations

import av
import numpy as np


def tone_and_noise(sr: int, seconds: float) -> np.ndarray:
    """150 Hz tone for 3 s, then noise to the end: a reader that stops early misses the noise."""
    t = np.arange(round(sr * seconds)) / sr
    noise = 0.15 * np.random.default_rng(0).standard_normal(t.size)
    return np.where(t < 3.0, 0.3 * np.sin(2 * np.pi * 150 * t), noise).astype(np.float32)


def encode(path, channels: np.ndarray, sr: int, codec: str, fmt: str, options=None, vbr_quality=None):
    """Write ``channels`` ``(n, c)`` (c = 1 or 2) with FFmpeg's encoder ``codec`` into container ``fmt``;
    ``vbr_quality`` is what ``ffmpeg -q:a N`` sets (variable bit rate)."""
    layout = "mono" if channels.shape[1] == 1 else "stereo"
    with av.open(str(path), "w", format=fmt, options=options or {}) as c:
        s = c.add_stream(codec, rate=sr, layout=layout)
        if vbr_quality is not None:
            s.codec_context.flags |= av.codec.context.Flags.qscale
            s.codec_context.global_quality = vbr_quality * 118  # FF_QP2LAMBDA
        planar = np.ascontiguousarray(channels.T, dtype=np.float32)
        for i in range(0, planar.shape[1], 1024):
            fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, i : i + 1024]), format="fltp", layout=layout)
            fr.sample_rate, fr.pts = sr, i
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)


def overwrite(path, at: float = 0.5, n: int = 2000, seed: int = 1) -> None:
    """Damage ``path`` in place: ``n`` random bytes written over it from fraction ``at`` of its length."""
    data = bytearray(open(path, "rb").read())
    i = int(len(data) * at)
    data[i : i + n] = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()[: len(data) - i]
    with open(path, "wb") as f:
        f.write(bytes(data))


def damaged_real_mp3(path, seconds: float = 20.0, sr: int = 8000) -> None:
    """An MP3 of a real CirCor heart recording (``seconds`` of it resampled to ``sr``, the lowest rate
    the MP3 encoder takes) with 2000 bytes overwritten in its middle (:func:`overwrite`): the reader
    decodes around the damage and leaves about 2 s out."""
    import soundfile as sf
    from scipy.signal import resample_poly

    from stethodesk.paths import shared_data_dir

    x, rate = sf.read(str(shared_data_dir() / "circor2022" / "training_data" / "50111_MV.flac"), dtype="float32")
    x = resample_poly(x[: int(rate * seconds)], sr, rate).astype(np.float32)
    encode(path, (0.5 * x / np.max(np.abs(x)))[:, None], sr, "libmp3lame", "mp3")
    overwrite(path)
