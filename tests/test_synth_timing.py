"""Synthesizer timing: beats and breaths at the requested rates, sounds in the right phase."""

from __future__ import annotations

import numpy as np
import pytest

from stethodesk.audio.synth import render

CLEAN = dict(noise_db=None, contact_noise=False, mix_other=False)


def _times(r, name):
    return np.array([t for t, e in r.events if e == name])


@pytest.mark.parametrize("hr", [40.0, 72.0, 120.0, 180.0])
def test_s1_count_follows_heart_rate(hr):
    r = render("normal_heart", seconds=60, heart_rate=hr, seed=2)
    s1 = _times(r, "S1")
    assert abs(len(s1) - hr) <= max(2, 0.03 * hr)
    rr = np.diff(s1)
    assert abs(60 / np.median(rr) - hr) < 0.04 * hr
    cv = np.std(rr) / np.mean(rr)
    assert 0.01 < cv < 0.1  # beat-to-beat variability, but a regular rhythm
    s2 = _times(r, "S2")
    # every S2 follows its S1 within systole, and systole is shorter than diastole below 120 bpm
    sys = np.array([s2[s2 > a][0] - a for a in s1 if np.any(s2 > a)])
    assert np.all(sys < rr.mean())
    if hr <= 120:
        assert np.median(sys) < 0.5 * np.median(rr)


def test_systole_shortens_with_rate():
    def systole(hr):
        r = render("normal_heart", seconds=20, heart_rate=hr, seed=1)
        s1, s2 = _times(r, "S1"), _times(r, "S2")
        return np.median([s2[s2 > a][0] - a for a in s1 if np.any(s2 > a)])

    slow, fast = systole(60), systole(150)
    assert 0.27 < slow < 0.36 and 0.15 < fast < 0.25


@pytest.mark.parametrize("rate", [8.0, 16.0, 30.0])
def test_breaths_follow_resp_rate_with_ie_1_to_2(rate):
    r = render("normal_lung", seconds=120, resp_rate=rate, seed=4)
    ins, exs = _times(r, "inspiration"), _times(r, "expiration")
    assert abs(len(ins) - rate * 2) <= max(2, 0.1 * rate * 2)
    ti = [exs[exs > a][0] - a for a in ins if np.any(exs > a)]
    te = [ins[ins > b][0] - b for b in exs if np.any(ins > b)]
    assert 0.4 < np.median(ti) / np.median(te) < 0.6


def _phase_rms(r, phase):
    """Median RMS over beats of mid-systole or mid-diastole (clear of S1/S2/S3/S4 tails)."""
    x, sr = r.samples.astype(float), r.samplerate
    s1, s2 = _times(r, "S1"), _times(r, "S2")
    out = []
    for a, nxt in zip(s1[:-1], s1[1:]):
        b = s2[(s2 > a) & (s2 < nxt)]
        if not len(b):
            continue
        b = b[0]
        lo, hi = (a + 0.15, b - 0.01) if phase == "sys" else (b + 0.13, nxt - 0.13)
        seg = x[int(lo * sr): int(hi * sr)]
        if seg.size > 10:
            out.append(np.sqrt(np.mean(seg**2)))
    return float(np.median(out))


@pytest.mark.parametrize(
    "name, phase",
    [("aortic_stenosis", "sys"), ("mitral_regurgitation", "sys"), ("mvp_click_murmur", "sys"),
     ("aortic_regurgitation", "dia"), ("mitral_stenosis", "dia")],
)
def test_murmur_energy_in_the_right_phase(name, phase):
    normal = render("normal_heart", seconds=10, heart_rate=60, seed=7, **CLEAN)
    murmur = render(name, seconds=10, heart_rate=60, seed=7, **CLEAN)
    other = "dia" if phase == "sys" else "sys"
    # much more energy than normal in the murmur's phase ...
    assert _phase_rms(murmur, phase) > 5 * _phase_rms(normal, phase)
    # ... and more than in the opposite phase of the same recording
    assert _phase_rms(murmur, phase) > 3 * _phase_rms(murmur, other)


def test_extra_sounds_land_where_they_belong():
    r = render("s3_gallop", seconds=20, heart_rate=60, seed=0)
    s1, s2, s3 = _times(r, "S1"), _times(r, "S2"), _times(r, "S3")
    assert len(s3) >= 0.9 * len(s2) - 1
    d = np.array([t - s2[s2 < t][-1] for t in s3])
    assert np.all((d > 0.12) & (d < 0.18))
    r = render("s4_gallop", seconds=20, heart_rate=60, seed=0)
    s1, s4 = _times(r, "S1"), _times(r, "S4")
    d = np.array([s1[s1 > t][0] - t for t in s4 if np.any(s1 > t)])
    assert len(d) > 10 and np.all((d > 0.05) & (d < 0.15))
    r = render("mvp_click_murmur", seconds=10, heart_rate=70, seed=0)
    s1, s2, ck = _times(r, "S1"), _times(r, "S2"), _times(r, "click")
    frac = [(c - s1[s1 < c][-1]) / (s2[s2 > c][0] - s1[s1 < c][-1]) for c in ck if np.any(s2 > c)]
    assert len(frac) > 5 and np.all((np.array(frac) > 0.35) & (np.array(frac) < 0.65))


