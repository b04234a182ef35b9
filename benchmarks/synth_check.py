"""Plausibility check of the synthesizer against real recordings in ../shared/data.

For every preset, spectral features of the rendering (4 kHz, default noise and
mixing, several seeds) are compared with the same features on matching real
recordings; heart timing (S1/S2 durations, S1-S2 interval, RR variability) is
compared with the CirCor ``.tsv`` segmentations, breathing cycle length with
the ICBHI cycle annotations. A row is flagged ``OUT`` when the synth median
falls outside the real inter-quartile range.

Run (about a minute on 2 cores)::

    . .venv/bin/activate && python benchmarks/synth_check.py [--markdown docs-table.md]

Spectral features, on the Welch PSD (Hann, 512 samples at 4 kHz) restricted to
a band (heart 20-1000 Hz, lung 50-2000 Hz): centroid, 85 % roll-off, and the
fraction of band energy in octave-like sub-bands.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stethodesk.audio import synth, synth_heart  # noqa: E402
from stethodesk.audio.fileio import read_audio  # noqa: E402
from stethodesk.audio.synth_common import FS  # noqa: E402
from stethodesk.audio.synth_heart import HeartParams, render_heart  # noqa: E402
from stethodesk.audio.synth_lung import breath_cycles  # noqa: E402
from stethodesk.paths import shared_data_dir  # noqa: E402

SR = 4000  # Hz, comparison rate (CirCor, HLS-CMDS native; others resampled)
HEART_BAND = (20.0, 1000.0)
LUNG_BAND = (50.0, 2000.0)
HEART_SUBBANDS = ((20, 50), (50, 100), (100, 200), (200, 400), (400, 1000))
LUNG_SUBBANDS = ((50, 100), (100, 200), (200, 400), (400, 800), (800, 2000))
N_SEEDS = 6  # synth renderings per preset
SYNTH_SECONDS = 10.0
MAX_PER_SET = 60  # real recordings per reference set (seeded sample), keeps the run ~1 min

# preset -> reference sets (name of a set built by real_sets())
HEART_REFS = {
    "normal_heart": ["circor_normal", "yaseen_N", "hls_N"],
    "split_s2": ["circor_normal", "yaseen_N", "hls_N"],
    "fixed_split_s2": ["circor_normal", "yaseen_N", "hls_N"],
    "s3_gallop": ["circor_normal", "hls_N", "hls_S3"],
    "s4_gallop": ["circor_normal", "hls_N", "hls_S4"],
    "aortic_stenosis": ["yaseen_AS", "circor_murmur", "hls_MSM"],
    "mitral_regurgitation": ["yaseen_MR", "circor_murmur"],
    "aortic_regurgitation": ["circor_murmur"],
    "mitral_stenosis": ["yaseen_MS", "hls_LDM"],
    "mvp_click_murmur": ["yaseen_MVP", "hls_LSM"],
}
LUNG_REFS = {
    "normal_lung": ["icbhi_normal", "hls_lung_Normal"],
    "bronchial_breathing": ["icbhi_normal", "hls_lung_Normal"],
    "fine_crackles": ["icbhi_crackle", "hls_lung_Fine Crackles"],
    "coarse_crackles": ["icbhi_crackle", "hls_lung_Coarse Crackles"],
    "wheeze": ["icbhi_wheeze", "hls_lung_Wheezing"],
    "rhonchi": ["icbhi_wheeze", "hls_lung_Rhonchi"],
    "pleural_rub": ["hls_lung_Pleural Rub"],
}


def spectral_features(x: np.ndarray, sr: int, band: tuple[float, float], subbands) -> dict[str, float]:
    """Centroid, 85 % roll-off (Hz) and sub-band energy fractions of ``x`` (n,) within ``band``."""
    if sr != SR:
        from math import gcd

        g = gcd(sr, SR)
        x = signal.resample_poly(x, SR // g, sr // g)
    f, p = signal.welch(x - np.mean(x), fs=SR, nperseg=512)
    m = (f >= band[0]) & (f <= band[1])
    f, p = f[m], p[m]
    tot = p.sum() or 1.0
    c = np.cumsum(p) / tot
    out = {"centroid": float((f * p).sum() / tot), "rolloff85": float(f[np.searchsorted(c, 0.85)])}
    for lo, hi in subbands:
        out[f"E{lo}-{hi}"] = float(p[(f >= lo) & (f < hi)].sum() / tot)
    return out


def _sample(items: list, k: int, seed: int = 0) -> list:
    if len(items) <= k:
        return items
    idx = np.random.default_rng(seed).choice(len(items), k, replace=False)
    return [items[i] for i in sorted(idx)]


def real_sets(root: Path) -> dict[str, list[Path]]:
    """Reference recordings by set name."""
    sets: dict[str, list[Path]] = {}
    cc = root / "circor2022"
    normal, murmur = [], []
    with open(cc / "training_data.csv") as fh:
        for row in csv.DictReader(fh):
            pid = row["Patient ID"]
            for loc in row["Locations"].split("+"):
                fl = cc / "training_data" / f"{pid}_{loc}.flac"
                if not fl.exists():
                    continue
                if row["Murmur"] == "Absent":
                    normal.append(fl)
                elif row["Murmur"] == "Present" and loc in row["Murmur locations"].split("+"):
                    murmur.append(fl)
    sets["circor_normal"] = _sample(normal, MAX_PER_SET)
    sets["circor_murmur"] = _sample(murmur, MAX_PER_SET)
    ys = root / "yaseen2018"
    for cls in ("N", "AS", "MR", "MS", "MVP"):
        sets[f"yaseen_{cls}"] = _sample(sorted((ys / cls).glob("*.flac")), MAX_PER_SET // 2)
    hls = root / "hls_cmds"
    codes = {"N": "Normal", "S3": "S3", "S4": "S4", "MSM": "Mid Systolic Murmur",
             "LSM": "Late Systolic Murmur", "LDM": "Late Diastolic Murmur"}
    with open(hls / "HS.csv") as fh:
        rows = list(csv.DictReader(fh))
    for code, typ in codes.items():
        sets[f"hls_{code}"] = [hls / "HS" / f"{r['Heart Sound ID']}.flac" for r in rows if r["Heart Sound Type"] == typ]
    with open(hls / "LS_labels_fixed.csv") as fh:
        for r in csv.DictReader(fh):
            sets.setdefault(f"hls_lung_{r['Lung Sound Type']}", []).append(hls / r["file"])
    ic = root / "icbhi2017_cycles"
    groups: dict[str, list[Path]] = {"normal": [], "crackle": [], "wheeze": []}
    with open(ic / "labels.csv") as fh:
        for r in csv.DictReader(fh):
            if r["label"] in groups:
                groups[r["label"]].append(ic / r["file"])
    for k, v in groups.items():
        sets[f"icbhi_{k}"] = _sample(v, MAX_PER_SET * 2)
    return sets


def circor_timing(root: Path) -> dict[str, np.ndarray]:
    """Per-recording medians from every CirCor .tsv: S1 and S2 durations, S1-S2 onset interval, HR, RR CV."""
    rows = []
    for f in sorted((root / "circor2022" / "training_data").glob("*.tsv")):
        a = np.loadtxt(f, ndmin=2)
        s1, s2 = a[a[:, 2] == 1], a[a[:, 2] == 3]
        if len(s1) < 3 or len(s2) < 2:
            continue
        rr = np.diff(s1[:, 0])
        rr = rr[rr < 2.0]  # gaps in the annotation are not beats
        if len(rr) < 2:
            continue
        ints = [s2[s2[:, 0] > on][0, 0] - on for on in s1[:, 0] if np.any(s2[:, 0] > on)]
        ints = [i for i in ints if i < np.median(rr)]
        rows.append((np.median(s1[:, 1] - s1[:, 0]), np.median(s2[:, 1] - s2[:, 0]), np.median(ints),
                     60 / np.median(rr), np.std(rr) / np.mean(rr)))
    r = np.asarray(rows)
    return {k: r[:, i] for i, k in enumerate(("S1_dur_s", "S2_dur_s", "S1S2_s", "hr_bpm", "rr_cv"))}


def synth_timing(hr: float, seeds=range(N_SEEDS)) -> dict[str, float]:
    """Same timing figures measured on clean synthetic normal heart sounds at ``hr`` bpm.

    S1/S2 durations are measured on the signal: the span around each event where
    the 10 ms-smoothed Hilbert envelope stays above 10 % of that sound's peak.
    """
    d1, d2, ints, cvs = [], [], [], []
    for seed in seeds:
        h = render_heart(np.random.default_rng(seed), 20.0, hr, 16.0, HeartParams())
        env = np.abs(signal.hilbert(h.x))
        w = int(0.01 * FS)
        env = np.convolve(env, np.ones(w) / w, mode="same")
        s1 = [t for t, e in h.events if e == "S1"]
        s2 = [t for t, e in h.events if e == "S2"]
        for times, out in ((s1, d1), (s2, d2)):
            for t in times:
                a, b = int((t - 0.03) * FS), int((t + 0.2) * FS)
                if a < 0 or b > env.size:
                    continue
                seg = env[a:b]
                above = np.nonzero(seg > 0.1 * seg.max())[0]
                out.append((above[-1] - above[0]) / FS)
        ints += [b - a for a, b in zip(s1, s2) if 0 < b - a < 60 / hr]
        rr = np.diff(s1)
        cvs.append(np.std(rr) / np.mean(rr))
    return {"S1_dur_s": float(np.median(d1)), "S2_dur_s": float(np.median(d2)),
            "S1S2_s": float(np.median(ints)), "rr_cv": float(np.median(cvs))}


def _row(what: str, ref: str, synth_v: float, real: np.ndarray) -> tuple:
    q25, q50, q75 = np.percentile(real, [25, 50, 75])
    flag = "" if q25 <= synth_v <= q75 else "out"
    return (what, ref, len(real), synth_v, q50, q25, q75, flag)


def flag_groups(rows: list[tuple]) -> list[str]:
    """Features whose synth value lies outside the IQR of *every* reference set compared.

    The real sets disagree with each other (device, filtering, noise: e.g. the
    Yaseen clips are low-passed, CirCor has a high noise floor), so a rendering
    counts as plausible when it falls inside the IQR of at least one of them.
    """
    by: dict[str, list[str]] = {}
    for r in rows:
        by.setdefault(r[0], []).append(r[7])
    return [k for k, flags in by.items() if all(flags)]


def app_readout() -> tuple[str, str]:
    """What the live view would show for the synthetic sounds: the app's own heart-rate
    estimate (stethodesk.audio.dsp.heart_rate_bpm) against the rendered rate, and its
    signal-quality verdict. The simulated stethoscope is the demo, so these must be right."""
    from stethodesk.audio import dsp

    ok = total = 0
    misses = []
    levels: dict[str, int] = {}
    for hr in (50.0, 72.0, 100.0, 140.0, 170.0):
        for name, spec in synth.SOUNDS.items():
            if spec.domain != "heart":
                continue
            r = synth.render(name, 15.0, SR, heart_rate=hr, seed=1)
            est = dsp.heart_rate_bpm(r.samples, SR)
            total += 1
            hit = est is not None and abs(est - r.labels["heart_rate_bpm"]) <= 5.0
            ok += hit
            if not hit:
                misses.append(f"{name} at {r.labels['heart_rate_bpm']:.0f} bpm read as "
                              + ("nothing" if est is None else f"{est:.0f} bpm"))
    for name, spec in synth.SOUNDS.items():
        r = synth.render(name, 15.0, SR, seed=1)
        q = dsp.signal_quality(r.samples, SR, spec.domain)
        levels[q.level] = levels.get(q.level, 0) + 1
    return (f"app heart-rate estimate within 5 bpm of the rendered rate: {ok} of {total} "
            f"(heart presets x 50/72/100/140/170 bpm, 15 s); misses: {'; '.join(misses) or 'none'}",
            f"app signal-quality verdict on all {len(synth.SOUNDS)} presets: {levels}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--markdown", type=Path, help="also write the table as markdown to this file")
    args = ap.parse_args(argv)
    root = shared_data_dir()
    sets = real_sets(root)
    cache: dict[str, list[dict]] = {}

    def feats_of(name: str, band, subbands) -> list[dict]:
        if name not in cache:
            out = []
            for p in sets[name]:
                x, sr = read_audio(p)
                out.append(spectral_features(x, sr, band, subbands))
            cache[name] = out
        return cache[name]

    rows = []
    for domain, refs, band, sub in (("heart", HEART_REFS, HEART_BAND, HEART_SUBBANDS),
                                    ("lung", LUNG_REFS, LUNG_BAND, LUNG_SUBBANDS)):
        for preset, ref_names in refs.items():
            sf = [spectral_features(synth.render(preset, SYNTH_SECONDS, SR, seed=s).samples.astype(float), SR, band, sub)
                  for s in range(N_SEEDS)]
            for key in sf[0]:
                sv = float(np.median([f[key] for f in sf]))
                for ref in ref_names:
                    real = np.array([f[key] for f in feats_of(ref, band, sub)])
                    rows.append(_row(f"{preset} {key}", ref, sv, real))

    tim = circor_timing(root)
    hr_med = float(np.median(tim["hr_bpm"]))
    slope, icpt = np.polyfit(tim["hr_bpm"], tim["S1S2_s"], 1)
    fit_line = (f"CirCor S1-S2 onset interval vs heart rate, least squares over {len(tim['hr_bpm'])} recordings: "
                f"{icpt:.3f} s {slope:+.5f} s/bpm x HR (synth: {synth_heart.SYS_A_S} s "
                f"-{synth_heart.SYS_B_S_PER_BPM} s/bpm x HR)")
    st = synth_timing(hr_med)
    for key in ("S1_dur_s", "S2_dur_s", "S1S2_s", "rr_cv"):
        rows.append(_row(f"normal_heart {key} @ {hr_med:.0f} bpm", "circor_tsv", st[key], tim[key]))

    # breathing cycle length: synth at the real median rate and at the API default of 16/min
    ic_dur = []
    with open(root / "icbhi2017_cycles" / "labels.csv") as fh:
        ic_dur = np.array([float(r["duration_s"]) for r in csv.DictReader(fh)])
    for rate in (60.0 / float(np.median(ic_dur)), 16.0):
        cyc = [c for s in range(N_SEEDS) for c in breath_cycles(np.random.default_rng(s), 60.0, rate)]
        durs = np.array([c[2] - c[0] for c in cyc])
        rows.append(_row(f"breath cycle_s @ {rate:.1f}/min", "icbhi_cycles", float(np.median(durs)), ic_dur))

    hdr = ("feature", "reference", "n_real", "synth", "real_median", "real_q25", "real_q75", "flag")
    lines = ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
    for r in rows:
        lines.append("| " + " | ".join([r[0], r[1], str(r[2])] + [f"{v:.3g}" for v in r[3:7]] + [r[7]]) + " |")
    print(f"{'feature':44s} {'reference':24s} {'n':>4s} {'synth':>8s} {'median':>8s} {'q25':>8s} {'q75':>8s}")
    for r in rows:
        print(f"{r[0]:44s} {r[1]:24s} {r[2]:4d} {r[3]:8.3g} {r[4]:8.3g} {r[5]:8.3g} {r[6]:8.3g} {r[7]}")
    n_out = sum(1 for r in rows if r[7])
    flagged = flag_groups(rows)
    n_feat = len({r[0] for r in rows})
    summary = (f"rows outside that reference's IQR: {n_out} of {len(rows)}\n"
               f"FLAGGED (outside the IQR of every reference compared): {len(flagged)} of {n_feat}\n"
               + "".join(f"  - {k}\n" for k in flagged))
    print("\n" + summary)
    print(fit_line)
    hr_line, q_line = app_readout()
    print(hr_line)
    print(q_line)
    for sr in (4000, 48000):
        t0 = time.perf_counter()
        for name in synth.SOUNDS:
            synth.render(name, 10.0, sr)
        ms = (time.perf_counter() - t0) * 1000 / len(synth.SOUNDS)
        print(f"render speed: {ms:.0f} ms per 10 s preset at {sr} Hz (mean of {len(synth.SOUNDS)} presets)")
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n\n```\n" + summary + fit_line + "\n```\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
