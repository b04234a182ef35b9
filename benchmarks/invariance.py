"""How much other stethoscopes, levels and band limits move the calibrated findings (issue 9 item 4).

    .venv/bin/python benchmarks/invariance.py [--bundle DIR] [--per-dataset 6] [--seconds 12]

For held-out (test split) recordings of every dataset, the findings of the original are compared
with those of the same audio after: saving at a 2 kHz sample rate (band limit 1 kHz), -40 dB and
+6 dB of level (clipped at full scale as a real file would be), pink noise at 20 dB SNR, and a
different device response (a 100-700 Hz band-pass, 2nd order). Prints the mean and the largest
|change| of each head's probability per transform; the aim is a mean of at most 0.10.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from scipy import signal  # noqa: E402

HEADS = ("abnormal", "murmur", "crackle", "wheeze", "poor_quality")
AIM = 0.10  # mean |change| of a calibrated probability (issue 9 item 4)


def band_limit_2k(x: np.ndarray, sr: int) -> tuple[np.ndarray, int]:
    """Saved at 2 kHz: scipy's polyphase resampler (anti-alias filter included), then back up."""
    from math import gcd

    if sr <= 2000:
        return x, sr
    g = gcd(sr, 2000)
    y = signal.resample_poly(x, 2000 // g, sr // g)
    return signal.resample_poly(y, sr // g, 2000 // g).astype(np.float32), sr


def level(db: float):
    def f(x, sr):
        return np.clip(x * 10 ** (db / 20), -1.0, 1.0).astype(np.float32), sr
    return f


def pink_noise(snr_db: float, seed: int = 0):
    def f(x, sr):
        rng = np.random.default_rng(seed)
        white = rng.standard_normal(x.size)
        spec = np.fft.rfft(white)
        spec /= np.sqrt(np.maximum(np.fft.rfftfreq(x.size, 1 / sr), 1.0))
        n = np.fft.irfft(spec, x.size)
        n *= np.sqrt(np.mean(x ** 2) / np.mean(n ** 2)) * 10 ** (-snr_db / 20)
        return np.clip(x + n, -1, 1).astype(np.float32), sr
    return f


def device(lo: float = 100.0, hi: float = 700.0):
    def f(x, sr):
        sos = signal.butter(2, [lo, min(hi, 0.45 * sr)], btype="band", fs=sr, output="sos")
        y = signal.sosfilt(sos, x)
        return (y * np.sqrt(np.mean(x ** 2) / max(np.mean(y ** 2), 1e-20))).astype(np.float32), sr
    return f


TRANSFORMS = {"2 kHz sample rate": band_limit_2k, "-40 dB": level(-40), "+6 dB": level(6),
              "pink noise 20 dB SNR": pink_noise(20), "device 100-700 Hz": device()}


def test_records(per_dataset: int, seed: int = 0):
    from training.splits import load_split

    by = {}
    for r in sorted(load_split("test"), key=lambda r: r.record_id):
        if r.start_s is None:
            by.setdefault(r.dataset, []).append(r)
    rng = random.Random(seed)
    return [r for ds in sorted(by) for r in rng.sample(by[ds], min(per_dataset, len(by[ds])))]


def measure(engine, records, seconds: float) -> dict:
    """{transform: {head: [|change|, ...]}} over ``records``."""
    from stethodesk.audio.fileio import read_audio

    out = {t: {h: [] for h in HEADS} for t in TRANSFORMS}
    for r in records:
        x, sr = read_audio(r.path)
        x = x[: int(seconds * sr)]
        base = engine.analyze_audio(x, sr, domain=r.domain, site=r.site).findings
        for name, tf in TRANSFORMS.items():
            y, sr2 = tf(x, sr)
            got = engine.analyze_audio(y, sr2, domain=r.domain, site=r.site).findings
            for h in HEADS:
                if h in base and h in got:
                    out[name][h].append(abs(got[h] - base[h]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=None)
    ap.add_argument("--per-dataset", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = ap.parse_args(argv)
    from stethodesk.model.engine import Engine

    engine = Engine(bundle_path=a.bundle, n_threads=1).load()
    recs = test_records(a.per_dataset)
    print(f"bundle {engine.name} {engine.version}; {len(recs)} test recordings; load {os.getloadavg()[0]:.1f}")
    res = measure(engine, recs, a.seconds)
    summary = {}
    print(f"{'transform':24s} " + " ".join(f"{h:>18s}" for h in HEADS))
    for name, heads in res.items():
        cells, summary[name] = [], {}
        for h in HEADS:
            v = heads[h]
            if v:
                summary[name][h] = {"mean": float(np.mean(v)), "max": float(np.max(v)), "n": len(v)}
                cells.append(f"{np.mean(v):6.3f} (max {np.max(v):4.2f})")
            else:
                cells.append(f"{'-':>18s}")
        print(f"{name:24s} " + " ".join(f"{c:>18s}" for c in cells))
    worst = max((s["mean"] for t in summary.values() for s in t.values()), default=0.0)
    print(f"largest mean |change| {worst:.3f} (aim <= {AIM})")
    if a.json:
        a.json.write_text(json.dumps({"bundle": engine.name, "version": engine.version, "summary": summary}, indent=1))
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
