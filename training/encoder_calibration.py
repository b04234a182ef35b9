"""Calibration of the encoder's heads on validation: one temperature per head, and its report.

Recording-level logits (window logits averaged exactly as the app does) are fitted with one
temperature per head; AUROC and ECE before and after are reported, per dataset too. The fit and
the ECE are weighted to the original releases' class mix where the shared subsets are enriched
(``training/prevalence.py``: CirCor murmur, PhysioNet 2016 abnormal). No operating point is
written here: every finding is called at 0.5 unless ``python -m training.operating_points --write``
chooses points for the bundle, which the gate then judges. Youden points chosen automatically made
the shipped weights worse on the gated figures (training/README.md, "Operating points").
"""

from __future__ import annotations

import math

import numpy as np

from stethodesk.model import calibration as cal
from stethodesk.model.encode import encode_features
from stethodesk.model.encoder import HEADS, AudioEncoder
from training import prevalence

MIN_CALIBRATION_N = 30  # labelled validation recordings a head needs before a temperature is fitted


def evaluate(model: AudioEncoder, feats: list[np.ndarray], targets: list[dict]) -> dict[str, np.ndarray]:
    """Recording-level logits ``{head: [N, C]}`` (window mean, exactly as the app aggregates)."""
    logits: dict[str, list] = {h: [] for h in model.cfg.heads}
    for f in feats:
        enc = encode_features(model, f)
        for h in logits:
            logits[h].append(enc.logits[h])
    return {h: np.stack(v) if v else np.zeros((0, HEADS[h].n_out), np.float32) for h, v in logits.items()}


def calibrate_heads(logits: dict[str, np.ndarray], targets: dict[str, np.ndarray], log=print,
                    datasets: list[str] | None = None, weights: np.ndarray | None = None):
    """Fit one temperature per head on validation; (heads section, metrics) dicts.

    ``datasets`` (one name per row) adds ``auroc_by_dataset`` where a set has both classes:
    sets differ by device, and a pooled AUROC can hide a set the head does not work on.
    ``weights`` (one per row, :func:`training.prevalence.prevalence_weights`) weight the fitted
    NLL and the ECE; the metrics then also carry ``ece_after_unweighted`` (at the sample's mix).
    """
    heads, metrics = {}, {}
    ds_arr = np.array(datasets) if datasets is not None else None
    w_all = None if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    for h, z in logits.items():
        kind = HEADS[h].kind
        y = targets[h]
        keep = (y >= 0) if kind == "multiclass" else ~np.isnan(y).all(axis=1)
        zk, yk = z[keep], y[keep]
        wk = None if w_all is None else w_all[keep]
        if len(zk) == 0:
            t, before, after = 1.0, {"auroc": float("nan"), "ece": float("nan"), "n": 0}, None
        elif wk is None:
            # a temperature fitted on a handful of recordings is noise (it made ECE worse on the
            # smoke profile): below MIN_CALIBRATION_N the head keeps T = 1 and says so
            t = cal.fit_temperature(zk, yk, kind) if len(zk) >= MIN_CALIBRATION_N else 1.0
            before = cal.head_metrics(zk, yk, kind, 1.0)
            after = cal.head_metrics(zk, yk, kind, t)
        else:
            t = prevalence.fit_temperature(zk, yk, kind, wk) if len(zk) >= MIN_CALIBRATION_N else 1.0
            before = prevalence.head_metrics(zk, yk, kind, 1.0, wk)
            after = prevalence.head_metrics(zk, yk, kind, t, wk)
        m = {
            "n_val": int(before["n"]),
            "auroc": rounded(before["auroc"]),
            "ece_before": rounded(before["ece"]),
            "ece_after": rounded(after["ece"]) if after else None,
            "T": rounded(t),
            "fitted": bool(len(zk) >= MIN_CALIBRATION_N),
        }
        if wk is not None and len(zk):
            m["ece_after_unweighted"] = rounded(cal.head_metrics(zk, yk, kind, t)["ece"])
        if ds_arr is not None and len(zk):
            by = {}
            for ds in sorted(set(ds_arr[keep])):
                sel = ds_arr[keep] == ds
                a = cal.head_metrics(zk[sel], yk[sel], kind, 1.0)["auroc"]
                if not math.isnan(a):
                    by[ds] = rounded(a)
            m["auroc_by_dataset"] = by
        metrics[h] = m
        heads[h] = cal.head_entry(h, t, m)
        log(f"  {h:14s} n={m['n_val']:5d}  AUROC={_fmt(m['auroc'])}  ECE {_fmt(m['ece_before'])} -> "
            f"{_fmt(m['ece_after'])}  T={t:.3f}" + ("" if m["fitted"] else f"  (not fitted: < {MIN_CALIBRATION_N} recordings)"))
    return heads, metrics


def rounded(v):
    """``v`` rounded to 4 places for the JSON reports; None for None or NaN."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)


def _fmt(v):
    return "  n/a" if v is None else f"{v:.3f}"


