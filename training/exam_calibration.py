"""Fit and measure the exam-level (patient-level) calibration of ``stethodesk.model.exam``.

Fit on the CirCor **validation** patients (``training.splits``), per-site findings through the
app's own audio path (:mod:`training.exam_encode`, cached):

- pooling rule per head (mean / max / noisy-or / log-mean-exp of the sites' logits), picked by
  validation NLL after a Platt fit ``sigmoid(a z + b)`` of the pooled logit;
  murmur target: patient ``Murmur == Present`` (Unknown counts as not present); abnormal target:
  patient ``Outcome == Abnormal``;
- ``unknown_share``: share of Unknown among the validation patients without a Present murmur
  (the call rule of ``exam.murmur_call`` uses it);
- ``site_threshold``: per-site murmur probability at which a site is listed as "heard at",
  best F1 against CirCor's ``Murmur locations`` of the validation Present patients.

The probabilities are at the share's prevalence (about half the patients murmur Present; the
release has 19%), stated in the JSON. Measure on the **test** patients with ``--evaluate``:
patient-level murmur weighted accuracy (PhysioNet 2022 weights Present 5, Unknown 3, Absent 1),
most-audible-site accuracy, patient-level vs per-recording AUROC, and the weighted accuracy of
each single recording's own call (murmur probability at the bundle's murmur operating point,
``heads.murmur.call_at``, else 0.5, as the app's card calls it; judged against the patient label)
beside the exam's.

    python -m training.exam_calibration            # fit on val, write resources/exam_calibration.json
    python -m training.exam_calibration --evaluate  # print the test-split figures
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from types import SimpleNamespace

import numpy as np

from stethodesk.model import exam
from stethodesk.model.calibration import auroc
from stethodesk.model.facts import call_point, site_key
from training.exam_encode import encode_split

LABEL_CALL = {"Present": "present", "Absent": "absent", "Unknown": "unknown"}


def analyses_of(patient: dict) -> list:
    """AudioAnalysis-like objects of one cached patient (what ``exam.exam_findings`` reads)."""
    return [SimpleNamespace(site=s["site_code"], domain="heart", findings=s["findings"], usable=s["usable"],
                            unusable_reason=s["unusable_reason"]) for s in patient["sites"]]


def _usable(patient: dict) -> list[dict]:
    return [s for s in patient["sites"] if s["usable"] and s["findings"]]


def _nll(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_head(patients: list[dict], head: str, target) -> dict:
    """``{"pool", "a", "b", "val_nll": {pool: nll}, "n"}`` for ``head`` on patients with usable sites."""
    from training.prevalence import fit_platt

    rows = [(p, target(p)) for p in patients if _usable(p)]
    rows = [(p, t) for p, t in rows if t is not None]
    y = np.array([t for _, t in rows], dtype=float)
    res = {}
    for rule in exam.POOLS:
        z = np.array([exam.pool_logits([exam.logit(s["findings"][head]) for s in _usable(p)], rule)
                      for p, _ in rows])
        a, b = fit_platt(z, y)
        res[rule] = (_nll(1 / (1 + np.exp(-(a * z + b))), y), a, b)
    best = min(res, key=lambda r: res[r][0])
    return {"pool": best, "a": round(res[best][1], 6), "b": round(res[best][2], 6),
            "val_nll": {r: round(v[0], 4) for r, v in res.items()}, "n_patients": len(rows)}


def fit_site_threshold(patients: list[dict]) -> tuple[float, float]:
    """(threshold, F1) of per-site murmur probability vs the CirCor murmur locations."""
    pairs = [(s["findings"]["murmur"], s["site_code"] in p["labels"]["murmur_locations"])
             for p in patients if p["labels"]["murmur"] == "Present" for s in _usable(p)]
    best = (0.5, -1.0)
    for t in np.arange(0.05, 0.951, 0.05):
        tp = sum(1 for q, y in pairs if q >= t and y)
        fp = sum(1 for q, y in pairs if q >= t and not y)
        fn = sum(1 for q, y in pairs if q < t and y)
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        if f1 > best[1] + 1e-9:
            best = (round(float(t), 2), f1)
    return best


def fit(bundle=None) -> dict:
    val = encode_split("val", bundle)
    pats = list(val["patients"].values())
    murmur = fit_head(pats, "murmur", lambda p: {"Present": 1, "Absent": 0, "Unknown": 0}.get(p["labels"]["murmur"]))
    abnormal = fit_head(pats, "abnormal", lambda p: {"Abnormal": 1, "Normal": 0}.get(p["labels"]["outcome"]))
    n_unknown = sum(p["labels"]["murmur"] == "Unknown" for p in pats)
    n_absent = sum(p["labels"]["murmur"] == "Absent" for p in pats)
    murmur["unknown_share"] = round(n_unknown / max(n_unknown + n_absent, 1), 4)
    thr, f1 = fit_site_threshold(pats)
    return {
        "format": "stethodesk-exam-calibration/1",
        "fitted": True,
        "murmur": murmur,
        "abnormal": abnormal,
        "site_threshold": thr,
        "site_threshold_val_f1": round(f1, 4),
        "fitted_on": {
            "bundle": val["bundle"], "dataset": "circor2022 (share subset)", "split": "val",
            "patients": len(pats), "date": dt.date.today().isoformat(),
            "prevalence": "share subset: murmur Present "
                          f"{sum(p['labels']['murmur'] == 'Present' for p in pats)}/{len(pats)} val patients "
                          "(release 19%); probabilities are at the share's prevalence",
            "method": "per-site calibrated probabilities -> logits -> pooling rule with the lowest "
                      "validation NLL after a Platt fit sigmoid(a z + b); murmur target Present vs "
                      "Absent/Unknown, abnormal target Outcome",
            "script": "python -m training.exam_calibration",
        },
    }


def evaluate(split: str = "test", bundle=None, calibration: dict | None = None) -> dict:
    """Patient-level figures of ``split`` with ``calibration`` (default: the shipped file)."""
    from stethodesk.model.analysis import operating_points
    from stethodesk.model.bundle import load_bundle

    cal = calibration or exam.load_calibration()
    data = encode_split(split, bundle)
    point = call_point("murmur", operating_points(load_bundle(bundle, verify=False).heads))  # the card's murmur call
    w = exam.CALL_WEIGHTS
    num = den = rnum = rden = 0.0  # weighted accuracy: exam call; each recording's own call at ``point``
    site_ok = site_n = 0
    pts = {"murmur": ([], []), "abnormal": ([], [])}  # head -> (patient probabilities, labels)
    recs = {"murmur": ([], []), "abnormal": ([], [])}  # head -> (recording probabilities, labels)
    for p in data["patients"].values():
        lab = p["labels"]
        ex = exam.exam_findings(analyses_of(p), cal)
        truth = LABEL_CALL.get(lab["murmur"])
        if truth:
            den += w[truth]
            num += w[truth] * (ex.murmur_call == truth)
            for s in _usable(p):
                rden += w[truth]
                rnum += w[truth] * (("present" if s["findings"]["murmur"] >= point else "absent") == truth)
        if lab["murmur"] == "Present" and lab["most_audible"] and ex.most_audible_site:
            site_n += 1
            site_ok += site_key(ex.most_audible_site) == site_key(lab["most_audible"])
        targets = {"murmur": {"Present": True, "Absent": False}.get(lab["murmur"]),
                   "abnormal": {"Abnormal": True, "Normal": False}.get(lab["outcome"])}
        for head, y in targets.items():
            if getattr(ex, head) is None or y is None:
                continue
            pts[head][0].append(getattr(ex, head))
            pts[head][1].append(y)
            for s in _usable(p):
                recs[head][0].append(s["findings"][head])
                recs[head][1].append(y)
    arr = lambda v: np.asarray(v, dtype=float)  # noqa: E731
    return {
        "split": split, "patients": len(data["patients"]), "bundle": data["bundle"],
        "murmur_weighted_accuracy": num / den if den else None,
        "murmur_weighted_accuracy_single_recording": rnum / rden if rden else None,
        "single_recording_murmur_point": point,
        "most_audible_site_accuracy": site_ok / site_n if site_n else None, "most_audible_n": site_n,
        **{f"{h}_auroc_{unit}": auroc(arr(d[h][0]), arr(d[h][1]))
           for h in ("murmur", "abnormal") for unit, d in (("patient", pts), ("recording", recs))},
        "murmur_nll_patient": _nll(arr(pts["murmur"][0]), arr(pts["murmur"][1])),
        "n_patients_murmur": len(pts["murmur"][0]), "n_recordings_murmur": len(recs["murmur"][0]),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Fit / measure the exam-level calibration.")
    ap.add_argument("--evaluate", action="store_true", help="print the test-split figures, fit nothing")
    ap.add_argument("--split", default="test", choices=("val", "test"))
    ap.add_argument("--bundle", default=None)
    a = ap.parse_args(argv)
    if a.evaluate:
        m = evaluate(a.split, a.bundle)
        for k, v in m.items():
            print(f"{k:42s} {v:.3f}" if isinstance(v, float) else f"{k:42s} {v}")
        return 0
    cal = fit(a.bundle)
    exam.CALIBRATION_FILE.write_text(json.dumps(cal, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(cal, indent=2))
    print(f"wrote {exam.CALIBRATION_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
