"""Per-head training targets of the audio encoder, and the masked multi-task loss.

Each record's labels (``training.data.Record.labels``) become one target per head of
``stethodesk.model.encoder.HEADS``; a head whose label is unknown for a record is masked (NaN for
sigmoid heads, -1 for the softmax heads) and learns nothing from it. Used by the encoder stage
(``training/encoder_train.py``), the artifact mixer (``training/artifacts.py``, which overwrites
these targets) and the operating-point fit (``training/operating_points.py``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from stethodesk.model.encoder import HEADS, SITES, normalise_site

# Sets without a quality label whose recordings were curated or annotated as usable sounds: a
# recording there is a clean example (poor_quality = 0) unless its labels say the annotators could
# not judge it (CirCor murmur "unknown"). Without these, the artifact windows (poor_quality = 1)
# were the only positives and few negatives came from these sets, and the calibrated poor-quality
# finding sat high on their clean recordings (median 0.92 on HLS-CMDS, 0.63 on CirCor, issue 9).
CURATED_CLEAN = {"hls_cmds", "yaseen2018", "icbhi2017", "circor2022"}


def poor_quality_target(r) -> float:
    """The poor-quality target of one record: its label, 0 for a curated clean one, else NaN."""
    q = r.labels.get("poor_quality")
    if q is not None:
        return float(bool(q))
    if r.dataset in CURATED_CLEAN and r.labels.get("murmur") != "unknown" and not r.labels.get("mixed"):
        return 0.0
    return float("nan")


def record_targets(r) -> dict:
    """Per-head training targets of one record (unknown = NaN for sigmoid heads, -1 for softmax).

    binary: float; multilabel: ``[C]`` floats; multiclass: int class index.
    """
    lab = r.labels
    heart, lung = r.domain == "heart", r.domain == "lung"
    mixed = bool(lab.get("mixed"))
    nan = float("nan")

    def b(v, applies=True):
        return nan if v is None or not applies else float(bool(v))

    murmur = lab.get("murmur")
    t = {
        "abnormal": b(lab.get("abnormal"), heart),
        "murmur": {"present": 1.0, "absent": 0.0}.get(murmur, nan) if heart else nan,
        "crackle": b(lab.get("crackle"), lung),
        "wheeze": b(lab.get("wheeze"), lung),
        "poor_quality": poor_quality_target(r),
        "is_lung": nan if mixed else float(lung),  # a heart+lung mix is neither
    }
    timing = lab.get("murmur_timing")
    # timing is conditional on a murmur: learnt from murmur-present recordings with a known timing
    if heart and murmur == "present" and timing in ("systolic", "diastolic", "both"):
        t["murmur_timing"] = [float(timing in ("systolic", "both")), float(timing in ("diastolic", "both"))]
    else:
        t["murmur_timing"] = [nan, nan]
    lesion = lab.get("lesion")
    t["lesion"] = HEADS["lesion"].classes.index(lesion) if heart and lesion in HEADS["lesion"].classes else -1
    site = normalise_site(r.site)
    t["site"] = SITES.index(site) if site is not None and not mixed else -1
    return t


def stack_targets(targets: list[dict], heads) -> dict[str, np.ndarray]:
    """Per head: ``[N, C]`` float (sigmoid heads) or ``[N]`` int (multiclass heads)."""
    out = {}
    for h in heads:
        if HEADS[h].kind == "multiclass":
            out[h] = np.array([t[h] for t in targets], dtype=np.int64)
        else:
            out[h] = np.array([np.atleast_1d(t[h]) for t in targets], dtype=np.float32).reshape(len(targets), -1)
    return out


def masked_losses(logits: dict, y: dict) -> dict[str, torch.Tensor]:
    """Per-head mean loss over labelled rows only (0 with zero-weight gradient when none are).

    Every head always contributes a term, so under DDP every parameter gets a gradient.
    """
    out = {}
    for h, z in logits.items():
        z = z.float()
        if HEADS[h].kind == "multiclass":
            yy = y[h]
            mask = (yy >= 0).float()
            l = F.cross_entropy(z, yy.clamp_min(0), reduction="none")
            out[h] = (l * mask).sum() / mask.sum().clamp_min(1.0)
        else:
            yy = y[h]
            mask = (~torch.isnan(yy)).float()
            l = F.binary_cross_entropy_with_logits(z, torch.nan_to_num(yy, nan=0.0), reduction="none")
            out[h] = (l * mask).sum() / mask.sum().clamp_min(1.0)
    return out
