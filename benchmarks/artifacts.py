"""How often the app refuses what is not a heart or lung sound, and real recordings (issue 9 item 8).

    .venv/bin/python benchmarks/artifacts.py [--bundle DIR] [--per-dataset 25] [--per-kind 12] [--json F]

Held-out TEST split only: real heart and lung recordings (whole files of 3 s or more, first 30 s, the share's
poor-quality-labelled ones reported apart) and artifacts built here, seeded: speech from
``espeak-ng`` when installed (else a synthetic speech-like source), the synthetic speech source,
rubbing, handling, mains hum, ambient noise, a bare noise floor, and test recordings buried under
speech, noise, rubbing or handling at -25..-15 dB body-sound SNR; each through a random phone
channel (8/16/44.1 kHz, -40..-12 dBFS, no clipping). See ``training/refusal.py`` for how they are made and how
the operating point is chosen (on the validation split, never here).

Every clip goes through ``Engine.analyze_audio`` with the bundle (default: the installed one) and
its own operating point (``heads.poor_quality.refuse_at``; a bundle without one refuses on the
signal checks only, and this says so). Prints refusal rates with counts, per artifact kind, and
the poor-quality AUROC of artifacts against real recordings. Aim: >= 90 % of artifacts refused with
<= 5 % of real recordings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

AIM_ARTIFACTS, AIM_REAL = 0.90, 0.05


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=None, help="bundle folder (default: the installed default)")
    ap.add_argument("--per-dataset", type=int, default=25, help="real test recordings per dataset and domain")
    ap.add_argument("--per-kind", type=int, default=12, help="artifacts per kind")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--choose", action="store_true",
                    help="choose the operating point on the validation split first (in memory; for a candidate "
                         "bundle that has none: python -m training.refusal --write stores it)")
    a = ap.parse_args(argv)
    from stethodesk.model.analysis import refuse_at
    from stethodesk.model.calibration import auroc
    from stethodesk.model.engine import Engine
    from training import refusal

    engine = Engine(bundle_path=a.bundle, n_threads=1).load()
    if a.choose:
        pq = engine.bundle.manifest["heads"]["poor_quality"]
        pq.pop("refuse_at", None)
        at, pq["refuse_source"] = refusal.choose_on_validation(engine)
        if at is not None:
            pq["refuse_at"] = at
    at = refuse_at(engine.bundle.heads)
    candidate = engine.bundle.heads["poor_quality"].get("refuse_source", {}).get("candidate")
    clips = (refusal.real_clips("test", a.per_dataset, a.seed)
             + refusal.real_clips("test", a.per_dataset, a.seed, labelled_poor=True)
             + refusal.artifact_clips("test", a.per_kind, a.seed))
    speech = "espeak-ng" if refusal.shutil.which("espeak-ng") else "synthetic (espeak-ng not installed)"
    print(f"bundle {engine.name} {engine.version} ({engine.bundle.root}); load {os.getloadavg()[0]:.1f}")
    print(f"operating point: " + (f"refuse_at {at:.4f} (chosen on validation: "
                                  f"{engine.bundle.heads['poor_quality'].get('refuse_source', {}).get('chosen', '?')})"
                                  if at is not None else "none in this bundle: signal checks only"))
    print(f"test split: {sum(c.kind == 'real' for c in clips)} real, "
          f"{sum(c.kind == 'labelled_poor' for c in clips)} labelled poor quality, "
          f"{sum(c.artifact for c in clips)} artifacts; speech from {speech}")
    rows = refusal.analyse(engine, clips)
    got = refusal.rates(rows)
    print(f"artifacts refused:           {refusal.fmt(got['artifacts'])}   (aim >= {AIM_ARTIFACTS:.0%})")
    print(f"real recordings refused:     {refusal.fmt(got['real'])}   (aim <= {AIM_REAL:.0%}; "
          f"heart {refusal.fmt(got['real_heart'])}, lung {refusal.fmt(got['real_lung'])})")
    print(f"labelled poor quality refused: {refusal.fmt(got['labelled_poor'])}")
    for k, c in got["by_kind"].items():
        print(f"  {k:18s} {refusal.fmt(c)}")
    if at is None and candidate is not None:
        what_if = refusal.rates(refusal.would_refuse(rows, candidate))
        print(f"at the validation candidate {candidate:.4f} (not used by the app): artifacts refused "
              f"{refusal.fmt(what_if['artifacts'])}, real {refusal.fmt(what_if['real'])}")
    scored = [r for r in rows if r["kind"] != "labelled_poor" and r["poor_quality"] is not None]
    auc = auroc(np.array([r["poor_quality"] for r in scored]), np.array([float(r["artifact"]) for r in scored]))
    print(f"poor-quality AUROC, artifacts vs real: {auc:.3f} (n = {len(scored)} scored)")
    reasons = {}
    for r in rows:
        if r["refused"]:
            key = (r["reason"] or "")[:60]
            reasons[key] = reasons.get(key, 0) + 1
    print("refusal reasons: " + "; ".join(f"{n} x {k!r}" for k, n in sorted(reasons.items(), key=lambda t: -t[1])))
    if a.json:
        a.json.write_text(json.dumps({"bundle": engine.name, "version": engine.version,
                                      "root": str(engine.bundle.root), "refuse_at": at, "rates": got,
                                      "auroc": auc, "rows": rows}, indent=1, default=float))
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
