"""Short dropouts (runs of exact zeros inside the sound, as a wireless stethoscope leaves them) are
found, cut out for listening and the model, named in the quality note, and do not fool the heart
rate (issue 11, re-test of item 3). Real CirCor recording 13918_MV (105.3 bpm, 4 kHz, 16-bit)."""

from __future__ import annotations

import numpy as np
import pytest

from stethodesk.audio.dropouts import DROPOUT_MIN_S, cut_dropouts, find_dropouts
from stethodesk.audio.dsp import heart_rate_bpm, signal_quality
from stethodesk.audio.fileio import read_audio
from stethodesk.paths import shared_data_dir

HEART = shared_data_dir() / "circor2022" / "training_data" / "13918_MV.flac"


@pytest.fixture(scope="module")
def heart():
    return read_audio(HEART)


def with_dropouts(x: np.ndarray, sr: int, every_s: float, lengths_s: tuple[float, ...]) -> np.ndarray:
    """``x`` with runs of exact zeros every ``every_s`` from 1 s on, lengths cycling ``lengths_s``."""
    y = x.copy()
    for k, t in enumerate(np.arange(1.0, x.size / sr - 1, every_s)):
        a = int(t * sr)
        y[a : a + int(lengths_s[k % len(lengths_s)] * sr)] = 0.0
    return y


def test_dropouts_are_found_and_natural_zeros_are_not(heart):
    x, sr = heart
    assert find_dropouts(x, sr).size == 0  # the real recording holds exact zero for at most 1 ms
    quiet = np.round(x * 0.001 * 32768) / 32768  # 60 dB down in 16 bits: long natural runs of zeros
    assert find_dropouts(quiet, sr).size == 0
    y = x.copy()
    y[4000:4400] = 0.0  # 100 ms
    y[20000:22000] = 0.0  # 500 ms
    y[40000:40000 + int(0.015 * sr)] = 0.0  # 15 ms: shorter than DROPOUT_MIN_S, not counted
    spans = find_dropouts(y, sr)
    assert DROPOUT_MIN_S > 0.015
    assert spans.tolist() == [[4000, 4400], [20000, 22000]]


def test_cut_dropouts_joins_without_a_click(heart):
    x, sr = heart
    y = with_dropouts(x[: 10 * sr], sr, 2.0, (0.1, 0.5))
    spans = find_dropouts(y, sr)
    kept, _ = cut_dropouts(y, sr)
    gaps = int((spans[:, 1] - spans[:, 0]).sum())
    fade = int(round(0.005 * sr))
    assert kept.size == y.size - gaps - fade * len(spans)
    assert find_dropouts(kept, sr).size == 0
    # no step at a join bigger than the recording's own biggest sample-to-sample step
    assert np.abs(np.diff(kept)).max() <= np.abs(np.diff(x[: 10 * sr])).max()


@pytest.mark.parametrize("every_s, lengths_s", [(1.1, (0.1, 0.5)), (0.7, (0.1,)), (1.3, (0.1, 0.5)),
                                                (0.9, (0.1, 0.1, 0.5)), (0.7, (0.1, 0.5))])
def test_heart_rate_is_not_fooled_by_dropouts(heart, every_s, lengths_s):
    """Kept on the true rate, or None ("cannot tell") when the gaps leave too little; never the
    dropout train's own period (before: 52.2 bpm at 1.1 s, 42.0 bpm at 0.7 s with 0.5-s runs)."""
    x, sr = heart
    true = heart_rate_bpm(x, sr)
    got = heart_rate_bpm(with_dropouts(x, sr, every_s, lengths_s), sr)
    assert got is None or abs(got - true) <= 3.0, (got, true)
    if max(lengths_s) * 1.0 / every_s < 0.5:  # gaps under half of the time: the rate is measured
        assert got is not None and abs(got - true) <= 3.0


def test_quality_note_counts_the_dropouts_and_their_time(heart):
    x, sr = heart
    y = with_dropouts(x, sr, 1.1, (0.1, 0.5))  # 25 dropouts, 13 x 0.1 s + 12 x 0.5 s = 7.30 s
    q = signal_quality(y, sr, "heart")
    assert q.issues[0] == "dropouts" and q.level != "good"
    assert q.reason.startswith("25 dropouts (7.30 s of digital silence inside the sound")
    assert "cut out" in q.reason
    assert q.heart_rate_bpm is not None and abs(q.heart_rate_bpm - 105.3) <= 3.0
    assert signal_quality(x, sr, "heart").issues == []  # the recording itself: nothing to say


