"""Calibration of the encoder's head logits: temperature (or Platt) scaling, ECE, AUROC. No Qt.

Runtime: :func:`calibrate` turns one recording's logits into flat calibrated findings using the
``"heads"`` section of ``bundle.json``. Training: :func:`fit_temperature` fits one temperature per
head on validation logits and :func:`head_entry` writes that section.

Head kinds (see ``stethodesk.model.encoder.HEADS``): "binary" (logits ``[C=1]``, sigmoid),
"multilabel" (``[C]``, one sigmoid per class), "multiclass" (``[C]``, softmax).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from stethodesk.model.encoder import HEADS

# Fitted temperatures are clipped to this range. Below 0.5 happens when the validation set is
# perfectly separated (the NLL then drives T towards 0, i.e. infinite confidence); such a head is
# sharpened at most 2x instead. Above 10 the head carries almost no information.
T_BOUNDS = (0.5, 10.0)
ECE_BINS = 10  # equal-width probability bins for the expected calibration error


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def head_kind(name: str, cfg: dict | None = None) -> str:
    """The kind of head ``name``: the bundle's ``"kind"`` when given, else the built-in spec."""
    if cfg and cfg.get("kind"):
        return str(cfg["kind"])
    if name not in HEADS:
        raise KeyError(f"unknown head {name!r} and no 'kind' in the bundle's heads section")
    return HEADS[name].kind


def head_classes(name: str, cfg: dict | None = None) -> tuple[str, ...]:
    if cfg and cfg.get("classes"):
        return tuple(cfg["classes"])
    return HEADS[name].classes


def probabilities(logits: np.ndarray, kind: str, calib: dict | None = None) -> np.ndarray:
    """Calibrated probabilities of one head, same shape as ``logits`` (``[..., C]``).

    ``calib`` is ``{"method": "temperature", "T": float}`` or ``{"method": "platt", "a": float,
    "b": float}`` (binary/multilabel: ``sigmoid(a * z + b)``); ``None`` means uncalibrated.
    """
    z = np.asarray(logits, dtype=np.float64)
    method = (calib or {}).get("method", "temperature")
    if method == "platt":
        if kind == "multiclass":
            raise ValueError("Platt scaling applies to binary/multilabel heads only")
        return _sigmoid(float(calib["a"]) * z + float(calib["b"]))
    if method != "temperature":
        raise ValueError(f"unknown calibration method {method!r}")
    t = float((calib or {}).get("T", 1.0))
    return _softmax(z / t) if kind == "multiclass" else _sigmoid(z / t)


def calibrate(logits: dict[str, np.ndarray], heads_cfg: dict) -> dict[str, float]:
    """Flat calibrated findings of one recording.

    Parameters
    ----------
    logits : dict[str, np.ndarray]
        Head name -> logits ``[C]`` (e.g. ``EncodedAudio.logits``).
    heads_cfg : dict
        ``bundle.json["heads"]``: head -> ``{"kind", "domain", "calibration": {...}}``. Heads
        missing from it are used uncalibrated (T = 1) with their built-in kind.

    Returns
    -------
    dict[str, float]
        Binary heads under their own name (``"abnormal"``, ``"is_lung"``); multi-class and
        multi-label heads as ``"<head>_<class>"`` (``"lesion_AS"``, ``"site_MV"``). All in [0, 1].
    """
    out: dict[str, float] = {}
    for name, z in logits.items():
        cfg = (heads_cfg or {}).get(name) or {}
        kind = head_kind(name, cfg)
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        p = probabilities(z, kind, cfg.get("calibration"))
        if kind == "binary":
            out[name] = float(p[0])
        else:
            classes = head_classes(name, cfg)
            if len(classes) != p.size:
                raise ValueError(f"head {name!r}: {p.size} logits but {len(classes)} classes")
            for c, v in zip(classes, p):
                out[f"{name}_{c}"] = float(v)
    return out


# ----------------------------------------------------------------------------- fitting and metrics


