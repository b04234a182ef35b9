"""Stage: pretrain the audio encoder with multi-task heads, then calibrate it on validation.

The encoder (``stethodesk.model.encoder.AudioEncoder``) learns every head of ``HEADS`` at once from
the training split; each head learns only from records whose label is known (masked losses).
Log-mel windows are computed once with the app's own frontend (``recording_features``) and cached
per recording under ``runs/features/<frontend hash>/``; training then augments the cached windows
in the log-mel domain (``training/augment.py``); a share ``artifact_p`` of the windows is first
turned into artifacts (speech, rubbing, handling, hum, noise, silence; ``training/artifacts.py``)
that teach the poor-quality head what is not a body sound (their other heads are masked).
After training, one temperature per head is fitted on the validation split (recording level: window logits averaged exactly as the app does)
and AUROC / ECE before and after are reported. The fit and the ECE are weighted to the original
releases' class mix where the shared subsets are enriched (``training/prevalence.py``: CirCor
murmur, PhysioNet 2016 abnormal), so the reported ECE is the one at the release mix (a temperature
has no intercept: it cannot move the base rate itself, see that module).

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
import hashlib
import json
import math
import os
import random
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from stethodesk.audio.fileio import AudioFileError, read_audio
from stethodesk.model import calibration as cal
from stethodesk.model.encode import EncodedAudio, encode_features
from stethodesk.model.encoder import HEADS, SITES, AudioEncoder, EncoderConfig, normalise_site, save_encoder
from stethodesk.model.features import FrontendConfig, recording_features
from stethodesk.model.projector import head_probabilities, projector_input
from stethodesk.paths import REPO_ROOT
from training import prevalence
from training.artifacts import ArtifactConfig, ArtifactMixer
from training.augment import AugmentConfig, Augmenter
from training.operating_points import call_source, head_points
from training.precision import choose_precision, describe

FEATURE_VERSION = 1  # bump when recording_features changes in a way its config does not show
DEFAULT_FEATURE_DIR = REPO_ROOT / "runs" / "features"

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
MIN_CALIBRATION_N = 30  # labelled validation recordings a head needs before a temperature is fitted
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


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def frontend_hash(frontend: FrontendConfig) -> str:
    return _hash({"frontend": frontend.to_dict(), "version": FEATURE_VERSION})


# ----------------------------------------------------------------------------- features


def _record_audio(r) -> tuple[np.ndarray, int]:
    """The audio a record covers (its segment when ``start_s``/``end_s`` are set)."""
    x, sr = read_audio(r.path)
    if r.start_s is not None or r.end_s is not None:
        a = int(round((r.start_s or 0.0) * sr))
        b = int(round(r.end_s * sr)) if r.end_s is not None else len(x)
        x = x[a:b]
    return x, sr


def feature_path(r, frontend: FrontendConfig, feature_dir: Path) -> Path:
    """Cache file of one record's log-mel windows (name keyed by its file, segment and mtime)."""
    st = os.stat(r.path)
    key = _hash([str(r.path), r.start_s, r.end_s, st.st_size, st.st_mtime_ns])
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(r.record_id))[:80]
    return Path(feature_dir) / frontend_hash(frontend) / r.dataset / f"{safe}-{key}.npy"


def cached_features(r, frontend: FrontendConfig, feature_dir: Path = DEFAULT_FEATURE_DIR) -> np.ndarray:
    """Log-mel windows ``[W, n_mels, T]`` float32 of record ``r``, computed once and cached.

    Computed by :func:`stethodesk.model.features.recording_features`, the app's own path, so the
    cache holds exactly what the app would feed the encoder.
    """
    p = feature_path(r, frontend, feature_dir)
    if p.exists():
        return np.load(p)
    x, sr = _record_audio(r)
    f = recording_features(x, sr, frontend)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, f)
    os.replace(tmp, p)  # atomic: a killed run never leaves a half-written cache file
    return f


@contextmanager
def one_thread():
    """Run the block with one torch thread, restoring the previous count afterwards."""
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def load_features(records, frontend, feature_dir, log=print, what="") -> tuple[list, list[np.ndarray]]:
    """Cached log-mel windows of every readable record: ``(records kept, [W, n_mels, T] each)``.

    An unreadable file (``AudioFileError``: damaged, empty, missing) is skipped with a log line
    naming it, so one bad file in a user's dataset does not stop the stage.

    One torch thread: these small STFT/matmul ops gain nothing from a second thread and lose
    up to 8x when the other core is busy (measured). The values do not depend on the thread
    count (tests/test_encoder_stage.py checks the cache against the app's path bit for bit).
    """
    kept, out, t0 = [], [], time.time()
    with one_thread():
        for i, r in enumerate(records):
            try:
                f = cached_features(r, frontend, feature_dir)
            except AudioFileError as exc:
                log(f"  skipping {r.key}: {exc}")
                continue
            kept.append(r)
            out.append(f)
            if (i + 1) % 500 == 0:
                log(f"  features {what}: {i + 1}/{len(records)} recordings ({time.time() - t0:.0f} s)")
    log(f"  features {what}: {len(kept)} recordings, {sum(len(f) for f in out)} windows "
        f"({time.time() - t0:.0f} s)")
    return kept, out


# ----------------------------------------------------------------------------- targets


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


# ----------------------------------------------------------------------------- data selection


def subsample(records, cap: int | None, seed: int) -> list:
    """At most ``cap`` records per dataset, seeded (all when ``cap`` is None)."""
    if not cap:
        return list(records)
    by = {}
    for r in sorted(records, key=lambda r: r.key):
        by.setdefault(r.dataset, []).append(r)
    rng = random.Random(seed)
    out = []
    for ds in sorted(by):
        rs = by[ds]
        rng.shuffle(rs)
        out += rs[:cap]
    return out


