"""Heart rate from the envelope against the CirCor S1 annotations.

For every CirCor recording in ``<shared data>/circor2022/training_data`` the
``.tsv`` segmentation marks each S1 (label 1). The annotated rate is
``60 / median(S1-to-S1 onset interval)`` over consecutive S1s inside annotated
stretches. The app's :func:`stethodesk.audio.dsp.heart_rate_bpm` runs on the
annotated stretch of the recording (first to last annotated segment: the
reference rate describes only that part; CirCor leaves noisy stretches
unannotated, often half the file) or, with ``--whole``, on the whole file. A
recording counts as right when it is within 5 bpm.

Run::

    . .venv/bin/activate && python benchmarks/heart_rate_circor.py [--limit N] [--subset FILE] [--crops]

Prints the share within 5 bpm, the mean absolute error and every failure. With ``--crops`` it also
counts the recordings whose rate moves by more than 10 % (or appears/disappears) when 0.22, 0.5 or
1.0 s is cut off the start: the period choice should not hang on where the recording begins.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stethodesk.audio.dsp import heart_rate_bpm  # noqa: E402
from stethodesk.audio.fileio import read_audio  # noqa: E402
from stethodesk.paths import shared_data_dir  # noqa: E402

TOLERANCE_BPM = 5.0
CROPS_S = (0.22, 0.5, 1.0)  # s cut off the start for the stability count
CROP_MOVE = 0.10  # a rate moving by more than this share counts as moved
MAX_S1_GAP_S = 2.0  # s: S1 pairs further apart span an unannotated stretch


def circor_folder() -> Path:
    return shared_data_dir() / "circor2022" / "training_data"


def annotated_bpm(tsv: Path) -> float | None:
    """``60 / median S1-to-S1 interval`` from a CirCor segmentation file, or None."""
    rows = np.loadtxt(tsv, ndmin=2)
    s1 = rows[rows[:, 2] == 1, 0]  # onsets of S1 segments, s
    if s1.size < 2:
        return None
    d = np.diff(np.sort(s1))
    d = d[d < MAX_S1_GAP_S]
    if d.size == 0:
        return None
    return float(60.0 / np.median(d))


def annotated_span(tsv: Path) -> tuple[float, float]:
    """(start, end) in seconds of the annotated stretch (labels 1-4) of a CirCor file."""
    rows = np.loadtxt(tsv, ndmin=2)
    seg = rows[rows[:, 2] > 0]
    return float(seg[0, 0]), float(seg[-1, 1])


def evaluate(flacs: list[Path], whole: bool = False, crops: bool = False) -> dict:
    """Compare app and annotated rates. Returns counts, errors, the failure list and, with
    ``crops``, the recordings whose rate moves under :data:`CROPS_S` (``moved``)."""
    rows, moved = [], []
    for f in flacs:
        tsv = f.with_suffix(".tsv")
        ref = annotated_bpm(tsv)
        if ref is None:
            continue
        x, sr = read_audio(f)
        if not whole:
            t0, t1 = annotated_span(tsv)
            x = x[int(t0 * sr) : int(np.ceil(t1 * sr))]
        est = heart_rate_bpm(x, sr)
        rows.append((f.name, ref, est, len(x) / sr))
        if crops:
            cut = [heart_rate_bpm(x[int(c * sr) :], sr) for c in CROPS_S]
            if any((c is None) != (est is None) or (c and est and abs(c - est) > CROP_MOVE * est) for c in cut):
                moved.append((f.name, est, cut))
    ok = [r for r in rows if r[2] is not None and abs(r[2] - r[1]) <= TOLERANCE_BPM]
    errs = [abs(r[2] - r[1]) for r in rows if r[2] is not None]
    return {
        "n": len(rows),
        "ok": len(ok),
        "share": len(ok) / len(rows) if rows else 0.0,
        "no_answer": sum(r[2] is None for r in rows),
        "median_abs_err": float(np.median(errs)) if errs else float("nan"),
        "failures": [r for r in rows if r not in ok],
        "moved": moved,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--whole", action="store_true", help="use whole files, not the annotated stretch")
    ap.add_argument("--limit", type=int, default=0, help="only the first N recordings (sorted)")
    ap.add_argument("--subset", type=Path, help="file with one recording name per line")
    ap.add_argument("--crops", action="store_true", help="also count rates moved by cutting the start")
    args = ap.parse_args()
    folder = circor_folder()
    flacs = sorted(folder.glob("*.flac"))
    if args.subset:
        names = set(args.subset.read_text().split())
        flacs = [f for f in flacs if f.name in names]
    if args.limit:
        flacs = flacs[: args.limit]
    t0 = time.perf_counter()
    res = evaluate(flacs, whole=args.whole, crops=args.crops)
    dt = time.perf_counter() - t0
    where = "whole files" if args.whole else "annotated stretches"
    print(f"CirCor heart rate ({where}): {res['ok']}/{res['n']} recordings within {TOLERANCE_BPM:.0f} bpm "
          f"= {100 * res['share']:.1f}%  (no answer: {res['no_answer']}, median |error| "
          f"{res['median_abs_err']:.2f} bpm, {dt:.1f} s)")
    print("failures (file, annotated bpm, app bpm, seconds):")
    for name, ref, est, sec in res["failures"]:
        est_s = "none" if est is None else f"{est:6.1f}"
        print(f"  {name:22s} {ref:6.1f} {est_s:>6s} {sec:5.1f}s")
    if args.crops:
        print(f"moved by >{100 * CROP_MOVE:.0f}% when {', '.join(f'{c:g}' for c in CROPS_S)} s is cut off the "
              f"start: {len(res['moved'])}/{res['n']}")
        for name, est, cut in res["moved"]:
            print(f"  {name:22s} {est or 0:6.1f} -> " + " ".join(f"{c or 0:6.1f}" for c in cut))
    return 0


if __name__ == "__main__":
    sys.exit(main())
