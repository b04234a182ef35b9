"""The quality check's whole-recording steps run in blocks so a 30-min file stays in bounded memory
(issue 11 item 8), and give what the whole-array computations gave: the same filtered samples,
the same clipping and silence counts, the same quality verdict and heart rate on real recordings.

Each comparison runs once with blocks larger than the input (one block: scipy's own whole-array
call) and once with blocks of a few thousand samples, so every block edge is crossed many times.
The memory itself is measured by ``benchmarks/analyze_memory.py`` (printed, not asserted here).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from stethodesk.audio import dsp, filters
from stethodesk.audio.fileio import read_audio
from stethodesk.paths import shared_data_dir

DATA = shared_data_dir()
RECORDINGS = [
    DATA / "circor2022" / "training_data" / "50111_MV.flac",  # heart, clear beats
    DATA / "circor2022" / "training_data" / "13918_AV.flac",
    DATA / "icbhi2017_cycles" / "audio" / "crackle_or_both" / "104_1b1_Ll_sc_Litt3200_c05.flac",  # lung
    DATA / "icbhi2017_cycles" / "audio" / "normal" / "101_1b1_Al_sc_Meditron_c01.flac",
]


def _blocks(monkeypatch, n: int) -> None:
    for mod in (filters, dsp):
        monkeypatch.setattr(mod, "LONG_BLOCK", n)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 3,001 samples (odd: no edge falls on a beat or frame grid)."""
    _blocks(monkeypatch, 3001)


def _rec(path) -> tuple[np.ndarray, int]:
    x, sr = read_audio(path)
    return x, sr


def test_blocked_filters_give_the_whole_array_samples(small_blocks):
    x, sr = _rec(RECORDINGS[0])
    x64 = np.asarray(x, np.float64)
    assert x.size > 10 * filters.LONG_BLOCK  # many blocks
    bell = filters.filter_sos(sr, "bell")
    np.testing.assert_array_equal(filters.apply_filter(x, sr, "bell"), signal.sosfilt(bell, x).astype(np.float32))
    np.testing.assert_array_equal(filters.apply_filter(x64, sr, "wide"),
                                  signal.sosfilt(filters.filter_sos(sr, "wide"), x).astype(np.float32))
    for nperseg in (512, sr):
        f0, p0 = signal.welch(x64, fs=sr, nperseg=nperseg)
        f1, p1 = filters.welch_long(x64, sr, nperseg)
        np.testing.assert_array_equal(f1, f0)
        np.testing.assert_allclose(p1, p0, rtol=1e-9, atol=0)
        _, p2 = filters.welch_long(x, sr, nperseg)  # float32 in, float32 out, as scipy's
        assert p2.dtype == np.float32
        np.testing.assert_allclose(p2, signal.welch(x, fs=sr, nperseg=nperseg)[1], rtol=1e-4, atol=0)


def _clipped_reference(x: np.ndarray, run: int, extreme: float) -> int:
    at = np.concatenate(([0], (x == extreme).view(np.int8), [0]))
    edges = np.flatnonzero(np.diff(at))
    runs = edges[1::2] - edges[::2]
    return int(runs[runs >= run].sum())


def test_clipping_runs_across_block_edges_are_counted_whole(small_blocks):
    x, sr = _rec(RECORDINGS[0])
    loud = np.clip(x * (4.0 / np.max(np.abs(x))), -1.0, 1.0).astype(np.float32)
    # runs that start, end and lie exactly on the 3,001-sample block edges, and one longer than a block
    for a, b in ((3001 - 5, 3001 + 5), (6002, 6012), (9003 - 12, 9003), (12004, 12004 + 7000)):
        loud[a:b] = 1.0
    run = max(dsp.CLIP_RUN, round(dsp.CLIP_RUN_S * sr))
    expected = sum(_clipped_reference(loud, run, e) for e in {float(loud.max()), float(loud.min())})
    assert expected > 7000  # the planted runs are counted
    assert dsp.clipped_fraction(loud, sr) == expected / loud.size


def _kept_reference(x: np.ndarray, sr: int) -> np.ndarray:
    """drop_silence's samples by its former per-sample mask (frames held at one value, runs of
    SILENT_RUN_S; the partial last frame goes with the last frame)."""
    frame = int(dsp.SILENT_FRAME_S * sr)
    n = x.size // frame
    frames = x[: n * frame].reshape(n, frame)
    held = frames.max(axis=1) == frames.min(axis=1)
    need = round(dsp.SILENT_RUN_S / dsp.SILENT_FRAME_S)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], held.view(np.int8), [0]))))
    silent = np.zeros(n, bool)
    for a, b in zip(edges[::2], edges[1::2]):
        if b - a >= need:
            silent[a:b] = True
    held_tail = bool(held[-1] and np.all(x[n * frame :] == frames[-1, 0]))
    keep = np.concatenate((np.repeat(~silent, frame), np.full(x.size - n * frame, not (held_tail and silent[-1]))))
    return x[keep]


