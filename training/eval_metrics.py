"""Metrics of the encoder's findings on labelled recordings, and the test-split fingerprint.

Everything here is a pure function of records and calibrated findings (no model, no llama.cpp), so
:mod:`training.evaluate`, :mod:`training.lodo` and :mod:`training.gate` compute and read the same
numbers:

- **per finding** (each finding called at the bundle's operating point, ``points``): AUROC,
  sensitivity, specificity on every recording whose label is known (:func:`finding_metrics`),
  pooled and per source dataset (:func:`findings_by_dataset`);
- **challenge scores**: PhysioNet 2016 MAcc ((Se+Sp)/2, abnormal head), CirCor 2022 murmur
  weighted accuracy (patient level, weights 5/3/1 for Present/Unknown/Absent; the model predicts
  Present/Absent only: a patient is Present when any of its recordings has p(murmur) at or above
  the murmur's operating point),
  ICBHI score ((Se+Sp)/2 over the 4 cycle classes), SPRSound record-level score ((AS+HS)/2 with
  AS = (SE+SP)/2 and HS the harmonic mean of SE and SP, 5 record classes);
- **the fingerprint** of what an evaluation was computed on (:func:`evaluation_fingerprint`): the
  test split's manifest rows and the evaluation settings, so two scorecards are compared only
  when they were measured on the same recordings and questions.

Operating points: every thresholded figure takes ``points`` = {finding key: point}, the bundle's
own (:func:`bundle_points`, ``heads.<head>.call_at`` read by
:func:`stethodesk.model.analysis.operating_points`), so each bundle is judged at the points the app
calls its findings at and the regression gate compares the shipped bundle at its points with a
candidate at its points. A finding without a point (or ``points=None``) is called at
:data:`THRESHOLD` (0.5, ``stethodesk.model.facts.call_point``). The points are not part of the
fingerprint: they belong to the bundle, like its weights, not to the test.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

import numpy as np

from stethodesk.model.calibration import auroc as calibration_auroc
from stethodesk.model.facts import FINDING_THRESHOLD, Points, call_point

THRESHOLD = FINDING_THRESHOLD  # a finding's operating point when its bundle has none (0.5)
REFERENCES = {  # published figures the scores aim at (issue 3)
    "clinical_accuracy_in_domain": "StethoLM 0.478",
    "clinical_accuracy_out_of_domain": "StethoLM 0.252",
    "physionet2016_macc": "challenge winner 0.86",
    "circor2022_murmur_weighted_accuracy": "best ~0.78-0.80",
    "icbhi2017_score": "best ~0.62",
    "sprsound2022_record_score": "-",
}
FINGERPRINT_VERSION = 1  # bump when what the fingerprint covers changes


# ----------------------------------------------------------------------------- finding metrics


def bundle_points(manifest: dict) -> dict[str, float]:
    """The operating points of a bundle's ``bundle.json`` manifest ({} when it has none)."""
    from stethodesk.model.analysis import operating_points

    return operating_points((manifest or {}).get("heads") or {})


def is_called(f: dict[str, float], key: str, points: Points = None) -> bool:
    """Is finding ``key`` called in findings ``f`` at its operating point (missing: not called)?"""
    return f.get(key, 0.0) >= call_point(key, points)


def points_used(points: Points, names) -> dict[str, float]:
    """The point each of ``names`` was called at, for metrics.json (0.5 where the bundle has none)."""
    return {k: call_point(k, points) for k in sorted(names)}


