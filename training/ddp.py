"""Data-parallel SFT under torchrun (PyTorch DDP): gloo on CPU, nccl on GPUs.

    # the SFT stage of a profile on N processes (earlier stages run first on rank 0):
    torchrun --nproc_per_node 2 -m training.ddp --profile laptop
    python -m training.build --profile laptop        # then DPO, export, evaluate (one process)

    # sync check on a tiny random model (what CI runs):
    torchrun --nproc_per_node 2 -m training.ddp --tiny --steps 3 --out /tmp/ddp

Each rank takes its own slice of every global batch (``training.sft.train_sft(rank=, world=)``);
DDP broadcasts rank 0's initial weights and averages gradients, so the trainable parameters (LoRA +
projector) stay identical on every rank. ``--tiny`` writes ``rank<r>.json`` with the sha256 of the
trainable parameters before/after and of the data each rank saw. The same code scales to GPUs,
the full official datasets or a bigger base (e.g. MedGemma-4B in full precision: train here, then
``training.merge_quantize`` for a single GGUF).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see training/build.py

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist


def init() -> tuple[int, int, str]:
    """(rank, world, device) from torchrun's environment; a plain run is rank 0 of 1."""
    if "RANK" not in os.environ:
        return 0, 1, "cpu"
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if backend == "nccl":
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return rank, world, f"cuda:{local}"
    return rank, world, "cpu"


def param_digest(params) -> str:
    """sha256 of the exact bytes of a list of tensors."""
    h = hashlib.sha256()
    for p in params:
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def tiny_run(steps: int, out: Path, rank: int, world: int, device: str) -> dict:
    """SFT on a tiny random Gemma 3 with synthetic examples; returns digests for the sync check."""
    from stethodesk.model.projector import Projector, ProjectorConfig
    from training.llm_base import tiny_gemma3
    from training.sft import SFTConfig, add_lora, train_sft
    from training.sft_examples import Encoded

    torch.set_num_threads(1)
    # different seeds per rank for everything DDP must overwrite (init weights) - proves the broadcast
    model = tiny_gemma3(seed=100 + rank, vocab_size=512, hidden=64)
    cfg = SFTConfig(steps=steps, batch_size=2, warmup=1, log_every=1, ckpt_every=10**9, dtype="fp32", seed=0)
    pm = add_lora(model, cfg).to(device)
    torch.manual_seed(200 + rank)
    proj = Projector(ProjectorConfig(d_in=16, hidden=32, k=4, n_embd=64)).to(device)
    rng = np.random.default_rng(0)  # same example list on every rank (like the real build)
    feats, exs = {}, []
    for i in range(16):
        feats[f"r{i}"] = rng.standard_normal(16).astype(np.float32)
        prompt = [2] + list(rng.integers(10, 500, 6)) + [-1] * 4 + list(rng.integers(10, 500, 5))
        ans = list(rng.integers(10, 500, 4)) + [106]
        ids = prompt + ans
        slot = [0 if t == -1 else -1 for t in ids]
        kpos, k = [], 0
        for t in ids:
            kpos.append(k if t == -1 else -1)
            k = k + 1 if t == -1 else 0
        exs.append(Encoded(f"ex{i}", ids, slot, kpos, len(prompt), [f"r{i}"]))
    trainable = [p for p in pm.parameters() if p.requires_grad] + list(proj.parameters())
    seen = []

    def on_step(done, loss):
        seen.append(round(loss, 6))

    before = param_digest(trainable)
    stats = train_sft(pm, proj, exs, feats, 16, cfg, None, print, rank, world, device, on_step=on_step)
    res = {"rank": rank, "world": world, "before": before, "after": param_digest(trainable),
           "losses": seen, "stats": stats}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{rank}.json").write_text(json.dumps(res, indent=1))
    return res


def profile_run(profile: str, runs: Path | None, rank: int, world: int, device: str) -> None:
    """The SFT stage of ``profile`` on ``world`` processes; rank 0 writes the checkpoint + marker."""
    from training import build as B
    from training.build_markers import mark_done, stage_done
    from training.sft import add_lora, train_sft

    p = B.PROFILES[profile]
    run_dir = Path(runs or B.REPO_ROOT / "runs") / p.name

    def barrier():
        if world > 1:
            dist.barrier()

    if rank == 0:  # file-writing stages once, on rank 0
        B.run(profile, runs, only=["data", "instructions"])
    barrier()
    log = B.Log(run_dir / "build.log") if rank == 0 else (lambda *_: None)
    b = B.Build(p, run_dir, B.bundle_dir(run_dir), log)
    if stage_done(run_dir, "encoder") is None:  # train_encoder is DDP-aware: every rank takes part
        info = b.stage_encoder(write=rank == 0)
        if rank == 0:
            mark_done(run_dir, "encoder", info)
    barrier()
    if rank == 0:
        B.run(profile, runs, only=["features"])
    barrier()
    feats, d_in, cfg, base, enc = b.sft_inputs()
    pm = add_lora(base.model, cfg).to(device)
    proj = b.new_projector(d_in).to(device)
    stats = train_sft(pm, proj, enc, feats, d_in, cfg, run_dir / "sft_ckpt.pt", log, rank, world, device)
    if rank == 0:
        mark_done(run_dir, "sft", {**stats, "examples": len(enc), "d_in": d_in, "processes": world})
    if world > 1:
        dist.barrier()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Data-parallel SFT under torchrun.")
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--runs", type=Path, default=None)
    ap.add_argument("--tiny", action="store_true", help="sync check on a tiny random model")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("runs/ddp_tiny"))
    args = ap.parse_args(argv)
    rank, world, device = init()
    try:
        if args.tiny:
            tiny_run(args.steps, args.out, rank, world, device)
        else:
            profile_run(args.profile, args.runs, rank, world, device)
    finally:
        if world > 1:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