@pytest.mark.parametrize("tail", ["silent", "sound"])
def test_silence_is_left_out_as_before(monkeypatch, tail):
    x, sr = _rec(RECORDINGS[0])
    frame = int(dsp.SILENT_FRAME_S * sr)
    y = x[: 20 * sr + frame // 3].copy()  # a partial last frame
    y[2 * sr : 3 * sr] = 0.0  # 1 s of digital silence inside
    y[int(5.01 * sr) : int(5.8 * sr)] = 0.25  # a held value, not on the frame grid
    if tail == "silent":
        y[-(sr + frame // 3) :] = 0.0
    kept, silent_s = dsp.drop_silence(y, sr)
    expected = _kept_reference(y, sr)
    assert 1.0 <= silent_s and expected.size < y.size
    np.testing.assert_array_equal(kept, expected)
    assert silent_s == (y.size - expected.size) / sr
    # moved to the front of the array itself, in small blocks: the same samples, no second copy
    monkeypatch.setattr(dsp, "LONG_BLOCK", 101)
    same = y.copy()
    moved, moved_s = dsp.drop_silence(same, sr, in_place=True)
    assert np.shares_memory(moved, same) and moved_s == silent_s
    np.testing.assert_array_equal(moved, expected)


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.name)
def test_quality_verdict_is_unchanged_on_real_recordings(monkeypatch, path):
    x, sr = _rec(path)
    # long enough that the hum notches, Welch and the modulation frames all cross block edges
    x = np.tile(x, max(1, int(np.ceil(60 * sr / x.size))))
    domain = "lung" if "icbhi" in str(path) else "heart"
    _blocks(monkeypatch, 10**9)  # one block: scipy's whole-array calls
    whole = dsp.signal_quality(x, sr, domain), dsp.no_body_sound_reason(x, min(sr, 8000))
    _blocks(monkeypatch, 3001)
    blocked = dsp.signal_quality(x, sr, domain), dsp.no_body_sound_reason(x, min(sr, 8000))
    (q0, r0), (q1, r1) = whole, blocked
    assert (q1.level, q1.issues, q1.reason, r1) == (q0.level, q0.issues, q0.reason, r0)
    assert q1.score == pytest.approx(q0.score, abs=1e-9)
    assert q1.heart_rate_bpm == q0.heart_rate_bpm


def _with_gaps(x: np.ndarray, sr: int) -> np.ndarray:
    """``x`` with 0.1 s of exact zeros every 1.3 s (dropouts), 1.5 s of them at 4 s (digital
    silence, cut to the sample: the engine then holds a copy of its own, which it cuts in place)
    and 1 s held at 0.01 at 9 s (silence of another value, left out in place)."""
    y = x.copy()
    for t in np.arange(1.0, y.size / sr - 1, 1.3):
        y[int(t * sr) : int((t + 0.1) * sr)] = 0.0
    y[4 * sr : int(5.5 * sr)] = 0.0
    y[int(9.2 * sr) : int(10.2 * sr)] = 0.01
    return y


@pytest.mark.parametrize("block", [7, 1 << 20])
def test_cutting_dropouts_in_place_gives_the_same_samples(monkeypatch, block):
    from stethodesk.audio import dropouts

    monkeypatch.setattr(dropouts, "SCAN_BLOCK", block)
    x, sr = _rec(RECORDINGS[0])
    y = _with_gaps(x, sr)
    spans = dropouts.find_dropouts(y, sr)
    assert len(spans) > 5
    new, _ = dropouts.cut_dropouts(y, sr, spans)
    same = y.copy()
    inplace, _ = dropouts.cut_dropouts(same, sr, spans, in_place=True)
    assert np.shares_memory(inplace, same) and not np.shares_memory(new, y)
    np.testing.assert_array_equal(inplace, new)
    with pytest.raises(ValueError, match="float32"):
        dropouts.cut_dropouts(y.astype(np.float64), sr, spans, in_place=True)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from test_engine_fixture import runtime_engine

    yield from runtime_engine(tmp_path_factory)


@pytest.mark.llm
@pytest.mark.parametrize("rate", [4000, 16000])
def test_engine_findings_are_the_same_whether_it_cuts_in_place_or_not(engine, rate):
    """A float32 array is the caller's (cut into a new array, left as it was) unless handed over
    (``owned=True``); a float64 one is converted, so the engine owns the copy and cuts in place (at
    16 kHz after keeping the uncut sound at the quality rate). Findings, quality and heart rate are
    the same to the bit."""
    from stethodesk.audio.filters import resample

    x, sr = _rec(RECORDINGS[1])
    x, sr = (resample(x, sr, rate), rate) if rate != sr else (x, sr)
    y = _with_gaps(x, sr)
    kept = y.copy()
    a = engine.analyze_audio(y, sr, domain="heart")
    b = engine.analyze_audio(y.astype(np.float64), sr, domain="heart")
    np.testing.assert_array_equal(y, kept)  # the caller's array is never cut in place
    assert a.usable and "dropouts" in a.quality.issues and "silent_part" in a.quality.issues
    assert (b.findings, b.quality, b.heart_rate_bpm, b.duration_s) == (a.findings, a.quality, a.heart_rate_bpm,
                                                                      a.duration_s)
    # handed over (as the CLI does): cut in place from the first step, the same analysis
    handed = y.copy()
    c = engine.analyze_audio(handed, sr, domain="heart", owned=True)
    assert not np.array_equal(handed[: y.size // 2], y[: y.size // 2])  # it was cut in place
    assert (c.findings, c.quality, c.heart_rate_bpm, c.duration_s) == (a.findings, a.quality, a.heart_rate_bpm,
                                                                      a.duration_s)