def test_crackles_fine_late_coarse_early_in_inspiration():
    def insp_position(name):
        r = render(name, seconds=60, resp_rate=15, seed=3)
        ins, exs, cr = _times(r, "inspiration"), _times(r, "expiration"), _times(r, "crackle")
        pos = []
        for c in cr:
            a = ins[ins <= c]
            if not len(a):
                continue
            b = exs[exs > a[-1]]
            if len(b) and c < b[0]:
                pos.append((c - a[-1]) / (b[0] - a[-1]))
        return np.array(pos), len(cr)

    fine, n_fine = insp_position("fine_crackles")
    coarse, n_coarse = insp_position("coarse_crackles")
    assert np.median(fine) > 0.6 and np.median(coarse) < 0.4
    assert n_fine > n_coarse


def test_wheeze_is_expiratory_and_long():
    r = render("wheeze", seconds=30, resp_rate=15, seed=3)
    ins, exs, wz = _times(r, "inspiration"), _times(r, "expiration"), _times(r, "wheeze")
    assert len(wz) >= 6
    for w in wz:
        last_in = ins[ins <= w].max(initial=-1)
        last_ex = exs[exs <= w].max(initial=-1)
        assert last_ex > last_in  # started after the latest expiration onset


@pytest.mark.parametrize("name", ["mitral_regurgitation", "pleural_rub", "wheeze"])
@pytest.mark.parametrize("sr", [4000, 44100])
def test_renderings_loop_without_a_seam(name, sr):
    """The simulated stethoscope loops a rendering: no step and no odd beat/breath at the seam."""
    seconds = 10.0
    r = render(name, seconds=seconds, samplerate=sr, seed=5)
    x = r.samples.astype(float)
    step = abs(x[0] - x[-1])
    assert step <= np.percentile(np.abs(np.diff(x)), 99.5)
    key = "S1" if r.domain == "heart" else "inspiration"
    t = _times(r, key)
    mean = seconds / len(t)  # whole cycles tile the rendering
    across = t[0] + seconds - t[-1]
    assert 0.7 * mean <= across <= 1.3 * mean  # an ordinary cycle, not a pause or a double beat
    assert np.all((np.diff(t) >= 0.7 * mean) & (np.diff(t) <= 1.3 * mean))


def test_realised_rates_are_in_the_labels():
    r = render("normal_heart", seconds=10, heart_rate=75, resp_rate=16)
    n_s1 = len(_times(r, "S1"))
    assert r.labels["heart_rate_bpm"] == pytest.approx(60 * n_s1 / 10)
    assert abs(r.labels["heart_rate_bpm"] - 75) <= 0.5 * 60 / 10  # within half a beat per rendering
    r = render("normal_lung", seconds=15, resp_rate=16)
    assert len(_times(r, "inspiration")) == 4 and r.labels["resp_rate"] == 16.0


def test_s2_split_follows_the_audible_breathing():
    """Physiological split widens in inspiration, fixed split does not, normal stays narrow."""
    from stethodesk.audio.synth_heart import HeartParams, render_heart
    from stethodesk.audio.synth_lung import breath_cycles

    def splits(kind):
        rng = np.random.default_rng(0)
        cycles = breath_cycles(rng, 60.0, 15.0)
        h = render_heart(rng, 60.0, 72.0, 15.0, HeartParams(split=kind), cycles)
        s = np.array(h.splits)
        # the heart's inspiration is the breathing's inspiration
        ins = [t for t, sp, d in h.splits if d > 0]
        assert all(any(a <= t < b or a <= t + 60 < b for a, b, _ in cycles) for t in ins)
        return s[s[:, 2] > 0.5, 1], s[s[:, 2] == 0, 1]

    insp, exp = splits("physiological")
    assert np.median(insp) - np.median(exp) > 0.025 and np.median(exp) < 0.025
    insp, exp = splits("fixed")
    assert np.allclose(insp, 0.065) and np.allclose(exp, 0.065)
    insp, exp = splits("normal")
    assert np.max(insp) <= 0.03 and np.median(exp) < 0.015
