"""Refit only the encoder's poor_quality head on the frozen trunk, with per-group balanced weights.

Issue 9: since ``training/encoder_targets.py`` makes every recording of the curated clean sets a
poor_quality = 0 example, those negatives (~2,500 train recordings) swamp the few real quality
labels (PASCAL "noisy", SPRSound "Poor Quality": ~230 positives), and the head learnt which set a
recording came from more than its quality: labelled-set AUROC on the test split fell from 0.950 to
0.821. This module refits ``AudioEncoder.heads["poor_quality"]`` (a Linear ``[D] -> [1]`` on the
pooled window embedding) and nothing else, so every other head and the embeddings the language
model was trained on are unchanged.

Data (train split only): the cached log-mel windows of every recording with a poor_quality target
(``training.encoder_targets.poor_quality_target``), each window once as is and once through the
training augmentation (``training/augment.py``); plus artifact windows (positives) made by the
training mixer itself (``training.artifacts.ArtifactMixer``: replaced or laid under a real window
at -30..-15 dB, then augmented). Weights (:func:`balanced_weights`): every group has the same
total weight - each set with a real quality label is its own group, with its positives and its
negatives half each; the curated clean sets together are ONE group of negatives (each set an equal
share); the artifacts one group of positives - and within a group every recording counts the
same, however many windows it has. The fit (:func:`fit_head`) is a weighted logistic regression,
L2-penalised toward the current head's weights.

Choice on VALIDATION only: per candidate (L2 strength x artifact group weight), the recording-level
AUROC of each labelled set and how many held-out artifact windows (other seeds, val recordings)
score above the 97th percentile of the real val recordings (what a 3 % refusal budget would
refuse). The kept candidate has the best mean labelled-set AUROC among those that refuse at least
the current head's share minus 0.02. The bias alone is then refit on the real training recordings
at their own mix (:func:`fit_bias`: the balanced weights put the head's zero at an equal mix, which
a temperature cannot undo), one temperature is fitted on validation exactly as
``training/encoder_calibration.calibrate_heads`` does, and validation + test figures are printed
before and after (ranking figures only; the refusal rates come from the bundle copy).

The result goes into a COPY (``--out``): ``encoder/`` (the encoder folder with the new head,
``encoder_result.json`` updated; the checkpoint is not copied, a resume from it would undo the
refit), ``encoder_info.json`` and, with ``--bundle``, a bundle copy for ``training.refusal`` /
``benchmarks/artifacts.py`` (its ``refuse_at`` removed: it must be chosen again). Nothing in
``--encoder-dir`` is modified.

    .venv/bin/python -m training.quality_head --encoder-dir runs/laptop/encoder \\
        --info runs/laptop/encoder_info.json --bundle runs/laptop/bundle --out /tmp/qh \\
        [--cache /tmp/qh/emb.pkl]   # embeddings kept for a rerun (~7 min on a busy 2-core machine)
"""

from __future__ import annotations

import argparse
import json
import pickle
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

HEAD = "poor_quality"
CLEAN_GROUP, ARTIFACT_GROUP = "curated_clean", "artifacts"
REAL_BUDGET = 0.03  # the refusal point's share of real recordings (training/refusal.py)
L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
ARTIFACT_WEIGHT_GRID = (1.0, 2.0)
ARTIFACT_SLACK = 0.02  # a candidate may refuse at most this much less of the val artifacts


# ----------------------------------------------------------------------------- weights and fit


def quality_groups(datasets, labelled, artifact) -> np.ndarray:
    """Group name per row: the dataset for rows of a set with a real quality label, else
    :data:`CLEAN_GROUP`; :data:`ARTIFACT_GROUP` for artifact rows. All inputs ``[N]``."""
    ds = np.asarray(datasets, dtype=object)
    out = np.where(np.asarray(labelled, bool), ds, CLEAN_GROUP).astype(object)
    out[np.asarray(artifact, bool)] = ARTIFACT_GROUP
    return out


