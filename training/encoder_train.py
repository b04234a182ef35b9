"""Stage: pretrain the audio encoder with multi-task heads, then calibrate it on validation.

The encoder (``stethodesk.model.encoder.AudioEncoder``) learns every head of ``HEADS`` at once from
the training split; each head learns only from records whose label is known (masked losses,
``training/encoder_targets.py``). Log-mel windows are computed once with the app's own frontend
and cached per recording (``training/feature_cache.py``); training then augments the cached windows
in the log-mel domain (``training/augment.py``); a share ``artifact_p`` of the windows is first
turned into artifacts (speech, rubbing, handling, hum, noise, silence; ``training/artifacts.py``)
that teach the poor-quality head what is not a body sound (their other heads are masked).
After training, one temperature per head is fitted on the validation split
(``training/encoder_calibration.py``: recording level, window logits averaged exactly as the app
does) and AUROC / ECE before and after are reported, weighted to the original releases' class mix
where the shared subsets are enriched (``training/prevalence.py``). Later stages encode records
with the trained encoder through ``training/encoded_records.py``.

This module holds the profiles, the data selection, the training loop (single process or DDP
under torchrun) and the stage's entry point.

Standalone::

    python -m training.encoder_train --profile smoke --out runs/enc_smoke
    python -m training.encoder_train --profile laptop --out runs/enc_laptop
    torchrun --nproc_per_node 2 -m training.encoder_train --profile smoke --out runs/enc_ddp

From the orchestrator::

    from training.encoder_train import train_encoder
    result = train_encoder({"train": [...], "val": [...]}, out_dir, {"name": "laptop"})

Outputs in ``out_dir``: ``encoder.safetensors`` (weights, config in its metadata), ``encoder.json``
(EncoderConfig), ``encoder_result.json`` (the returned dict + the config hash that makes a rerun
skip the stage), ``encoder_ckpt.pt`` (per-epoch checkpoint for resuming an interrupted run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from stethodesk.model.encoder import HEADS, AudioEncoder, EncoderConfig, save_encoder
from stethodesk.model.features import FrontendConfig
from stethodesk.paths import REPO_ROOT
from training import prevalence
from training.artifacts import ArtifactConfig, ArtifactMixer
from training.augment import AugmentConfig, Augmenter
from training.encoder_calibration import calibrate_heads, evaluate, rounded
from training.encoder_ddp import barrier, init_dist, param_digest, stop_now
from training.encoder_schedule import PairIndex, epoch_pairs, lr_factor, subsample
from training.encoder_targets import masked_losses, record_targets, stack_targets
from training.feature_cache import DEFAULT_FEATURE_DIR, FEATURE_VERSION, load_features, stable_hash
from training.precision import choose_precision, describe

# Training settings per profile; ``profile["encoder"]`` overrides any of them.
PROFILES: dict[str, dict] = {
    "smoke": {
        "max_records_per_dataset": {"train": 8, "val": 5},  # a few dozen recordings in all
        "epochs": 1,
        "batch_size": 8,
        "max_windows_per_record": 4,  # windows drawn per recording per epoch
        "lr": 2e-3,
        "weight_decay": 1e-2,
        "max_minutes": 1.0,
        "augment": True,
        "artifact_p": 0.1,  # share of windows turned into artifacts (training/artifacts.py); 0 = off
        "dtype": "auto",  # compute type: "auto" follows the hardware (training/precision.py)
        "seed": 0,
    },
    "laptop": {
        "max_records_per_dataset": None,
        "epochs": 8,
        "batch_size": 32,
        "max_windows_per_record": 2,
        "lr": 2e-3,
        "weight_decay": 1e-2,
        "max_minutes": 14.0,  # wall-clock cap on the training loop (features and eval extra)
        "augment": True,
        "artifact_p": 0.1,  # share of windows turned into artifacts (training/artifacts.py); 0 = off
        "dtype": "auto",  # compute type: "auto" follows the hardware (training/precision.py)
        "seed": 0,
    },
}
HEAD_WEIGHTS = {"site": 0.5}  # site is auxiliary (it teaches device/position cues); others 1.0


# ----------------------------------------------------------------------------- settings


def settings_for(profile: dict) -> dict:
    """The profile's training settings: the named defaults updated with ``profile["encoder"]``."""
    name = profile.get("name", "smoke")
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    s = dict(PROFILES[name])
    s.update(profile.get("encoder") or {})
    s["name"] = name
    return s


