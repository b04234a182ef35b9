"""Leave-one-dataset-out (LODO) scorecard of the audio encoder: how it does on a source it never saw.

    python -m training.lodo                                   # 7 folds x 10 min, into runs/lodo/
    python -m training.lodo --minutes-per-fold 14 --out runs/lodo
    python -m training.lodo --datasets icbhi2017 circor2022   # some folds only
    python -m training.lodo --into models/stetholm-270m-laptop  # also into that bundle's metrics + card

For each source dataset of ``training/data`` (fold = held-out dataset), the encoder is trained
(:func:`training.encoder_train.train_encoder`, the profile's recipe with a per-fold wall-clock
budget) on the training split of **all other** datasets and calibrated on their validation
split, then tested on the held-out dataset's test split: AUROC of the abnormal, murmur, crackle
and wheeze heads where that dataset has labels. For comparison, the in-domain figure - the full
model's encoder (the app's default bundle, or ``--bundle``) on the very same test recordings - is
printed beside it. In-domain minus LODO is the generalisation gap the issue asks to measure
(guide 2b: device and site shift dominates).

Outputs: ``<out>/<dataset>/encoder/`` (the fold's encoder, resumable per epoch),
``<out>/<dataset>/fold.json`` (the fold's figures: a rerun skips finished folds whose settings
match) and ``<out>/lodo.json`` (all folds, rewritten after each). ``--into BUNDLE`` copies
``lodo.json`` next to the bundle's metrics (``metrics.json`` key ``lodo``), where the model card
and the regression gate (:mod:`training.gate`) read it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from stethodesk.paths import REPO_ROOT
from training.eval_metrics import bundle_points, finding_metrics

LODO_HEADS = ("abnormal", "murmur", "crackle", "wheeze")
DEFAULT_MINUTES = 10.0  # per fold: 7 folds + features + evaluation ~ 80-90 min on 2 cores
DEFAULT_OUT = REPO_ROOT / "runs" / "lodo"
LODO_VERSION = 1  # bump when a fold's figures change meaning


def fold_splits(records, held_out: str) -> dict[str, list]:
    """Train / val of every dataset but ``held_out``; test of ``held_out`` only."""
    return {"train": [r for r in records if r.dataset != held_out and r.split == "train"],
            "val": [r for r in records if r.dataset != held_out and r.split == "val"],
            "test": [r for r in records if r.dataset == held_out and r.split == "test"]}


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1) + "\n")
    tmp.replace(path)


def encoder_findings(enc, frontend, heads_cfg: dict, records, feature_dir=None, log=print) -> dict:
    """``{record key: calibrated findings}`` of an encoder on ``records`` (feature cache used)."""
    from stethodesk.model.calibration import calibrate
    from training.encoded_records import encode_records
    from training.feature_cache import DEFAULT_FEATURE_DIR

    encoded = encode_records(enc, records, frontend, Path(feature_dir or DEFAULT_FEATURE_DIR), log=log)
    return {k: calibrate(e.logits, heads_cfg) for k, e in encoded.items()}


def in_domain_findings(bundle: Path, records, feature_dir=None, log=print) -> dict:
    """The full model's findings (``bundle``'s encoder and calibration) on ``records``."""
    from training.evaluate import load_parts

    m, enc, _, fe = load_parts(bundle)
    return encoder_findings(enc, fe, m["heads"], records, feature_dir, log)


def run_fold(held_out: str, records, out: Path, minutes: float, *, profile: str = "laptop",
             encoder_overrides: dict | None = None, feature_dir=None, bundle: Path | None = None,
             log=print, train_fn=None) -> dict:
    """Train, test and record one fold; a finished fold with the same settings is reused.

    Parameters
    ----------
    held_out : str
        Dataset left out of training and tested on.
    records : list of Record
        Every dataset's records with ``.split`` set.
    out : path
        LODO folder; the fold works in ``out/<held_out>/``.
    minutes : float
        Wall-clock budget of the fold's training loop.
    bundle : path, optional
        Bundle whose encoder gives the in-domain comparison (None: none).
    train_fn : callable, optional
        ``train_encoder``-compatible function (tests).

    Returns
    -------
    dict
        ``{"held_out", "test_records", "train_records": {dataset: n}, "held_out": {head: metrics},
        "in_domain": {head: metrics}, "encoder": {...training summary}, "seconds", "config"}``
        (``held_out`` metrics: :func:`training.eval_metrics.finding_metrics`).
    """
    from stethodesk.model.encoder import load_encoder
    from stethodesk.model.features import FrontendConfig

    if train_fn is None:
        from training.encoder_train import train_encoder as train_fn
    sp = fold_splits(records, held_out)
    fold_dir = Path(out) / held_out
    bundle_id = None
    if bundle is not None:
        bj = Path(bundle) / "bundle.json"
        bundle_id = hashlib.sha256(bj.read_bytes()).hexdigest()[:16] if bj.exists() else str(bundle)
    config = {"version": LODO_VERSION, "minutes": minutes, "profile": profile,
              "overrides": encoder_overrides or {}, "bundle": bundle_id,
              "records": _digest({s: sorted(r.key for r in v) for s, v in sp.items()})}
    done = fold_dir / "fold.json"
    if done.exists():
        prev = json.loads(done.read_text())
        if prev.get("config") == config:
            log(f"lodo: {held_out}: done earlier, reused ({done})")
            return prev
    if not sp["test"]:
        raise ValueError(f"lodo: {held_out} has no test recordings")
    t0 = time.time()
    log(f"lodo: {held_out}: training on {len(sp['train'])} recordings of "
        f"{len({r.dataset for r in sp['train']})} other datasets, {minutes:g} min budget")
    res = train_fn({"train": sp["train"], "val": sp["val"]}, fold_dir / "encoder",
                   {"name": profile, "encoder": {"max_minutes": minutes, **(encoder_overrides or {})}}, log,
                   feature_dir=feature_dir)
    enc = load_encoder(fold_dir / "encoder" / "encoder.safetensors", res["encoder"])
    findings = encoder_findings(enc, FrontendConfig.from_dict(res["frontend"]), res["heads"], sp["test"],
                                feature_dir, log)
    held = finding_metrics(sp["test"], findings, names=LODO_HEADS)
    ind = {}
    if bundle is not None:
        manifest = json.loads((Path(bundle) / "bundle.json").read_text())  # its sens/spec at its own points
        ind = finding_metrics(sp["test"], in_domain_findings(Path(bundle), sp["test"], feature_dir, log),
                              names=LODO_HEADS, points=bundle_points(manifest))
    tr = res.get("training") or {}
    fold = {"held_out_dataset": held_out, "test_records": len(sp["test"]),
            "train_records": dict(sorted(Counter(r.dataset for r in sp["train"]).items())),
            "held_out": held, "in_domain": ind,
            "encoder": {k: tr.get(k) for k in ("epochs_done", "epochs_planned", "stopped_by_time_budget", "steps")},
            "seconds": round(time.time() - t0, 1), "config": config}
    _write_json(done, fold)
    log(f"lodo: {held_out}: " + (", ".join(f"{h} {_f(v.get('auroc'))} (in-domain {_f((ind.get(h) or {}).get('auroc'))})"
                                          for h, v in held.items()) or "no labelled head") +
        f" ({fold['seconds']:.0f} s)")
    return fold


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def summarize(folds: dict[str, dict], heads=LODO_HEADS) -> dict:
    """Per head: mean held-out and in-domain AUROC over the folds that have both."""
    out = {}
    for h in heads:
        pairs = [(f["held_out"][h]["auroc"], (f.get("in_domain") or {}).get(h, {}).get("auroc"))
                 for f in folds.values() if f["held_out"].get(h, {}).get("auroc") is not None]
        if pairs:
            ind = [b for _, b in pairs if b is not None]
            out[h] = {"held_out": float(np.mean([a for a, _ in pairs])), "folds": len(pairs),
                      "in_domain": float(np.mean(ind)) if len(ind) == len(pairs) else None}
    return out


def run_lodo(records, out: Path = DEFAULT_OUT, minutes: float = DEFAULT_MINUTES, datasets=None, *,
             profile: str = "laptop", encoder_overrides: dict | None = None, feature_dir=None,
             bundle: Path | None = None, log=print, train_fn=None) -> dict:
    """Every fold (or those of ``datasets``), then ``<out>/lodo.json``; returns its contents."""
    from training.eval_tables import lodo_table

    out = Path(out)
    present = sorted({r.dataset for r in records})
    folds = {}
    for ds in datasets or present:
        folds[ds] = run_fold(ds, records, out, minutes, profile=profile, encoder_overrides=encoder_overrides,
                             feature_dir=feature_dir, bundle=bundle, log=log, train_fn=train_fn)
        lodo = {"kind": "leave-one-dataset-out: encoder trained on the other datasets' training splits, "
                        "tested on the held-out dataset's test split; in_domain: the full model on the same recordings",
                "heads": list(LODO_HEADS), "minutes_per_fold": minutes, "profile": profile,
                "in_domain_bundle": None if bundle is None else Path(bundle).name,
                "folds": folds, "summary": summarize(folds)}
        _write_json(out / "lodo.json", lodo)
    log("\n".join(lodo_table(lodo)))
    return lodo


def into_bundle(lodo: dict, bundle: Path, log=print) -> None:
    """``lodo.json`` next to ``bundle``'s metrics, merged as ``metrics["lodo"]``; the bundle's
    ``bundle.json`` metrics and model card are refreshed."""
    from training.evaluate import write_metrics

    bundle = Path(bundle)
    _write_json(bundle / "lodo.json", lodo)
    mj = bundle / "metrics.json"
    m = json.loads(mj.read_text()) if mj.exists() else {}
    m["lodo"] = lodo
    write_metrics(bundle, m, update_bundle=(bundle / "bundle.json").exists())
    log(f"lodo: written into {bundle} (lodo.json, metrics.json, model card)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Leave-one-dataset-out scorecard of the audio encoder.")
    ap.add_argument("--minutes-per-fold", type=float, default=DEFAULT_MINUTES)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--datasets", nargs="*", default=None, help="held-out datasets (default: all)")
    ap.add_argument("--profile", default="laptop", help="encoder recipe (training.encoder_train.PROFILES)")
    ap.add_argument("--bundle", type=Path, default=None, help="full model for the in-domain figures "
                    "(default: the app's default bundle)")
    ap.add_argument("--no-in-domain", action="store_true", help="skip the in-domain comparison")
    ap.add_argument("--max-records", type=int, default=None, help="cap records per dataset and split (quick runs)")
    ap.add_argument("--feature-dir", type=Path, default=None)
    ap.add_argument("--into", type=Path, default=None, help="bundle to write the scorecard into")
    args = ap.parse_args(argv)
    from training.splits import load_split, subset

    records = load_split(None)
    if args.max_records:
        records = subset(records, {s: args.max_records for s in ("train", "val", "test")}, 0)
    bundle = None
    if not args.no_in_domain:
        from stethodesk.model.bundle import default_bundle_dir

        bundle = args.bundle or default_bundle_dir()
    lodo = run_lodo(records, args.out, args.minutes_per_fold, args.datasets, profile=args.profile,
                    feature_dir=args.feature_dir, bundle=bundle)
    if args.into:
        into_bundle(lodo, args.into)
    return 0


if __name__ == "__main__":
    sys.exit(main())