def _nll(logits: np.ndarray, targets: np.ndarray, kind: str, t: float) -> float:
    """Mean negative log-likelihood at temperature ``t``.

    binary/multilabel: ``logits`` [N, C], ``targets`` [N, C] in {0, 1} (NaN = unknown, skipped);
    multiclass: ``logits`` [N, C], ``targets`` [N] class indices.
    """
    if kind == "multiclass":
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-logp[np.arange(len(targets)), targets.astype(int)].mean())
    z = logits / t
    known = ~np.isnan(targets)
    y = targets[known]
    zz = z[known]
    # log(1 + exp(-|z|)) form: stable for large |z|
    return float(np.mean(np.maximum(zz, 0) - zz * y + np.log1p(np.exp(-np.abs(zz)))))


def fit_temperature(logits: np.ndarray, targets: np.ndarray, kind: str) -> float:
    """Temperature minimising validation NLL (bounded to ``T_BOUNDS``); 1.0 without data.

    Shapes as in :func:`_nll`. Multilabel heads share one temperature across classes.
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if logits.ndim == 1:
        logits = logits[:, None]
    if kind != "multiclass" and targets.ndim == 1:
        targets = targets[:, None]
    if len(logits) == 0 or (kind != "multiclass" and np.all(np.isnan(targets))):
        return 1.0
    res = minimize_scalar(
        lambda log_t: _nll(logits, targets, kind, float(np.exp(log_t))),
        bounds=(np.log(T_BOUNDS[0]), np.log(T_BOUNDS[1])), method="bounded",
    )
    return float(np.exp(res.x))


def ece_binary(p: np.ndarray, y: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of positive-class probabilities ``p`` [N] vs labels ``y`` [N].

    Reliability-diagram form: sum over equal-width bins of (bin share) * |mean p - positive rate|.
    """
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    keep = ~np.isnan(y)
    p, y = p[keep], y[keep]
    if p.size == 0:
        return float("nan")
    idx = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = idx == b
        if m.any():
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(ece)


def ece_multiclass(probs: np.ndarray, y: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Top-label ECE: confidence = max probability, correctness = argmax == label. ``probs`` [N, C]."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape[0] == 0:
        return float("nan")
    conf = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(y).astype(int)).astype(np.float64)
    return ece_binary(conf, correct, n_bins)


def auroc(scores: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties averaged); NaN when one class is absent."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    keep = ~np.isnan(y)
    s, y = s[keep], y[keep] > 0.5
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def head_metrics(logits: np.ndarray, targets: np.ndarray, kind: str, t: float = 1.0) -> dict:
    """AUROC (macro one-vs-rest for multi-class/-label) and ECE at temperature ``t``; ``n`` = labelled.

    Shapes as in :func:`_nll`. Values are NaN where they cannot be computed (one class only).
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if logits.ndim == 1:
        logits = logits[:, None]
    p = probabilities(logits, kind, {"method": "temperature", "T": t})
    if kind == "multiclass":
        y = targets.astype(int)
        aucs = [auroc(p[:, c], (y == c).astype(float)) for c in range(p.shape[1])]
        ece = ece_multiclass(p, y)
        n = int(len(y))
    else:
        if targets.ndim == 1:
            targets = targets[:, None]
        aucs = [auroc(p[:, c], targets[:, c]) for c in range(p.shape[1])]
        eces = [ece_binary(p[:, c], targets[:, c]) for c in range(p.shape[1])]
        eces = [e for e in eces if not np.isnan(e)]
        ece = float(np.mean(eces)) if eces else float("nan")
        n = int((~np.isnan(targets)).any(axis=1).sum())
    aucs = [a for a in aucs if not np.isnan(a)]
    return {"auroc": float(np.mean(aucs)) if aucs else float("nan"), "ece": float(ece), "n": n}


def head_entry(name: str, t: float, metrics: dict | None = None) -> dict:
    """One head's ``bundle.json["heads"]`` entry."""
    spec = HEADS[name]
    entry = {
        "domain": spec.domain,
        "kind": spec.kind,
        "classes": list(spec.classes),
        "calibration": {"method": "temperature", "T": round(float(t), 6)},
    }
    if metrics is not None:
        entry["metrics"] = metrics
    return entry