def auroc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Area under the ROC curve; None with one class only (JSON has no NaN).

    The computation is the encoder's (:func:`stethodesk.model.calibration.auroc`), so training
    calibration and evaluation report the same number for the same data.
    """
    value = calibration_auroc(np.asarray(p, dtype=np.float64), np.asarray(y, dtype=bool).astype(np.float64))
    return None if np.isnan(value) else value


def sens_spec(y: np.ndarray, pred: np.ndarray) -> tuple[float | None, float | None]:
    """(sensitivity, specificity) of boolean predictions; None where a class is missing."""
    y, pred = np.asarray(y, bool), np.asarray(pred, bool)
    se = float((pred & y).sum() / y.sum()) if y.sum() else None
    sp = float((~pred & ~y).sum() / (~y).sum()) if (~y).sum() else None
    return se, sp


def finding_targets(r) -> dict[str, bool]:
    """Binary ground truth per finding name for one record (only what its labels state)."""
    lab = r.labels
    t = {"is_lung": r.domain == "lung"}
    if r.domain == "heart":
        if lab.get("abnormal") is not None:
            t["abnormal"] = bool(lab["abnormal"])
        if lab.get("murmur") in ("present", "absent"):
            t["murmur"] = lab["murmur"] == "present"
        if lab.get("lesion"):
            for c in ("N", "AS", "MR", "MS", "MVP"):
                t[f"lesion_{c}"] = lab["lesion"] == c
        if lab.get("murmur") == "present" and lab.get("murmur_timing"):
            tm = lab["murmur_timing"]
            t["murmur_timing_systolic"] = tm in ("systolic", "both")
            t["murmur_timing_diastolic"] = tm in ("diastolic", "both")
    else:
        for k in ("crackle", "wheeze"):
            if lab.get(k) is not None:
                t[k] = bool(lab[k])
    if lab.get("poor_quality") is not None:
        t["poor_quality"] = bool(lab["poor_quality"])
    return t


def finding_metrics(records, findings: dict[str, dict[str, float]], names=None, points: Points = None) -> dict:
    """Per finding: n, positives, AUROC, sensitivity/specificity at its operating point ``point``
    (``points``, else :data:`THRESHOLD`).

    Records missing from ``findings`` (unreadable audio) are skipped; ``names`` limits the
    findings reported (default: every finding some record has a label for).
    """
    ys, ps = defaultdict(list), defaultdict(list)
    for r in records:
        f = findings.get(r.key)
        if f is None:
            continue
        for name, y in finding_targets(r).items():
            if name in f and (names is None or name in names):
                ys[name].append(y)
                ps[name].append(f[name])
    out = {}
    for name in sorted(ys):
        y, p = np.array(ys[name]), np.array(ps[name])
        point = call_point(name, points)
        se, sp = sens_spec(y, p >= point)
        out[name] = {"n": int(len(y)), "positives": int(y.sum()), "auroc": auroc(y, p), "sens": se, "spec": sp,
                     "point": point}
    return out


def findings_by_dataset(records, findings: dict[str, dict[str, float]], points: Points = None) -> dict[str, dict]:
    """:func:`finding_metrics` of each source dataset separately ({dataset: {finding: ...}}).

    The pooled figures mix devices and label conventions (guide 2b); these are the honest ones,
    and the regression gate compares them per dataset.
    """
    by = defaultdict(list)
    for r in records:
        by[r.dataset].append(r)
    return {ds: finding_metrics(recs, findings, points=points) for ds, recs in sorted(by.items())}


def physionet_macc(records, findings, points: Points = None) -> dict | None:
    """PhysioNet 2016 MAcc = (Se+Sp)/2 of the abnormal head at its operating point."""
    recs = [r for r in records if r.dataset == "physionet2016" and r.labels.get("abnormal") is not None
            and r.key in findings]
    if not recs:
        return None
    y = np.array([bool(r.labels["abnormal"]) for r in recs])
    pred = np.array([is_called(findings[r.key], "abnormal", points) for r in recs])
    se, sp = sens_spec(y, pred)
    val = None if se is None or sp is None else (se + sp) / 2
    return {"value": val, "se": se, "sp": sp, "n": len(recs), "positives": int(y.sum())}


def circor_weighted_accuracy(records, findings, points: Points = None) -> dict | None:
    """Patient-level murmur weighted accuracy (PhysioNet 2022): weights Present 5, Unknown 3, Absent 1;
    a patient is Present when one recording's murmur is called at its operating point."""
    pats = defaultdict(list)
    truth = {}
    for r in records:
        if r.dataset != "circor2022" or r.key not in findings:
            continue
        pats[r.patient_id].append(findings[r.key].get("murmur", 0.0))
        pm = (r.labels.get("orig") or {}).get("patient_murmur") or r.labels.get("murmur")
        truth[r.patient_id] = str(pm).strip().lower()
    if not pats:
        return None
    w = {"present": 5.0, "unknown": 3.0, "absent": 1.0}
    num = den = 0.0
    for pid, ps in pats.items():
        t = truth[pid] if truth[pid] in w else "unknown"
        pred = "present" if max(ps) >= call_point("murmur", points) else "absent"
        den += w[t]
        num += w[t] * (pred == t)
    return {"value": num / den if den else None, "patients": len(pats), "n": len(pats)}


def _cls(crackle: bool, wheeze: bool) -> str:
    return {(0, 0): "normal", (1, 0): "crackle", (0, 1): "wheeze", (1, 1): "both"}[(int(crackle), int(wheeze))]