def balanced_weights(groups, datasets, y, recording, group_weight: dict | None = None) -> np.ndarray:
    """Per-row weights ``[N]`` (float64) summing to the sum of the groups' weights.

    Every group gets ``group_weight.get(group, 1.0)``; inside it each class present gets an equal
    share, inside a class each dataset, inside a dataset each recording (``recording`` ``[N]``
    ids), inside a recording each row. Rows whose ``y`` is NaN get 0.
    """
    groups, datasets = np.asarray(groups, object), np.asarray(datasets, object)
    y, recording = np.asarray(y, np.float64), np.asarray(recording)
    w = np.zeros(len(y), np.float64)
    known = ~np.isnan(y)
    for g in sorted(set(groups[known])):
        in_g = known & (groups == g)
        classes = sorted(set(y[in_g]))
        for c in classes:
            in_c = in_g & (y == c)
            sets = sorted(set(datasets[in_c]))
            for d in sets:
                in_d = in_c & (datasets == d)
                recs = np.unique(recording[in_d])
                for r in recs:
                    rows = in_d & (recording == r)
                    share = (group_weight or {}).get(g, 1.0) / len(classes) / len(sets) / len(recs)
                    w[rows] = share / rows.sum()
    return w


def fit_head(x, y, w, l2: float, w0=None, b0: float = 0.0, iters: int = 200) -> tuple[np.ndarray, float]:
    """Weighted logistic regression ``sigmoid(x @ v + b)``: (v ``[D]``, b).

    ``x`` ``[N, D]``, ``y`` ``[N]`` in {0, 1}, ``w`` ``[N]`` >= 0 (normalised here). Minimises the
    weighted mean log-loss + ``l2 * |v - w0|^2`` (``w0`` the current head's weights, zeros when
    None) with L-BFGS in float64; deterministic.
    """
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    wt = torch.as_tensor(np.asarray(w), dtype=torch.float64)
    if wt.sum() <= 0:
        raise ValueError("fit_head: every weight is zero")
    wt = wt / wt.sum()
    anchor = torch.zeros(xt.shape[1], dtype=torch.float64) if w0 is None else torch.as_tensor(
        np.asarray(w0, np.float64).reshape(-1))
    v = anchor.clone().requires_grad_(True)
    b = torch.tensor([float(b0)], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([v, b], lr=1.0, max_iter=iters, tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        z = xt @ v + b
        loss = (wt * torch.nn.functional.binary_cross_entropy_with_logits(z, yt, reduction="none")).sum()
        loss = loss + l2 * ((v - anchor) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return v.detach().numpy().astype(np.float32), float(b.detach())


def fit_bias(z, y, w) -> float:
    """The bias ``b`` minimising the ``w``-weighted log-loss of logits ``z + b`` (``[N]`` each).

    The balanced fit puts the head's zero at the groups' equal mix; refit on the real training
    recordings at their own mix, the calibrated probability is not pushed up on every recording
    (a temperature alone cannot move it)."""
    from scipy.optimize import minimize_scalar

    z, y, w = (np.asarray(a, np.float64) for a in (z, y, w))
    w = w / w.sum()

    def nll(b):
        t = z + b
        return float(np.sum(w * (np.logaddexp(0.0, t) - y * t)))

    return float(minimize_scalar(nll, bounds=(-50.0, 50.0), method="bounded").x)


# ----------------------------------------------------------------------------- validation figures


def labelled_aurocs(scores, y, datasets, labelled) -> dict:
    """AUROC per set with a real quality label, plus ``"all labelled"`` pooled (NaN-free only)."""
    from stethodesk.model.calibration import auroc

    scores, y, ds = np.asarray(scores), np.asarray(y), np.asarray(datasets, object)
    lab = np.asarray(labelled, bool) & ~np.isnan(y)
    out = {d: round(float(auroc(scores[lab & (ds == d)], y[lab & (ds == d)])), 4) for d in sorted(set(ds[lab]))}
    out["all labelled"] = round(float(auroc(scores[lab], y[lab])), 4)
    return out


def artifact_separation(real_scores, artifact_scores, budget: float = REAL_BUDGET) -> dict:
    """Share of artifacts above the score that at most ``budget`` of real recordings exceed, and the
    artifact-vs-real AUROC (scores are logits or probabilities; only their order matters)."""
    from stethodesk.model.calibration import auroc

    real = np.sort(np.asarray(real_scores, np.float64))[::-1]
    at = real[int(np.floor(budget * real.size))]
    art = np.asarray(artifact_scores, np.float64)
    both = np.concatenate([real, art])
    return {"refused": round(float((art > at).mean()), 4),
            "auroc": round(float(auroc(both, np.r_[np.zeros(real.size), np.ones(art.size)])), 4)}


def choose(candidates: list[dict], baseline_refused: float, slack: float = ARTIFACT_SLACK) -> dict:
    """The candidate with the best mean labelled-set AUROC among those whose artifact share is at
    least ``baseline_refused - slack`` (ties: the larger L2). Raises when none qualifies."""
    ok = [c for c in candidates if c["artifacts"]["refused"] >= baseline_refused - slack]
    if not ok:
        raise ValueError("no refit keeps the artifact refusal; keep the current head")
    return max(ok, key=lambda c: (c["mean_labelled_auroc"], c["l2"]))


# ----------------------------------------------------------------------------- embeddings


def embed(model, windows, batch: int = 64) -> np.ndarray:
    """Trunk embeddings ``[W, D]`` float32 of log-mel windows ``[W, F, T]`` (eval mode, no grad)."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            out.append(model(torch.as_tensor(windows[i : i + batch]).float()).embedding.float().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.cfg.embed_dim), np.float32)


def _artifact_embeddings(model, feats, n: int, seed: int, augment: bool, frontend) -> np.ndarray:
    """``n`` artifact windows made by the training mixer over random windows of ``feats``
    (every item an artifact: ``p = 1``, rendered fresh), augmented like training when asked."""
    from training.artifacts import ArtifactConfig, ArtifactMixer
    from training.augment import Augmenter

    mixer = ArtifactMixer(frontend, ArtifactConfig(p=1.0, pool=0), seed=seed)
    aug = Augmenter(frontend, seed=seed + 1) if augment else None
    rng = np.random.default_rng(seed + 2)
    out = []
    for b0 in range(0, n, 32):
        rows = rng.integers(0, len(feats), min(32, n - b0))
        x = torch.stack([torch.from_numpy(np.asarray(feats[r][rng.integers(0, len(feats[r]))], np.float32))
                         for r in rows])
        x, _, _ = mixer(x, {HEAD: torch.zeros(len(x), 1)})
        out.append(embed(model, aug(x) if aug is not None else x))
    return np.concatenate(out)


def build_data(model, records: dict, frontend, feature_dir, n_artifacts: int, seed: int, max_windows: int,
               log=print) -> dict:
    """Embeddings for the refit: ``{"train": rows, "val": recordings, "test": recordings,
    "val_art"/"test_art": [M, D]}``; rows/recordings carry ``x, y, ds, labelled, rec`` arrays
    (recordings also ``real``: counted as real in the artifact separation)."""
    from training.augment import Augmenter
    from training.encoder_targets import poor_quality_target
    from training.feature_cache import load_features

    out = {}
    for split in ("train", "val", "test"):
        recs = records[split] if split != "train" else [
            r for r in records["train"] if not np.isnan(poor_quality_target(r))]
        t0 = time.time()
        recs, feats = load_features(recs, frontend, feature_dir, log, split)
        y = np.array([poor_quality_target(r) for r in recs], np.float64)
        ds = np.array([r.dataset for r in recs], object)
        lab = np.array([r.labels.get(HEAD) is not None for r in recs], bool)
        if split == "train":
            rng = np.random.default_rng(seed)
            aug = Augmenter(frontend, seed=seed + 3)
            xs, rows = [], []
            for i, f in enumerate(feats):
                pick = np.sort(rng.choice(len(f), min(max_windows, len(f)), replace=False))
                w = torch.from_numpy(np.asarray(f[pick], np.float32))
                xs += [embed(model, w), embed(model, aug(w))]  # as is and as another device
                rows += [i] * (2 * len(pick))
            rows = np.array(rows)
            art = _artifact_embeddings(model, feats, n_artifacts, seed + 11, True, frontend)
            na = len(art)
            out[split] = {"x": np.concatenate(xs + [art]), "y": np.r_[y[rows], np.ones(na)],
                          "ds": np.r_[ds[rows], np.array([ARTIFACT_GROUP] * na, object)],
                          "labelled": np.r_[lab[rows], np.zeros(na, bool)],
                          "artifact": np.r_[np.zeros(len(rows), bool), np.ones(na, bool)],
                          "rec": np.r_[rows, len(recs) + np.arange(na)]}
        else:
            x = np.stack([embed(model, f).mean(0) for f in feats])  # the app's window mean (linear head)
            real = np.array([not r.labels.get(HEAD) and not r.labels.get("mixed") for r in recs], bool)
            out[split] = {"x": x, "y": y, "ds": ds, "labelled": lab, "real": real, "recs": recs}
            out[f"{split}_art"] = _artifact_embeddings(model, feats, max(100, n_artifacts // 4),
                                                       seed + (101 if split == "val" else 202), False, frontend)
        log(f"  {split}: {len(out[split]['x'])} rows embedded ({time.time() - t0:.0f} s)")
    return out


# ----------------------------------------------------------------------------- the refit


def evaluate_head(v, b, data: dict, split: str) -> dict:
    """Labelled-set AUROC per set and artifact separation of head ``(v, b)`` on ``split``."""
    d = data[split]
    z = d["x"] @ v + b
    a = labelled_aurocs(z, d["y"], d["ds"], d["labelled"])
    sets = [k for k in a if k != "all labelled"]
    return {"auroc": a, "mean_labelled_auroc": round(float(np.mean([a[k] for k in sets])), 4),
            "artifacts": artifact_separation(z[d["real"]], data[f"{split}_art"] @ v + b)}


def refit(data: dict, w0: np.ndarray, b0: float, log=print) -> tuple[dict, dict, list[dict]]:
    """Grid over L2 x artifact weight, chosen on validation: (chosen, baseline, all candidates)."""
    tr = data["train"]
    groups = quality_groups(tr["ds"], tr["labelled"], tr["artifact"])
    base = evaluate_head(w0, b0, data, "val")
    log(f"  current head, val: {base['auroc']} artifacts {base['artifacts']}")
    cands = []
    for aw in ARTIFACT_WEIGHT_GRID:
        wts = balanced_weights(groups, tr["ds"], tr["y"], tr["rec"], {ARTIFACT_GROUP: aw})
        for l2 in L2_GRID:
            v, b = fit_head(tr["x"], tr["y"], wts, l2, w0, b0)
            c = {"l2": l2, "artifact_weight": aw, "v": v, "b": b, **evaluate_head(v, b, data, "val")}
            cands.append(c)
            log(f"  l2 {l2:g} artifacts x{aw:g}: val {c['auroc']} mean {c['mean_labelled_auroc']} "
                f"artifacts {c['artifacts']}")
    return choose(cands, base["artifacts"]["refused"]), base, cands


# ----------------------------------------------------------------------------- writing the copy


def _update_head(section: dict, entry: dict, metrics: dict, provenance: dict) -> None:
    """Put the refit head's calibration and metrics into an encoder_result / info dict, in place."""
    section.setdefault("heads", {})[HEAD] = entry
    section.setdefault("metrics", {})[HEAD] = metrics
    section["quality_head"] = provenance


def write_copy(model, encoder_dir: Path, info: Path | None, bundle: Path | None, out: Path,
               entry: dict, metrics: dict, provenance: dict) -> list[Path]:
    """Write the refit into ``out`` (encoder/, encoder_info.json, bundle/); returns the files written."""
    from stethodesk.model.bundle import sha256_file, write_manifest
    from stethodesk.model.encoder import save_encoder
    from training.export import save_module

    written = []
    enc = out / "encoder"
    enc.mkdir(parents=True, exist_ok=True)
    for f in encoder_dir.iterdir():  # the checkpoint holds the old head: a resume would undo the refit
        if f.is_file() and f.name not in ("encoder_ckpt.pt", "encoder.safetensors"):
            shutil.copy2(f, enc / f.name)
    save_encoder(model, enc / "encoder.safetensors")
    res = json.loads((enc / "encoder_result.json").read_text())
    _update_head(res, entry, metrics, provenance)
    (enc / "encoder_result.json").write_text(json.dumps(res, indent=1) + "\n")
    written += [enc / "encoder.safetensors", enc / "encoder.json", enc / "encoder_result.json"]
    if info is not None:
        d = json.loads(info.read_text())
        _update_head(d, entry, metrics, provenance)
        (out / "encoder_info.json").write_text(json.dumps(d, indent=1) + "\n")
        written.append(out / "encoder_info.json")
    if bundle is not None:
        dst = out / "bundle"
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(bundle, dst)
        m = json.loads((dst / "bundle.json").read_text())
        path = dst / m["files"]["encoder"]["path"]
        save_module(model, path, model.cfg.to_dict())
        m["files"]["encoder"]["sha256"] = sha256_file(path)
        m["heads"][HEAD] = {**entry, "quality_head": provenance}  # refuse_at dropped: choose it again
        write_manifest(dst, m)
        written.append(dst)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Refit the encoder's poor_quality head on the frozen trunk.")
    ap.add_argument("--encoder-dir", type=Path, required=True, help="encoder folder (encoder.safetensors, "
                    "encoder_result.json); read only")
    ap.add_argument("--info", type=Path, default=None, help="its encoder_info.json (copied and updated)")
    ap.add_argument("--bundle", type=Path, default=None, help="a bundle with this encoder (copied and updated)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/qh"))
    ap.add_argument("--artifacts", type=int, default=1500, help="artifact windows for the fit")
    ap.add_argument("--max-windows", type=int, default=6, help="windows per training recording")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--feature-dir", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=None, help="embeddings file (.pkl): reused when present")
    a = ap.parse_args(argv)
    from stethodesk.model.encoder import load_encoder
    from stethodesk.model.features import FrontendConfig
    from training import prevalence
    from training.encoder_calibration import calibrate_heads
    from training.feature_cache import DEFAULT_FEATURE_DIR
    from training.splits import load_split

    torch.set_num_threads(1)
    res = json.loads((a.encoder_dir / "encoder_result.json").read_text())
    frontend = FrontendConfig(**res["frontend"])
    model = load_encoder(a.encoder_dir / "encoder.safetensors")
    head = model.heads[HEAD]
    w0, b0 = head.weight.detach().numpy()[0].copy(), float(head.bias.detach()[0])
    every = load_split(None)
    records = {s: [r for r in every if r.split == s] for s in ("train", "val", "test")}
    print(f"quality head: {a.encoder_dir}; train/val/test recordings "
          + "/".join(str(len(v)) for v in records.values()))
    if a.cache is not None and a.cache.exists():
        data = pickle.loads(a.cache.read_bytes())
        print(f"  embeddings from {a.cache}")
    else:
        data = build_data(model, records, frontend, a.feature_dir or DEFAULT_FEATURE_DIR, a.artifacts, a.seed,
                          a.max_windows)
        if a.cache is not None:
            a.cache.parent.mkdir(parents=True, exist_ok=True)
            a.cache.write_bytes(pickle.dumps(data))
    chosen, base, cands = refit(data, w0, b0)
    tr = data["train"]
    real = ~tr["artifact"] & ~np.isnan(tr["y"])
    per_rec = 1.0 / np.bincount(tr["rec"])[tr["rec"]]  # each real training recording once, at its own mix
    b_mix = fit_bias(tr["x"][real] @ chosen["v"], tr["y"][real], per_rec[real])
    print(f"  bias at the training recordings' mix: {chosen['b']:.3f} -> {b_mix:.3f}")
    chosen["b"] = b_mix
    print(f"chosen on validation: l2 {chosen['l2']:g}, artifact weight {chosen['artifact_weight']:g}")
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(chosen["v"]).reshape(1, -1))
        head.bias.fill_(chosen["b"])
    val = data["val"]
    z = (val["x"] @ chosen["v"] + chosen["b"]).astype(np.float32)
    print("calibration on validation (as training/encoder_calibration.py):")
    heads, metrics = calibrate_heads({HEAD: z[:, None]}, {HEAD: val["y"].astype(np.float32)[:, None]}, print,
                                     list(val["ds"]), weights=prevalence.prevalence_weights(val["recs"]))
    figures = {s: {"before": evaluate_head(w0, b0, data, s),
                   "after": evaluate_head(chosen["v"], chosen["b"], data, s)} for s in ("val", "test")}
    for s, f in figures.items():
        for k in ("before", "after"):
            print(f"  {s:4s} {k:6s} AUROC {f[k]['auroc']}  artifacts (3 % real budget, window proxy) "
                  f"{f[k]['artifacts']}")
    provenance = {
        "how": "poor_quality head refit on the frozen trunk (training/quality_head.py): per-group balanced "
               "weights (each quality-labelled set, the curated clean sets as one group, artifacts), "
               "chosen on validation",
        "l2": chosen["l2"], "artifact_weight": chosen["artifact_weight"], "seed": a.seed, "bias": "refit on the "
        "real training recordings at their own mix (fit_bias)",
        "artifacts": a.artifacts, "max_windows": a.max_windows, "when": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
        "figures": {s: {k: {kk: vv for kk, vv in f[k].items()} for k in f} for s, f in figures.items()},
        "candidates": [{k: c[k] for k in ("l2", "artifact_weight", "mean_labelled_auroc", "artifacts")}
                       for c in cands],
    }
    written = write_copy(model, a.encoder_dir, a.info, a.bundle, a.out, heads[HEAD], metrics[HEAD], provenance)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