def default_threads(world: int = 1) -> int:
    """Torch threads per process: the cores not already busy, shared among the DDP ranks.

    On a shared 2-core machine a second thread that competes with another process made a
    training step 3-10x slower than one thread (measured), so busy cores are left alone.
    """
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:
        busy = 0.0
    free = max(1, min(cores, int(cores - busy + 0.5)))
    return max(1, free // world)


# ----------------------------------------------------------------------------- the stage


def train_encoder(records_by_split: dict, out_dir, profile: dict, log=print, *,
                  encoder_cfg: EncoderConfig | None = None, frontend: FrontendConfig | None = None,
                  feature_dir: Path | None = None) -> dict:
    """Pretrain, calibrate and save the encoder; skip when ``out_dir`` already holds this result.

    Parameters
    ----------
    records_by_split : dict
        ``{"train": [Record], "val": [Record], ...}`` (``training.data.Record``); other splits
        are ignored.
    out_dir : path
        Where ``encoder.safetensors``, ``encoder.json``, ``encoder_result.json`` and the
        checkpoint go.
    profile : dict
        ``{"name": "smoke"|"laptop", "encoder": {overrides of PROFILES[name]}}``.

    Returns
    -------
    dict
        ``{"encoder": EncoderConfig dict, "frontend": FrontendConfig dict, "heads": bundle.json
        heads section (per-head calibration + validation metrics), "metrics": {head: {"auroc",
        "ece_before", "ece_after", "T", "n_val"}}, "training": {...counts and timings}}``.
    """
    rank, world = init_dist()
    t_start = time.time()
    s = settings_for(profile)
    encoder_cfg = encoder_cfg or EncoderConfig(**(s.get("encoder_config") or {}))
    if isinstance(encoder_cfg, dict):
        encoder_cfg = EncoderConfig.from_dict(encoder_cfg)
    frontend = frontend or FrontendConfig()
    if encoder_cfg.n_mels != frontend.n_mels:
        raise ValueError(f"encoder expects {encoder_cfg.n_mels} mel bands, frontend gives {frontend.n_mels}")
    feature_dir = Path(feature_dir or s.get("feature_dir") or DEFAULT_FEATURE_DIR)
    out_dir = Path(out_dir)
    say = log if rank == 0 else (lambda *_: None)

    caps = s.get("max_records_per_dataset") or {}
    train_recs = subsample(records_by_split.get("train", []), caps.get("train"), s["seed"])
    val_recs = subsample(records_by_split.get("val", []), caps.get("val"), s["seed"] + 1)
    if not train_recs:
        raise ValueError("encoder stage: no training recordings")
    train_settings = {k: v for k, v in s.items() if k not in ("feature_dir",)}
    cfg_hash = stable_hash({
        "encoder": encoder_cfg.to_dict(), "frontend": frontend.to_dict(), "settings": train_settings,
        "train": sorted(r.key for r in train_recs), "val": sorted(r.key for r in val_recs),
        "world": world, "version": FEATURE_VERSION,
    })
    result_path = out_dir / "encoder_result.json"
    weights_path = out_dir / "encoder.safetensors"
    if result_path.exists() and weights_path.exists():
        try:
            done = json.loads(result_path.read_text())
        except ValueError:
            done = {}
        if done.get("config_hash") == cfg_hash:
            say(f"encoder: up to date in {out_dir} (config {cfg_hash}); skipping")
            return done
    out_dir.mkdir(parents=True, exist_ok=True)

    threads = int(s.get("threads") or default_threads(world))
    torch.set_num_threads(threads)
    torch.manual_seed(s["seed"])
    say(f"encoder: profile {s['name']}: {len(train_recs)} train / {len(val_recs)} val recordings, "
        f"{world} process(es) x {threads} thread(s)")
    say("  train by dataset: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r.dataset for r in train_recs).items())))

    # features: rank 0 fills the cache, the others read it after the barrier
    if rank == 0:
        train_recs, train_feats = load_features(train_recs, frontend, feature_dir, say, "train")
        val_recs, val_feats = load_features(val_recs, frontend, feature_dir, say, "val")
    barrier(world)
    if rank != 0:
        train_recs, train_feats = load_features(train_recs, frontend, feature_dir, lambda *_: None)
        val_recs, val_feats = load_features(val_recs, frontend, feature_dir, lambda *_: None)
    if not train_recs:
        raise ValueError("encoder stage: none of the training recordings could be read")
    t_feat = time.time() - t_start
    # training windows kept as float16 in memory (halves RAM; rounding is far below augmentation)
    train_windows = [torch.from_numpy(f).to(torch.float16) for f in train_feats]
    del train_feats
    heads = encoder_cfg.heads
    train_t = stack_targets([record_targets(r) for r in train_recs], heads)
    train_t = {h: torch.from_numpy(v) for h, v in train_t.items()}

    model = AudioEncoder(encoder_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    n_windows = [len(w) for w in train_windows]
    per_epoch = sum(min(s["max_windows_per_record"], w) for w in n_windows)
    steps_per_epoch = max(1, math.ceil(per_epoch / world / s["batch_size"]))
    total_steps = steps_per_epoch * s["epochs"]
    warmup = max(1, min(100, total_steps // 10))

    ckpt_path = out_dir / "encoder_ckpt.pt"
    start_epoch, step, trained_s, stopped_early, epochs_done = 0, 0, 0.0, False, 0
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck.get("config_hash") == cfg_hash:
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            trained_s = float(ck.get("trained_s", 0.0))
            start_epoch, step = int(ck["epoch"]), int(ck["step"])
            epochs_done = start_epoch
            stopped_early = bool(ck.get("stopped_early", False))
            if stopped_early:  # the budget was spent: evaluate what was trained, add no steps
                start_epoch = s["epochs"]
            say(f"  resuming from {ckpt_path.name} after epoch {int(ck['epoch'])}")
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model)  # gloo all-reduces gradients; BN buffers broadcast from rank 0 each step
    aug = Augmenter(frontend, AugmentConfig(), seed=s["seed"] * 7919 + rank) if s["augment"] else None
    p_art = float(s.get("artifact_p") or 0.0)
    arts = ArtifactMixer(frontend, ArtifactConfig(p=p_art), seed=s["seed"] * 7919 + rank + 1) if p_art > 0 else None
    art_counts: Counter = Counter()
    prec = choose_precision("cpu", override=None if s.get("dtype", "auto") == "auto" else s["dtype"])
    say("encoder: " + describe(prec))
    max_s = float(s["max_minutes"]) * 60.0
    t_train = time.time()
    for epoch in range(start_epoch, s["epochs"]):
        pairs = epoch_pairs(n_windows, s["max_windows_per_record"], s["seed"], epoch)
        sampler = torch.utils.data.distributed.DistributedSampler(
            PairIndex(pairs), num_replicas=world, rank=rank, shuffle=False, drop_last=False)
        order = list(iter(sampler))
        net.train()
        tot, seen = Counter(), 0
        for b0 in range(0, len(order), s["batch_size"]):
            idx = [pairs[i] for i in order[b0 : b0 + s["batch_size"]]]
            x = torch.stack([train_windows[r][w] for r, w in idx]).float()
            rec = torch.tensor([r for r, _ in idx])
            y = {h: v[rec] for h, v in train_t.items()}
            if arts is not None:  # before the device augmentation: artifacts reach devices too
                x, y, drawn = arts(x, y)
                art_counts.update(drawn)
            if aug is not None:
                x = aug(x)
            with prec.autocast():
                out = net(x)
            losses = masked_losses(out.logits, y)
            loss = sum(HEAD_WEIGHTS.get(h, 1.0) * l for h, l in losses.items())
            lr = s["lr"] * lr_factor(step, total_steps, warmup,
                                     trained_s + time.time() - t_train if world == 1 else None, max_s)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            seen += len(idx)
            for h, l in losses.items():
                tot[h] += float(l.detach()) * len(idx)
            tot["total"] += float(loss.detach()) * len(idx)
            if step % 50 == 0:
                say(f"  epoch {epoch + 1}/{s['epochs']} step {step}/{total_steps} loss {float(loss.detach()):.3f} lr {lr:.2e} "
                    f"({time.time() - t_train:.0f} s)")
            if stop_now(trained_s + time.time() - t_train > max_s, world):
                stopped_early = True
                break
        epochs_done = epoch + 1
        say(f"  epoch {epoch + 1}: mean loss {tot['total'] / max(seen, 1):.3f} over {seen} windows "
            f"[" + ", ".join(f"{h} {tot[h] / max(seen, 1):.3f}" for h in heads) + f"] ({time.time() - t_train:.0f} s)")
        if arts is not None:
            say(f"  artifact windows so far: {sum(art_counts.values())} ({arts.rendered} rendered, the rest reused "
                "from the pool; poor_quality = 1, other heads masked): "
                + ", ".join(f"{k} {v}" for k, v in sorted(art_counts.items())))
        if rank == 0:
            tmp = ckpt_path.with_suffix(".tmp")
            torch.save({"config_hash": cfg_hash, "epoch": epoch + 1, "step": step, "model": model.state_dict(),
                        "opt": opt.state_dict(), "trained_s": trained_s + time.time() - t_train,
                        "stopped_early": stopped_early}, tmp)
            os.replace(tmp, ckpt_path)
        if stopped_early:
            say(f"  stopping: the {s['max_minutes']} min training budget is spent")
            break
    train_s = time.time() - t_train
    if world > 1:  # each rank records a digest of its own parameters: the DDP sync check reads them
        (out_dir / f"ddp_rank{rank}.json").write_text(json.dumps(
            {"rank": rank, "world": world, "steps": step, "param_sha256": param_digest(model)}) + "\n")

    result = None
    if rank == 0:
        model.eval()
        t_eval = time.time()
        val_t = stack_targets([record_targets(r) for r in val_recs], heads)
        val_logits = evaluate(model, val_feats, val_recs) if val_recs else {
            h: np.zeros((0, HEADS[h].n_out), np.float32) for h in heads}
        say("encoder: validation (recording level), calibration by temperature per head:")
        val_w = prevalence.prevalence_weights(val_recs)
        for ds, ref in prevalence.REFERENCE_PREVALENCE.items():
            p = prevalence.sample_prevalence(val_recs, ds)
            if p is not None:
                say(f"  weighted to the release mix: {ds} {ref['positive']} {p:.0%} in validation -> "
                    f"{ref['release']:.0%}")
        heads_section, metrics = calibrate_heads(val_logits, val_t, say, [r.dataset for r in val_recs],
                                                 weights=val_w)
        save_encoder(model, weights_path)
        result = {
            "config_hash": cfg_hash,
            "encoder": encoder_cfg.to_dict(),
            "frontend": frontend.to_dict(),
            "heads": heads_section,
            "metrics": metrics,
            "training": {
                "profile": s["name"],
                "records": {"train": dict(Counter(r.dataset for r in train_recs)),
                            "val": dict(Counter(r.dataset for r in val_recs))},
                "calibration_prevalence": {
                    ds: {"validation": rounded(prevalence.sample_prevalence(val_recs, ds)), "release": ref["release"],
                         "positive": ref["positive"]}
                    for ds, ref in prevalence.REFERENCE_PREVALENCE.items()
                    if prevalence.sample_prevalence(val_recs, ds) is not None},
                "train_windows": int(sum(n_windows)),
                "artifact_windows": {"p": p_art, "drawn": int(sum(art_counts.values())),
                                     "rendered": arts.rendered if arts is not None else 0,
                                     "by_kind": dict(sorted(art_counts.items()))},
                "epochs_done": epochs_done,
                "epochs_planned": s["epochs"],
                "stopped_by_time_budget": stopped_early,
                "steps": step,
                "processes": world,
                "precision": prec.to_dict(),
                "threads": threads,
                "seconds": {"features": round(t_feat, 1), "train": round(train_s, 1),
                            "eval": round(time.time() - t_eval, 1), "total": round(time.time() - t_start, 1)},
                "params": int(sum(p.numel() for p in model.parameters())),
            },
        }
        tmp = result_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(tmp, result_path)
        say(f"encoder: wrote {weights_path} ({result['training']['seconds']['total']:.0f} s in all)")
    barrier(world)
    if world > 1:
        import torch.distributed as dist

        box = [result]
        dist.broadcast_object_list(box, src=0)
        result = box[0]
    return result


# ----------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Pretrain and calibrate the StethoDesk audio encoder.")
    ap.add_argument("--profile", default="smoke", choices=sorted(PROFILES))
    ap.add_argument("--out", default=None, help="output folder (default runs/enc_<profile>)")
    ap.add_argument("--data", default=None, help="folder with the datasets (default: the shared data)")
    ap.add_argument("--feature-dir", default=None, help=f"feature cache (default {DEFAULT_FEATURE_DIR})")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--max-minutes", type=float, default=None)
    ap.add_argument("--max-records", type=int, default=None, help="cap records per dataset and split")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    from training.splits import load_split

    over = {}
    if args.epochs is not None:
        over["epochs"] = args.epochs
    if args.max_minutes is not None:
        over["max_minutes"] = args.max_minutes
    if args.max_records is not None:
        over["max_records_per_dataset"] = {"train": args.max_records, "val": args.max_records}
    if args.threads is not None:
        over["threads"] = args.threads
    records = load_split(None, root=args.data)
    by_split = {sp: [r for r in records if r.split == sp] for sp in ("train", "val")}
    out = Path(args.out or REPO_ROOT / "runs" / f"enc_{args.profile}")
    res = train_encoder(by_split, out, {"name": args.profile, "encoder": over},
                        feature_dir=Path(args.feature_dir) if args.feature_dir else None)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"metrics": res["metrics"], "training": res["training"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