def test_block_edges_do_not_change_what_is_found(heart, monkeypatch):
    from stethodesk.audio import dropouts

    x, sr = heart
    y = with_dropouts(x, sr, 1.1, (0.1, 0.5))
    whole = find_dropouts(y, sr)
    monkeypatch.setattr(dropouts, "SCAN_BLOCK", 997)  # runs cross many block edges
    assert np.array_equal(find_dropouts(y, sr), whole) and len(whole) == 25


def test_long_zero_runs_are_silence_and_short_ones_dropouts_wherever_they_fall(heart):
    """A 0.5-s run on the 50 ms frame grid is a dropout, not "silence" (drop_silence leaves it); a
    3.3-s run is silence, cut to the sample, leaving no zeros at the cut to pass for a dropout."""
    from stethodesk.audio.dropouts import cut_zero_silence
    from stethodesk.audio.dsp import drop_silence

    x, sr = heart
    y = np.concatenate((x[: 5 * sr], np.zeros(int(3.33 * sr), np.float32), x[5 * sr : 10 * sr]))
    y[7 * sr + int(3.33 * sr) : 7 * sr + int(3.33 * sr) + sr // 10] = 0.0  # a 100 ms dropout after it
    y[int(9.2 * sr) + int(3.33 * sr) : int(9.7 * sr) + int(3.33 * sr)] = 0.0  # 500 ms, on the frame grid
    kept, silent_s = cut_zero_silence(y, sr)
    assert abs(silent_s - 3.33 - 0.005) < 1e-3
    assert drop_silence(kept, sr)[1] == 0.0  # the 0.5-s dropout is not silence
    assert [round((b - a) / sr, 3) for a, b in find_dropouts(kept, sr)] == [0.1, 0.5]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from test_engine_fixture import runtime_engine

    yield from runtime_engine(tmp_path_factory)


@pytest.mark.llm
def test_engine_analyses_the_sound_without_its_dropouts_and_says_so(engine, heart):
    """The model hears the sound with the dropouts cut out (duration shorter by them), the note
    leads the quality reason, and the heart rate is the clean recording's."""
    x, sr = heart
    clean = engine.analyze_audio(x, sr, domain="heart")
    a = engine.analyze_audio(with_dropouts(x, sr, 1.1, (0.1, 0.5)), sr, domain="heart")
    assert a.usable and "dropouts" in a.quality.issues
    assert a.quality.reason.startswith("25 dropouts (7.30 s")
    assert abs(a.duration_s - (x.size / sr - 7.30 - 25 * 0.005)) < 0.01
    assert a.heart_rate_bpm is not None and abs(a.heart_rate_bpm - clean.heart_rate_bpm) <= 3.0
    print({k: (round(clean.findings[k], 3), round(a.findings[k], 3)) for k in clean.findings})
    assert abs(a.findings["murmur"] - clean.findings["murmur"]) < 0.1


def test_zeros_at_the_very_start_or_end_are_no_dropouts():
    """A recording that starts late or stops early (or the gap channel alignment leaves at the
    start) was told '2 dropouts ... inside the sound' (maintainers' re-test F7)."""
    sr = 4000
    t = np.arange(10 * sr) / sr
    x = (np.random.default_rng(3).normal(0, 0.1, t.size) * (1.2 + np.sin(2 * np.pi * 1.2 * t))).astype(np.float32)
    edged = np.concatenate((np.zeros(sr // 2, np.float32), x, np.zeros(sr // 4, np.float32)))
    assert find_dropouts(edged, sr).shape == (0, 2)
    inside = np.concatenate((x[: 5 * sr], np.zeros(sr // 4, np.float32), x[5 * sr :]))
    assert find_dropouts(inside, sr).tolist() == [[5 * sr, 5 * sr + sr // 4]]


def with_filled_gaps(x: np.ndarray, sr: int, fill, every_s: float = 0.9, length_s: float = 0.5):
    """``x`` with gaps of ``length_s`` every ``every_s`` from 1 s on, filled by ``fill(n)`` (what
    a link or converter leaves in a lost packet instead of exact zeros); and the gaps' spans."""
    y, spans = x.copy(), []
    for t in np.arange(1.0, x.size / sr - 1, every_s):
        a = int(t * sr)
        b = a + int(length_s * sr)
        y[a:b] = fill(b - a)
        spans.append((a, b))
    return y, np.asarray(spans)


def _within(span: np.ndarray, true: np.ndarray, sr: int) -> bool:
    """Whether ``span`` is one of the ``true`` gaps, its ends within 2 ms."""
    return bool(np.any(np.all(np.abs(true - span) <= 0.002 * sr, axis=1)))


def _matches(found: np.ndarray, true: np.ndarray, sr: int, tol_s: float = 0.002) -> bool:
    """Each true gap found once, its ends within ``tol_s`` (a gap's edge may take in a sample of sound
    that happens to lie as near zero)."""
    return found.shape == true.shape and bool(np.all(np.abs(found - true) <= tol_s * sr))


@pytest.mark.parametrize("fill", ["dither16", "float_noise"])
def test_gaps_filled_with_dither_or_float_noise_are_dropouts(heart, fill):
    """Maintainers' re-test F2: gaps filled with 1-bit dither ({-1, 0, 1} / 32768) or float noise
    (1e-7 RMS) were not found: the heart rate halved (71 for 109 bpm) and the murmur rose to 0.98."""
    x, sr = heart
    rng = np.random.default_rng(5)
    make = {"dither16": lambda n: rng.integers(-1, 2, n) / 32768.0,
            "float_noise": lambda n: 1e-7 * rng.standard_normal(n)}[fill]
    y, true = with_filled_gaps(x, sr, lambda n: make(n).astype(np.float32))
    assert _matches(find_dropouts(y, sr), true, sr), (find_dropouts(y, sr)[:3], true[:3])
    y, true = with_filled_gaps(x, sr, lambda n: make(n).astype(np.float32), every_s=1.3, length_s=0.1)
    assert _matches(find_dropouts(y, sr), true, sr)
    # the heart rate keeps to the recording's own (gaps of 0.1 s every 1.3 s leave enough sound)
    got = heart_rate_bpm(y, sr)
    assert got is not None and abs(got - heart_rate_bpm(x, sr)) <= 3.0
    q = signal_quality(y, sr, "heart")
    assert q.issues[0] == "dropouts" and q.reason.startswith(f"{len(true)} dropouts")


def test_a_quiet_real_sound_at_the_floor_is_never_cut(heart):
    """The near-zero rule against real quiet sound: the recording's own diastole, the recording
    quantised at 16 bits 40 and 50 dB down (its diastole then lies at 1-2 steps, as dither does),
    and float copies 100 dB down with and without 1e-7 noise under them: none holds a dropout;
    and dither gaps in a real recording 40 dB down are still found while its diastole is not."""
    x, sr = heart
    peak = float(np.abs(x).max())
    for db in (40, 50):
        quiet = (np.round(x / peak * 10 ** (-db / 20) * 32768) / 32768).astype(np.float32)
        assert find_dropouts(quiet, sr).size == 0, db
    low = (x * 1e-5).astype(np.float32)
    assert find_dropouts(low, sr).size == 0
    noisy = (low + 1e-7 * np.random.default_rng(2).standard_normal(x.size)).astype(np.float32)
    assert find_dropouts(noisy, sr).size == 0
    rng = np.random.default_rng(6)
    quiet = (np.round(x / peak * 10 ** (-20 / 20) * 32768) / 32768).astype(np.float32)
    y, true = with_filled_gaps(quiet, sr, lambda n: (rng.integers(-1, 2, n) / 32768.0).astype(np.float32),
                               every_s=1.3, length_s=0.2)
    assert _matches(find_dropouts(y, sr), true, sr)


def test_floor_runs_at_the_edges_are_no_dropouts(heart):
    """Dither at the very start and end (a late start, an early stop) is no dropout, as exact
    zeros there are not (F7): only the gap inside is counted."""
    x, sr = heart
    rng = np.random.default_rng(8)
    y = x[: 10 * sr].copy()
    for a, b in ((0, sr // 2), (5 * sr, 5 * sr + sr // 4), (y.size - sr // 3, y.size)):
        y[a:b] = rng.integers(-1, 2, b - a) / 32768.0
    assert _matches(find_dropouts(y, sr), np.asarray([[5 * sr, 5 * sr + sr // 4]]), sr)


def test_exact_zero_gaps_in_a_quiet_16_bit_heart_are_found_and_its_own_pauses_are_not(heart):
    """Re-test F2: a real heart 40 dB below full scale in 16 bits with 0.3-s gaps of exact zeros
    every 1.1 s had 7 of 16 found (the sound beside many gaps is a diastole a few steps loud).
    Now all are, while the same recording quantised so low that its own sound rounds to 0 for
    tens of ms again and again (60 dB down) has none of its pauses counted: there a zero run is a
    gap only where the sound beside is cut off, so of the gaps few are found, and only gaps."""
    x, sr = heart
    peak = float(np.abs(x).max())
    for db, found in ((40, True), (60, False)):
        quiet = (np.round(x / peak * 10 ** (-db / 20) * 32768) / 32768).astype(np.float32)
        y, true = with_filled_gaps(quiet, sr, lambda n: np.zeros(n, np.float32), every_s=1.1, length_s=0.3)
        assert find_dropouts(quiet, sr).size == 0, db
        if found:
            assert _matches(find_dropouts(y, sr), true, sr)  # an edge may take in a natural zero
        else:
            spans = find_dropouts(y, sr)
            assert len(spans) < len(true) // 2 and all(_within(s, true, sr) for s in spans), spans


def _at(x: np.ndarray, db: float, bits: int = 16) -> np.ndarray:
    """``x`` scaled to ``db`` dBFS peak and rounded to a ``bits``-bit grid (float32)."""
    full = 2.0 ** (bits - 1)
    return (np.round(x / float(np.abs(x).max()) * 10 ** (db / 20) * full) / full).astype(np.float32)


def test_dither_gaps_in_a_16_bit_heart_30_db_down_are_found(heart):
    """Re-test F5: 1-bit dither in 0.2-s gaps of a real heart 30 dB below full scale (16 bits) was
    not found (murmur 0.50 for 0.06), while exact zeros there were; 20 dB down 13 of 19. The floor
    is judged against the file's own runs at it, not against the quiet end of the sound around."""
    x, sr = heart
    rng = np.random.default_rng(11)
    for db in (-20, -30):
        quiet = _at(x, db)
        assert find_dropouts(quiet, sr).size == 0, db
        y, true = with_filled_gaps(quiet, sr, lambda n: (rng.integers(-1, 2, n) / 32768.0).astype(np.float32),
                                   every_s=0.9, length_s=0.2)
        assert _matches(find_dropouts(y, sr), true, sr), (db, len(find_dropouts(y, sr)), len(true))


def test_gaps_holding_the_last_value_are_found_and_a_clipped_peak_is_not(heart):
    """Re-test F9: gaps that hold the last sample (a link repeating its last value) had 1 of 19
    found (murmur 0.90 for 0.07). A value held at the file's own extreme is clipping: not a gap."""
    from stethodesk.audio.dropouts import REST_SHARE

    x, sr = heart
    y, gaps = _at(x, -3), []
    for t in np.arange(1.0, y.size / sr - 1, 0.9):
        a = int(t * sr)
        y[a : a + sr // 5] = y[a - 1]
        gaps.append((a - 1, a + sr // 5))
    # a value held at the file's rest level cannot be told from a recorder's noise gate (below);
    # every gap held well away from it is found, and nothing but the gaps
    off = [g for g in gaps if abs(float(y[g[0]]) - float(y.mean())) > 2 * REST_SHARE * float(np.abs(y).max())]
    found = find_dropouts(y, sr)
    assert len(off) >= 8, len(off)
    near = lambda g, spans: any(abs(g[0] - f[0]) <= 0.002 * sr and abs(g[1] - f[1]) <= 0.002 * sr for f in spans)
    assert all(near(g, found) for g in off) and all(near(f, gaps) for f in found)
    # PhysioNet training-e files rest exactly on their DC value in quiet diastole (a noise gate):
    # 35 of 384 were cut as dropouts "as a wireless link makes" (maintainers' re-test, round 2)
    gated, gsr = read_audio(shared_data_dir() / "physionet2016" / "audio" / "e00841.flac")
    assert find_dropouts(gated, gsr).size == 0
    clipped = _at(x, -3)
    top = float(np.abs(clipped).max())
    for t in (2.0, 5.0, 8.0):
        clipped[int(t * sr) : int(t * sr) + sr // 20] = top
    assert find_dropouts(clipped, sr).size == 0


def test_float_noise_gaps_in_a_quiet_float_heart_count_once_each(heart):
    """Re-test minor: a float heart 40 dB down with 1e-7 noise in its 19 gaps was reported as 54
    dropouts (the noise crossing the floor split each gap); each gap is one dropout."""
    x, sr = heart
    quiet = (x / float(np.abs(x).max()) * 0.01).astype(np.float32)
    rng = np.random.default_rng(12)
    y, true = with_filled_gaps(quiet, sr, lambda n: (1e-7 * rng.standard_normal(n)).astype(np.float32),
                               every_s=0.9, length_s=0.2)
    assert _matches(find_dropouts(y, sr), true, sr), (len(find_dropouts(y, sr)), len(true))


def test_too_coarse_a_sound_says_its_gaps_cannot_be_told(heart):
    """Re-test F6: gaps in an 8-bit file were never found and nothing said so. An 8-bit heart's
    own diastole rests at 0 and +-1 step as a gap does: the note says that such gaps cannot be told
    from it; a 16-bit copy (the loud level hundreds of steps) has no such note, and its dither gaps
    are found (above)."""
    from stethodesk.audio.dropouts import coarse_note

    x, sr = heart
    note = coarse_note(_at(x, -3, bits=8), sr)
    assert "cannot be told" in note and "steps of its format" in note
    assert coarse_note(_at(x, -3), sr) == ""
    assert coarse_note(x, sr) == ""
    # and the quality check says it to the user, without lowering the level for it
    q8, q16 = signal_quality(_at(x, -3, bits=8), sr), signal_quality(_at(x, -3), sr)
    assert "Note: gaps" in q8.reason and "cannot be told" in q8.reason and "Note:" not in q16.reason
    assert q8.level == q16.level and q8.issues == q16.issues


PHYSIONET = shared_data_dir() / "physionet2016" / "audio"


def _u8(tmp_path, name: str, x: np.ndarray, sr: int) -> np.ndarray:
    """``x`` written as an unsigned 8-bit WAV (PCM_U8: code 128 is 0.0) and read back."""
    import soundfile as sf

    p = tmp_path / f"{name}.wav"
    sf.write(p, np.clip(x, -1, 1), sr, subtype="PCM_U8")
    y, rate = read_audio(p)
    assert rate == sr
    return y


def test_gaps_of_digital_silence_or_a_held_value_in_an_8_bit_heart_are_found(tmp_path):
    """Issue 11 re-test: a real heart (PhysioNet a0316, loud level ~3 steps of 8 bits) written as
    PCM_U8 with 0.15-0.3 s gaps had none found, the 16-bit copy all. The sound beside a run held
    at one value had to be 4 steps RMS away from it - more than this whole sound - and a held value
    within 4 steps of the file's mean counted as a noise gate at rest. A held run's own floor is
    the rounding (a step / sqrt(12)), and rest is the code or two next to the mean; a run at rest
    (exact zeros of a coarse sound too) must cut the sound off at one side, where the sound's own
    pauses at rest fade into it."""
    x, sr = read_audio(PHYSIONET / "a0316.flac")
    x = x[: 20 * sr]
    plain = _u8(tmp_path, "plain", x, sr)
    assert find_dropouts(plain, sr).size == 0
    starts = [int(t * sr) for t in (3.3, 7.1, 10.2, 13.9, 17.4)]
    true = np.asarray([(a, a + int(s * sr)) for a, s in zip(starts, (0.15, 0.2, 0.25, 0.3, 0.15))])
    silent = x.copy()
    for a, b in true:
        silent[a:b] = 0.0  # code 128: an unsigned 8-bit stream's digital silence
    y = _u8(tmp_path, "silent", silent, sr)
    # at 8 bits the sound beside a gap often rests at code 128 too: an edge may take in ~10 ms of it
    assert _matches(find_dropouts(y, sr), true, sr, 0.015), find_dropouts(y, sr)
    held = x.copy()
    for a, b in true:
        held[a:b] = held[a - 1]
    y = _u8(tmp_path, "held", held, sr)
    step, rest = 1 / 128, float(np.mean(y, dtype=np.float64))
    away = np.asarray([(a - 1, b) for a, b in true if y[a] == 0.0 or abs(float(y[a]) - rest) > step])
    assert len(away) >= 3  # the others hold the code next to rest: a noise gate looks the same
    assert _matches(find_dropouts(y, sr), away, sr, 0.015), (find_dropouts(y, sr), away)


@pytest.mark.parametrize("name", ["a0316", "e00703", "e02135", "d0008"])
def test_real_hearts_as_8_bit_or_60_db_down_get_no_cut_of_their_own_pauses(tmp_path, name):
    """Real recordings whose sound lies a few steps above their grid (8 bits at their own level and
    at 0.9 of full scale, 16 bits 60 dB down) rest at one code for tens of ms in diastole: none of
    it is cut. d0008 has link gaps as recorded (16 bit): only those are found in its copies."""
    x, sr = read_audio(PHYSIONET / f"{name}.flac")
    x = x[: 30 * sr]
    as_recorded = find_dropouts(x, sr)
    assert (as_recorded.size > 0) == (name == "d0008")
    copies = {"u8": _u8(tmp_path, "own", x, sr),
              "u8 loud": _u8(tmp_path, "loud", x / float(np.abs(x).max()) * 0.9, sr),
              "16 bit -60 dB": _at(x, -60)}
    for label, y in copies.items():
        spans = find_dropouts(y, sr)
        assert all(_within(s, as_recorded, sr) or np.any(np.abs(as_recorded - s).max(axis=1) <= 0.01 * sr)
                   for s in spans), (label, spans, as_recorded)