def icbhi_score(records, findings, points: Points = None) -> dict | None:
    """ICBHI 2017 score: (Se+Sp)/2 over the cycle classes normal/crackle/wheeze/both, each sound
    called at its operating point."""
    recs = [r for r in records if r.dataset == "icbhi2017" and r.labels.get("crackle") is not None
            and r.key in findings]
    if not recs:
        return None
    true = [_cls(bool(r.labels["crackle"]), bool(r.labels["wheeze"])) for r in recs]
    pred = [_cls(is_called(findings[r.key], "crackle", points), is_called(findings[r.key], "wheeze", points))
            for r in recs]
    ab = [p == t for p, t in zip(pred, true) if t != "normal"]
    no = [p == t for p, t in zip(pred, true) if t == "normal"]
    se = float(np.mean(ab)) if ab else None
    sp = float(np.mean(no)) if no else None
    val = None if se is None or sp is None else (se + sp) / 2
    return {"value": val, "se": se, "sp": sp, "n": len(recs), "positives": len(ab)}


def sprsound_score(records, findings, points: Points = None) -> dict | None:
    """SPRSound 2022 record-level score (AS+HS)/2 over its 5 record classes, each finding called
    at its operating point."""
    recs = [r for r in records if r.dataset == "sprsound2022" and r.key in findings]
    if not recs:
        return None

    def pred_of(f):
        if is_called(f, "poor_quality", points):
            return "Poor Quality"
        c, w = is_called(f, "crackle", points), is_called(f, "wheeze", points)
        return {(0, 0): "Normal", (1, 0): "DAS", (0, 1): "CAS", (1, 1): "CAS & DAS"}[(int(c), int(w))]

    true = [str((r.labels.get("orig") or {}).get("record_label", "")).strip() for r in recs]
    pred = [pred_of(findings[r.key]) for r in recs]
    ab = [p == t for p, t in zip(pred, true) if t != "Normal"]
    no = [p == t for p, t in zip(pred, true) if t == "Normal"]
    if not ab or not no:
        return {"value": None, "n": len(recs)}
    se, sp = float(np.mean(ab)), float(np.mean(no))
    as_ = (se + sp) / 2
    hs = 2 * se * sp / (se + sp) if se + sp else 0.0
    return {"value": (as_ + hs) / 2, "se": se, "sp": sp, "n": len(recs), "positives": len(ab)}


def challenge_scores(records, findings, points: Points = None) -> dict:
    """The four challenge scores that apply to ``records`` (absent sets are left out), each
    finding called at its operating point in ``points``."""
    out = {
        "physionet2016_macc": physionet_macc(records, findings, points),
        "circor2022_murmur_weighted_accuracy": circor_weighted_accuracy(records, findings, points),
        "icbhi2017_score": icbhi_score(records, findings, points),
        "sprsound2022_record_score": sprsound_score(records, findings, points),
    }
    return {k: v for k, v in out.items() if v is not None}


# ----------------------------------------------------------------------------- fingerprint


def manifest_row(r) -> list:
    """The test-split manifest row of a record (``training/manifests/<set>.csv`` columns that say
    which recording, which split and which label; paths are left out: they differ by machine)."""
    from training.splits import main_label

    return [r.dataset, r.record_id, r.split, r.group, r.patient_id, main_label(r),
            None if r.start_s is None else round(float(r.start_s), 3),
            None if r.end_s is None else round(float(r.end_s), 3)]


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def evaluation_fingerprint(records, settings: dict, sample: list[dict] | None = None) -> dict:
    """What an evaluation was computed on, as a comparable digest.

    Parameters
    ----------
    records : list of Record
        The test recordings evaluated (their manifest rows are hashed, in key order).
    settings : dict
        Evaluation settings that change the numbers (examples per task, seed, token limit,
        threshold, per-dataset cap, generation budget). Stored verbatim so the gate can
        re-evaluate another bundle the same way.
    sample : list of dict, optional
        The instruction examples planned for generation (id, instruction and reference facts are
        hashed): a change of the instruction generator changes the fingerprint.

    Returns
    -------
    dict
        ``{"sha256", "records", "records_sha256", "sample_sha256", "settings", "version"}``; two
        scorecards are comparable iff their ``sha256`` agree.
    """
    rows = sorted(manifest_row(r) for r in records)
    rec_sha = _sha(rows)
    sample_sha = _sha([[e.get("id"), e.get("instruction"), e.get("facts")] for e in sample or []])
    settings = dict(sorted(settings.items()))
    return {"sha256": _sha([FINGERPRINT_VERSION, rec_sha, sample_sha, settings]), "records": len(rows),
            "records_sha256": rec_sha, "sample_sha256": sample_sha, "settings": settings,
            "version": FINGERPRINT_VERSION}