def epoch_pairs(n_windows: list[int], k: int, seed: int, epoch: int) -> list[tuple[int, int]]:
    """(record, window) pairs of one epoch: up to ``k`` random windows per recording, shuffled.

    Deterministic in (seed, epoch) so every DDP rank draws the same list before sharding.
    """
    rng = random.Random(seed * 100_003 + epoch)
    pairs = []
    for i, w in enumerate(n_windows):
        pairs += [(i, j) for j in rng.sample(range(w), min(k, w))]
    rng.shuffle(pairs)
    return pairs


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, pairs):
        self.pairs = pairs

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        return i


# ----------------------------------------------------------------------------- distributed


def _dist():
    """(rank, world) and initialise gloo when launched by torchrun."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _barrier(world):
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


# ----------------------------------------------------------------------------- evaluation


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
            "auroc": _r(before["auroc"]),
            "ece_before": _r(before["ece"]),
            "ece_after": _r(after["ece"]) if after else None,
            "T": _r(t),
            "fitted": bool(len(zk) >= MIN_CALIBRATION_N),
        }
        if wk is not None and len(zk):
            m["ece_after_unweighted"] = _r(cal.head_metrics(zk, yk, kind, t)["ece"])
        if ds_arr is not None and len(zk):
            by = {}
            for ds in sorted(set(ds_arr[keep])):
                sel = ds_arr[keep] == ds
                a = cal.head_metrics(zk[sel], yk[sel], kind, 1.0)["auroc"]
                if not math.isnan(a):
                    by[ds] = _r(a)
            m["auroc_by_dataset"] = by
        metrics[h] = m
        heads[h] = cal.head_entry(h, t, m)
        points, figures = head_points(h, zk, yk, heads[h]["calibration"]) if len(zk) else ({}, {})
        if points:  # each finding's operating point on the same validation logits
            heads[h]["call_at"], heads[h]["call_source"] = points, call_source(figures)
        log(f"  {h:14s} n={m['n_val']:5d}  AUROC={_fmt(m['auroc'])}  ECE {_fmt(m['ece_before'])} -> "
            f"{_fmt(m['ece_after'])}  T={t:.3f}" + ("" if m["fitted"] else f"  (not fitted: < {MIN_CALIBRATION_N} recordings)"))
    return heads, metrics


def _r(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)


def _fmt(v):
    return "  n/a" if v is None else f"{v:.3f}"


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
    rank, world = _dist()
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
    cfg_hash = _hash({
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
    _barrier(world)
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
            _Pairs(pairs), num_replicas=world, rank=rank, shuffle=False, drop_last=False)
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
            if _stop_now(trained_s + time.time() - t_train > max_s, world):
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
                    ds: {"validation": _r(prevalence.sample_prevalence(val_recs, ds)), "release": ref["release"],
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
    _barrier(world)
    if world > 1:
        import torch.distributed as dist

        box = [result]
        dist.broadcast_object_list(box, src=0)
        result = box[0]
    return result


def lr_factor(step: int, total_steps: int, warmup: int, elapsed_s: float | None, budget_s: float) -> float:
    """Linear warm-up, then cosine decay over training progress.

    Progress is the larger of steps done and time spent (single process), so a run stopped by its
    time budget on a slow or busy machine still ends with an annealed learning rate. Under DDP
    (``elapsed_s=None``) it is step-based only: ranks must agree on the rate bit for bit.
    """
    progress = step / max(1, total_steps)
    if elapsed_s is not None and budget_s > 0:
        progress = max(progress, elapsed_s / budget_s)
    return min(1.0, (step + 1) / warmup) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def param_digest(model: torch.nn.Module) -> str:
    """sha256 over every trainable parameter (name + exact bytes), for cross-rank comparison.

    BatchNorm running statistics are left out: DDP broadcasts rank 0's before each forward, and
    each rank then updates them from its own shard, so they legitimately differ after a step.
    """
    h = hashlib.sha256()
    for k, v in sorted(model.named_parameters()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _stop_now(local: bool, world: int) -> bool:
    """True when any rank is out of time (all ranks must stop on the same step under DDP)."""
    if world == 1:
        return local
    import torch.distributed as dist

    flag = torch.tensor([1.0 if local else 0.0])
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item() > 0)


# ----------------------------------------------------------------------------- downstream helper


def encode_records(encoder: AudioEncoder, records, frontend: FrontendConfig = FrontendConfig(),
                   feature_dir: Path = DEFAULT_FEATURE_DIR, log=print) -> dict[str, EncodedAudio]:
    """``{record.key: EncodedAudio}`` for ``records`` through the feature cache (for the SFT stage).

    Unreadable files are skipped with a log line (their keys are absent from the result).

    ``projector_features(enc, heads)`` turns one result into the projector input ``[d_in]``.
    """
    out = {}
    t0 = time.time()
    for i, r in enumerate(records):
        try:
            with one_thread():  # see load_features: the frontend is fastest single-threaded
                mel = cached_features(r, frontend, feature_dir)
        except AudioFileError as exc:
            log(f"  skipping {r.key}: {exc}")
            continue
        out[r.key] = encode_features(encoder, mel)
        if (i + 1) % 500 == 0:
            log(f"  encoded {i + 1}/{len(records)} recordings ({time.time() - t0:.0f} s)")
    return out


def projector_features(enc: EncodedAudio, heads) -> np.ndarray:
    """Projector input ``[D + P]`` of one encoded recording (embedding + raw head probabilities)."""
    probs = head_probabilities({h: torch.from_numpy(enc.logits[h]).reshape(1, -1) for h in heads}, heads)
    return projector_input(torch.from_numpy(enc.embedding).reshape(1, -1), probs)[0].numpy()


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
