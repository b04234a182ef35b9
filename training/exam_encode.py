"""Per-site findings of CirCor patients through the app's own audio path, cached for exam fitting.

Each recording goes the way ``Engine.analyze_audio`` takes it (``read_audio`` -> ``encode_recording``
-> ``calibrate`` -> the heart heads, the same usable/unusable rule), without loading the language
model, so the exam calibration (:mod:`training.exam_calibration`) is fitted on the very
probabilities the app will pool. Results are cached as JSON under ``runs/exam_findings/`` keyed
by the bundle's version and the split, so a refit does not re-encode.

    python -m training.exam_encode --split val --split test      # encode (a few minutes on CPU)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

CACHE_DIR = Path(__file__).resolve().parents[1] / "runs" / "exam_findings"


def circor_patients(split: str) -> dict[str, list]:
    """``{patient_id: [Record, ...]}`` of the CirCor recordings in ``split`` (training.splits)."""
    from training.splits import load_split

    out: dict[str, list] = {}
    for r in load_split(split, datasets=("circor2022",)):
        out.setdefault(r.patient_id, []).append(r)
    return out


def patient_labels(records) -> dict:
    """Patient-level labels of one CirCor patient from its records (all carry the same header).

    Returns ``{"murmur": "Present"|"Absent"|"Unknown"|None, "most_audible": "AV"|..|None,
    "murmur_locations": [...], "outcome": "Abnormal"|"Normal"|None}``.
    """
    o = records[0].labels["orig"]
    return {"murmur": o.get("patient_murmur"), "most_audible": o.get("most_audible"),
            "murmur_locations": list(o.get("murmur_locations") or []), "outcome": o.get("outcome")}


def site_result(encoder, frontend, heads: dict, path: str, domain: str = "heart") -> dict:
    """Findings of one file the way the app computes them (no LLM): ``{"findings", "usable",
    "unusable_reason", "logits"}``; ``logits`` are the raw head logits (lists) for refits."""
    from stethodesk.audio.dsp import clipped_fraction, signal_quality
    from stethodesk.audio.fileio import read_audio
    from stethodesk.model.calibration import calibrate
    from stethodesk.model.encode import encode_recording
    from stethodesk.model.engine import HEAVY_CLIP_FRACTION, UNUSABLE_ISSUES, _for_domain

    x, sr = read_audio(path)
    enc = encode_recording(encoder, x, sr, frontend)
    logits = {k: np.asarray(v, dtype=np.float32).reshape(-1) for k, v in enc.logits.items()}
    found = {k: float(v) for k, v in calibrate(logits, heads).items()}
    q = signal_quality(x, sr, domain)
    reason = None
    if any(i in q.issues for i in UNUSABLE_ISSUES):
        reason = q.reason
    elif clipped_fraction(x, sr) > HEAVY_CLIP_FRACTION:
        reason = "heavily clipped"
    return {"findings": {} if reason else _for_domain(found, domain, heads), "usable": reason is None,
            "unusable_reason": reason, "logits": {k: v.tolist() for k, v in logits.items()}}


def encode_split(split: str, bundle_dir: Path | None = None, log=print) -> dict:
    """``{"bundle": version, "split", "patients": {pid: {"labels", "sites": [{site, file, ...}]}}}``
    for the CirCor patients of ``split``, read from / written to the cache."""
    import torch

    from stethodesk.model.bundle import load_bundle
    from stethodesk.model.encoder import load_encoder
    from stethodesk.model.features import FrontendConfig

    b = load_bundle(bundle_dir)
    cache = CACHE_DIR / f"{b.name}-{b.version}-{split}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    torch.set_num_threads(1)
    enc = load_encoder(b.encoder_path, b.encoder_config)
    fe = FrontendConfig.from_dict(b.frontend)
    patients = circor_patients(split)
    out = {"bundle": f"{b.name} {b.version}", "split": split, "patients": {}}
    t0 = time.time()
    for i, (pid, recs) in enumerate(sorted(patients.items())):
        sites = []
        for r in sorted(recs, key=lambda r: r.record_id):
            res = site_result(enc, fe, b.heads, r.path)
            sites.append({"record_id": r.record_id, "site_code": r.labels["orig"]["site_code"].split("_")[0],
                          "site": r.site, "file": r.path, **res})
        out["patients"][pid] = {"labels": patient_labels(recs), "sites": sites}
        if (i + 1) % 10 == 0:
            log(f"  {split}: {i + 1}/{len(patients)} patients ({time.time() - t0:.0f} s)")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(out))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", action="append", choices=("train", "val", "test"))
    ap.add_argument("--bundle", default=None, help="bundle folder (default: the app's default bundle)")
    a = ap.parse_args(argv)
    for s in a.split or ["val", "test"]:
        d = encode_split(s, a.bundle)
        print(f"{s}: {len(d['patients'])} patients, "
              f"{sum(len(p['sites']) for p in d['patients'].values())} recordings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
