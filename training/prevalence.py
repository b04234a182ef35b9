"""Prevalence weights: calibrate on the shared subsets as if they had the original releases' mix.

The shared CirCor and PhysioNet 2016 subsets are enriched for the abnormal class (share README:
"murmur Present 49% here vs 19% in the release; abnormal 52% vs 21%: reweight before calibrating
probabilities"). A temperature fitted on them unweighted learns that prevalence, so the app's
probabilities would run high on an unselected population. :func:`prevalence_weights` gives each
calibration row an importance weight ``reference share / sample share`` of its class, per dataset:

- CirCor: the class is the patient's ``Murmur`` (Present vs Absent/Unknown), counted over the
  *patients* among the rows (the subset was drawn by patient, so every recording of a patient
  carries the patient's weight);
- PhysioNet 2016: the record's normal/abnormal label, counted over the rows.

Weights are rescaled so each dataset's rows sum to their count: the mix between datasets is not
changed, only the class mix within a reweighted set. Sets not in :data:`REFERENCE_PREVALENCE`
(and a set whose rows hold one class only) keep weight 1.

Only the reference shares the share's README states are used, at the precision it states them.
The Absent:Unknown ratio among CirCor patients without a murmur, and PhysioNet's subset (device)
mix, are left as the subset has them: the README gives no release figures for those.

:func:`fit_temperature` and :func:`head_metrics` are the weighted forms of
``stethodesk.model.calibration.fit_temperature`` / ``head_metrics`` (same NLL, same bins, same
bounds; with unit weights they give the same numbers, which the tests check). The encoder stage
uses them, so its reported ECE is the one at the release mix.

Limit: a temperature has no intercept. Weighting changes which T is fitted, but a prior shift
moves every logit by ``logit(release) - logit(sample)``, which no temperature can express; on a
synthetic 50% -> 21% shift the weighted T leaves the mean probability at 0.35 instead of 0.21
while :func:`fit_platt` (``sigmoid(a z + b)``, the runtime's ``"platt"`` method) recovers 0.21.
Switching the ``abnormal`` / ``murmur`` heads to Platt changes what the app's 0.5 operating point
means (``stethodesk/model/facts.py``: "as likely right as wrong at the training prevalence") and
is left to that decision.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from stethodesk.model import calibration as cal

# Share of the positive class in the original release, as the share README states it.
# ``unit``: what the subset was drawn by (and so what the share is counted over).
REFERENCE_PREVALENCE: dict[str, dict] = {
    "circor2022": {"positive": "murmur Present (patient)", "unit": "patient", "release": 0.19},
    "physionet2016": {"positive": "abnormal (record)", "unit": "record", "release": 0.21},
}


def is_positive(r) -> bool | None:
    """The class :data:`REFERENCE_PREVALENCE` counts for record ``r`` (None: not a reweighted set)."""
    if r.dataset == "circor2022":
        return str(r.labels["orig"].get("patient_murmur", "")).lower() == "present"
    if r.dataset == "physionet2016":
        ab = r.labels.get("abnormal")
        return None if ab is None else bool(ab)
    return None


def sample_prevalence(records, dataset: str) -> float | None:
    """Share of the positive class among ``records`` of ``dataset``, counted per unit
    (patients for CirCor, records for PhysioNet); None when there are none."""
    unit = REFERENCE_PREVALENCE[dataset]["unit"]
    units = {}
    for r in records:
        if r.dataset != dataset:
            continue
        pos = is_positive(r)
        if pos is None:
            continue
        units[r.patient_id if unit == "patient" else r.key] = pos
    return (sum(units.values()) / len(units)) if units else None


def prevalence_weights(records) -> np.ndarray:
    """One weight per record (same order): ``release share / sample share`` of its class in its
    dataset, rescaled so each dataset's weights sum to its number of rows. 1.0 elsewhere."""
    w = np.ones(len(records), dtype=np.float64)
    rows = defaultdict(list)
    for i, r in enumerate(records):
        if r.dataset in REFERENCE_PREVALENCE:
            rows[r.dataset].append(i)
    for ds, idx in rows.items():
        recs = [records[i] for i in idx]
        p = sample_prevalence(recs, ds)
        if p is None or p <= 0.0 or p >= 1.0:
            continue  # one class only: nothing to reweight
        ref = REFERENCE_PREVALENCE[ds]["release"]
        known = [i for i in idx if is_positive(records[i]) is not None]
        for i in known:
            w[i] = ref / p if is_positive(records[i]) else (1.0 - ref) / (1.0 - p)
        w[known] *= len(known) / w[known].sum()
    return w


