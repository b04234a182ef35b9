"""Per-finding operating points, chosen on the validation split (issue 9).

One point (0.5) for every head left the lung heads almost silent: on the test split, wheeze
sensitivity 0.05 and crackle 0.40 at specificities of 0.99, because the calibrated probability of
a rarer finding seldom reaches 0.5. The point of each finding is therefore chosen where its
validation recordings are best separated: the highest Youden's J = sensitivity + specificity - 1
(Youden 1950, Cancer 3:32), the equal-weight trade of the two errors. The probability the card
shows stays the calibrated one; only where a finding is *called* moves
(:mod:`stethodesk.model.facts`).

Rules:
- searched within :data:`POINT_RANGE` (``training/instructions/card.py``: the points the
  language model was trained to read in its findings text), on a grid of :data:`GRID_STEP`;
- only for a finding with at least :data:`MIN_EACH` validation recordings of each class (else it
  keeps 0.5, and ``call_source`` says why); ties go to the point nearest 0.5;
- for the binary and multilabel heads that state a sound on the card: not ``is_lung`` (it picks
  the domain and keeps its own rule), not the lesion head (a softmax ranking) and not
  ``poor_quality``: it only adds "read with caution" to the card and has its own refusal point
  (``training.refusal``), and equal weight on its two errors put the shipped bundle's point at
  0.23, where half the usable validation recordings (specificity 0.52) would be flagged.

Nothing writes them automatically (measured on the shipped weights, these points lowered the
ICBHI and SPRSound scores and the shown answers' accuracy: ``training/README.md``); for a bundle::

    .venv/bin/python -m training.operating_points --bundle DIR [--write]

prints each finding's validation sensitivity and specificity at 0.5 and at its point and, with
``--write``, stores ``call_at`` and ``call_source`` in ``bundle.json`` and seals it again
(``write_manifest``; the weights are unchanged).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

from stethodesk.model import calibration as cal
from stethodesk.model.encoder import HEADS
from training.instructions.card import POINT_RANGE

GRID_STEP = 0.01
MIN_EACH = 20  # validation recordings of each class a finding needs for its own point
NOT_CALLED = ("is_lung", "poor_quality")  # heads that keep 0.5 (see the module docstring)


def choose_point(p: np.ndarray, y: np.ndarray) -> tuple[float | None, dict]:
    """(point, figures) of one finding: the Youden-optimal point, or None with the reason.

    ``p`` are calibrated probabilities ``[N]``, ``y`` booleans ``[N]`` (one validation
    recording each). Figures: n, positives, sensitivity and specificity at 0.5 and at the point.
    """
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=bool)
    pos, neg = int(y.sum()), int((~y).sum())
    info: dict = {"n": int(len(y)), "positives": pos}
    if min(pos, neg) < MIN_EACH:
        info["kept_0.5"] = f"fewer than {MIN_EACH} validation recordings of a class ({pos} positive, {neg} negative)"
        return None, info

    def rates(t: float) -> tuple[float, float]:
        called = p >= t
        return float(called[y].mean()), float((~called[~y]).mean())

    grid = np.round(np.arange(POINT_RANGE[0], POINT_RANGE[1] + 1e-9, GRID_STEP), 4)
    scores = [(sum(rates(t)) - 1.0, -abs(t - 0.5), float(t)) for t in grid]
    best = max(scores)[2]
    se0, sp0 = rates(0.5)
    se, sp = rates(best)
    info.update({"sens_at_0.5": round(se0, 3), "spec_at_0.5": round(sp0, 3),
                 "sens": round(se, 3), "spec": round(sp, 3)})
    return best, info


def head_points(name: str, z: np.ndarray, y: np.ndarray, calib: dict | None) -> tuple[dict, dict]:
    """({finding key: point}, {finding key: figures}) of one head on validation.

    ``z`` logits ``[N, C]`` and ``y`` targets ``[N, C]`` (NaN: unknown) as
    ``training.encoder_calibration`` reads them; ``calib`` the head's calibration entry. Heads
    that call no card finding (:data:`NOT_CALLED`, softmax heads) give ``({}, {})``.
    """
    spec = HEADS[name]
    if name in NOT_CALLED or spec.kind == "multiclass":
        return {}, {}
    probs = cal.probabilities(np.asarray(z, dtype=np.float64), spec.kind, calib)
    points, figures = {}, {}
    for j, cls in enumerate(spec.classes):
        key = name if spec.kind == "binary" else f"{name}_{cls}"
        known = ~np.isnan(y[:, j])
        point, info = choose_point(probs[known, j], y[known, j] > 0.5)
        figures[key] = info
        if point is not None:
            points[key] = point
    return points, figures


def call_source(figures: dict) -> dict:
    """The ``call_source`` entry stored beside ``call_at``: how, when, the validation figures."""
    return {"rule": "max Youden J on the validation split", "range": list(POINT_RANGE),
            "chosen": dt.date.today().isoformat(), "validation": figures}


def _validation_logits(bundle_dir: Path, log=print):
    from training.encoded_records import encode_records
    from training.encoder_targets import record_targets, stack_targets
    from training.evaluate import load_parts
    from training.splits import load_split

    m, enc, _, fe = load_parts(bundle_dir)
    records = load_split("val")
    encoded = encode_records(enc, records, fe, log=log)
    kept = [r for r in records if r.key in encoded]
    logits = {h: np.stack([np.asarray(encoded[r.key].logits[h]).reshape(-1) for r in kept]) for h in enc.cfg.heads}
    targets = stack_targets([record_targets(r) for r in kept], enc.cfg.heads)
    return m, logits, targets


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Choose each finding's operating point on the validation split.")
    ap.add_argument("--bundle", type=Path, required=True, help="bundle folder")
    ap.add_argument("--write", action="store_true", help="store call_at in the bundle's bundle.json")
    a = ap.parse_args(argv)
    m, logits, targets = _validation_logits(a.bundle)
    chosen = {}
    print(f"{'finding':26s} {'n':>5s} {'pos':>4s}  point  sens/spec at 0.5 -> at point")
    for h, z in logits.items():
        if h not in m["heads"]:
            continue
        points, figures = head_points(h, z, targets[h], m["heads"][h].get("calibration"))
        for key, f in figures.items():
            if key in points:
                print(f"{key:26s} {f['n']:5d} {f['positives']:4d}  {points[key]:.2f}   "
                      f"{f['sens_at_0.5']:.3f}/{f['spec_at_0.5']:.3f} -> {f['sens']:.3f}/{f['spec']:.3f}")
            else:
                print(f"{key:26s} {f['n']:5d} {f['positives']:4d}  0.5    ({f['kept_0.5']})")
        chosen[h] = (points, figures)
    if a.write:
        from stethodesk.model.bundle import write_manifest

        path = Path(a.bundle) / "bundle.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        for h, (points, figures) in chosen.items():
            manifest["heads"][h].pop("call_at", None)
            manifest["heads"][h].pop("call_source", None)
            if points:
                manifest["heads"][h]["call_at"] = points
                manifest["heads"][h]["call_source"] = call_source(figures)
        write_manifest(path.parent, manifest)  # sealed again: the edit is ours
        print(f"wrote call_at to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
