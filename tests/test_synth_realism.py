"""Synthesizer vs real recordings: spectral centroid inside the real inter-quartile range.

Small and fast: a handful of real recordings per reference from ../shared/data
(the full comparison is benchmarks/synth_check.py).
"""

from __future__ import annotations

import csv
from math import gcd

import numpy as np
import pytest
from scipy import signal

from stethodesk.audio.fileio import read_audio
from stethodesk.audio.synth import render
from stethodesk.paths import shared_data_dir

SR = 4000
HEART_BAND = (20.0, 1000.0)
LUNG_BAND = (50.0, 2000.0)


def centroid(x: np.ndarray, sr: int, band: tuple[float, float]) -> float:
    """Spectral centroid (Hz) of the Welch PSD of x (n,) within band, after resampling to 4 kHz."""
    if sr != SR:
        g = gcd(sr, SR)
        x = signal.resample_poly(x.astype(float), SR // g, sr // g)
    f, p = signal.welch(x - x.mean(), fs=SR, nperseg=512)
    m = (f >= band[0]) & (f <= band[1])
    return float((f[m] * p[m]).sum() / p[m].sum())


def _hls_heart(kind: str) -> list:
    root = shared_data_dir() / "hls_cmds"
    with open(root / "HS.csv") as fh:
        return [root / "HS" / f"{r['Heart Sound ID']}.flac" for r in csv.DictReader(fh)
                if r["Heart Sound Type"] == kind]


def _yaseen(cls: str, k: int) -> list:
    # evenly spaced over the sorted list: neighbouring clips are often cut from one recording
    files = sorted((shared_data_dir() / "yaseen2018" / cls).glob("*.flac"))
    return files[:: max(1, len(files) // k)][:k]


def _icbhi(label: str, k: int) -> list:
    root = shared_data_dir() / "icbhi2017_cycles"
    with open(root / "labels.csv") as fh:
        rows = [root / r["file"] for r in csv.DictReader(fh) if r["label"] == label]
    return rows[:: max(1, len(rows) // k)][:k]


CASES = [
    ("normal_heart", lambda: _hls_heart("Normal"), HEART_BAND),
    ("mvp_click_murmur", lambda: _yaseen("MVP", 20), HEART_BAND),
    ("normal_lung", lambda: _icbhi("normal", 20), LUNG_BAND),
    ("coarse_crackles", lambda: _icbhi("crackle", 20), LUNG_BAND),
]


@pytest.mark.parametrize("name, files, band", CASES, ids=[c[0] for c in CASES])
def test_centroid_within_real_iqr(name, files, band):
    paths = files()
    assert len(paths) >= 8, f"expected real recordings under {shared_data_dir()}"
    real = [centroid(*read_audio(p), band) for p in paths]
    q25, q75 = np.percentile(real, [25, 75])
    synth = float(np.median([centroid(render(name, 10, SR, seed=s).samples, SR, band) for s in range(3)]))
    assert q25 <= synth <= q75, f"{name}: synth centroid {synth:.0f} Hz, real IQR {q25:.0f}-{q75:.0f} Hz"


def test_heart_timing_matches_circor_annotations():
    """S1-S2 interval at the recording's own rate within 40 ms of the annotated one (10 recordings)."""
    tsvs = sorted((shared_data_dir() / "circor2022" / "training_data").glob("*.tsv"))[:10]
    errs = []
    for f in tsvs:
        a = np.loadtxt(f, ndmin=2)
        s1, s2 = a[a[:, 2] == 1, 0], a[a[:, 2] == 3, 0]
        rr = np.diff(s1)
        rr = rr[rr < 2]
        hr = 60 / np.median(rr)
        real = np.median([s2[s2 > t][0] - t for t in s1 if np.any(s2 > t) and s2[s2 > t][0] - t < np.median(rr)])
        r = render("normal_heart", seconds=15, heart_rate=float(np.clip(hr, 40, 180)), seed=0)
        e1 = np.array([t for t, e in r.events if e == "S1"])
        e2 = np.array([t for t, e in r.events if e == "S2"])
        synth = np.median([e2[e2 > t][0] - t for t in e1 if np.any(e2 > t)])
        errs.append(abs(synth - real))
    assert np.median(errs) < 0.04, errs