# ----------------------------------------------------------------------------- weighted fitting


def _nll(logits: np.ndarray, targets: np.ndarray, kind: str, t: float, w: np.ndarray) -> float:
    """Weighted mean NLL at temperature ``t`` (shapes as in ``calibration._nll``; ``w`` [N])."""
    z = logits / t
    if kind == "multiclass":
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        loss = -logp[np.arange(len(targets)), targets.astype(int)]
        return float(np.sum(w * loss) / np.sum(w))
    known = ~np.isnan(targets)
    ww = np.broadcast_to(w[:, None], targets.shape)[known]
    y, zz = targets[known], z[known]
    loss = np.maximum(zz, 0) - zz * y + np.log1p(np.exp(-np.abs(zz)))
    return float(np.sum(ww * loss) / np.sum(ww))


def _prepare(logits, targets, kind, weights):
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if logits.ndim == 1:
        logits = logits[:, None]
    if kind != "multiclass" and targets.ndim == 1:
        targets = targets[:, None]
    w = np.ones(len(logits)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    if len(w) != len(logits):
        raise ValueError(f"{len(w)} weights for {len(logits)} rows")
    if np.any(w < 0):
        raise ValueError("weights must be >= 0")
    return logits, targets, w


def fit_temperature(logits, targets, kind: str, weights=None) -> float:
    """Temperature minimising the weighted validation NLL, bounded to ``calibration.T_BOUNDS``;
    1.0 without data. ``weights=None`` is ``calibration.fit_temperature``."""
    logits, targets, w = _prepare(logits, targets, kind, weights)
    if len(logits) == 0 or w.sum() <= 0 or (kind != "multiclass" and np.all(np.isnan(targets))):
        return 1.0
    lo, hi = cal.T_BOUNDS
    res = minimize_scalar(lambda log_t: _nll(logits, targets, kind, float(np.exp(log_t)), w),
                          bounds=(np.log(lo), np.log(hi)), method="bounded")
    return float(np.exp(res.x))


def ece_binary(p, y, weights=None, n_bins: int = cal.ECE_BINS) -> float:
    """Weighted reliability-diagram ECE (``calibration.ece_binary`` with row weights)."""
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    w = np.ones_like(p) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    keep = ~np.isnan(y)
    p, y, w = p[keep], y[keep], w[keep]
    if p.size == 0 or w.sum() <= 0:
        return float("nan")
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = idx == b
        wb = w[m].sum()
        if wb > 0:
            ece += wb / w.sum() * abs(np.sum(w[m] * p[m]) / wb - np.sum(w[m] * y[m]) / wb)
    return float(ece)


def head_metrics(logits, targets, kind: str, t: float = 1.0, weights=None) -> dict:
    """``calibration.head_metrics`` with the ECE weighted by ``weights`` (AUROC is left
    unweighted: within one set it does not depend on the class mix)."""
    logits, targets, w = _prepare(logits, targets, kind, weights)
    out = cal.head_metrics(logits, targets, kind, t)
    p = cal.probabilities(logits, kind, {"method": "temperature", "T": t})
    if kind == "multiclass":
        if len(p):
            correct = (p.argmax(axis=1) == targets.astype(int)).astype(np.float64)
            out["ece"] = ece_binary(p.max(axis=1), correct, w)
    else:
        eces = [ece_binary(p[:, c], targets[:, c], w) for c in range(p.shape[1])]
        eces = [e for e in eces if not np.isnan(e)]
        out["ece"] = float(np.mean(eces)) if eces else float("nan")
    return out


def fit_platt(logits, targets, weights=None) -> tuple[float, float]:
    """``(a, b)`` of ``sigmoid(a z + b)`` minimising the weighted NLL of a binary head (``logits``,
    ``targets`` [N] or [N, 1]; NaN targets skipped). ``(1.0, 0.0)`` without both classes."""
    logits, targets, w = _prepare(logits, targets, "binary", weights)
    z, y = logits[:, 0], targets[:, 0]
    keep = ~np.isnan(y)
    z, y, w = z[keep], y[keep], w[keep]
    if len(z) == 0 or len(set(y.tolist())) < 2 or w.sum() <= 0:
        return 1.0, 0.0

    def nll(ab):
        zz = ab[0] * z + ab[1]
        return float(np.sum(w * (np.maximum(zz, 0) - zz * y + np.log1p(np.exp(-np.abs(zz))))) / np.sum(w))

    a, b = minimize(nll, np.array([1.0, 0.0]), method="Nelder-Mead",
                    options={"xatol": 1e-6, "fatol": 1e-10, "maxiter": 2000}).x
    return float(a), float(b)
