"""Preference stage: DPO on top of SFT, with a clean-vs-corrupted-audio term.

Pairs (all on the *clean* recording's prompt):

- chosen: the label-consistent answer (the instruction example's own answer);
- rejected: one of the example's ``rejected`` answers (label-flipped, built by
  ``training.instructions``) or the answer the SFT model itself gave when it heard a corrupted
  (noise) or another recording - kept only if ``training.checker`` says it contradicts the true
  labels.

Loss per pair (beta = :attr:`DPOConfig.beta`, reference = the SFT model, whose log-probs are
computed once before training since policy == reference at the start)::

    L_dpo   = -log sigmoid(beta * [(pi(y_w|a) - ref(y_w|a)) - (pi(y_l|a) - ref(y_l|a))])
    L_audio = -log sigmoid(beta * [(pi(y_w|a) - ref(y_w|a)) - (pi(y_w|a~) - ref(y_w|a~))])

where ``a`` is the clean audio, ``a~`` corrupted audio, and ``pi``/``ref`` are summed answer-token
log-probs. ``L_audio`` is StethoLM's idea of contrasting clean and corrupted audio: the chosen
answer should become more likely *because of* the right recording. Total = L_dpo + gamma * L_audio.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from training.precision import Precision, choose_precision, describe
from training.sft import Trainable, collate, load_lora_state, lora_state, sequence_logprob
from training.sft_examples import Encoded


@dataclass(frozen=True)
class DPOConfig:
    steps: int = 60
    batch_size: int = 4  # pairs per step (3 sequences each)
    beta: float = 0.1
    gamma: float = 0.5  # weight of the clean-vs-corrupted audio term
    lr_lora: float = 5e-5
    lr_projector: float = 1e-4
    dtype: str = "auto"  # "auto" follows the hardware (training/precision.py), or "fp32" / "bf16"
    grad_clip: float = 1.0
    ckpt_every: int = 20
    log_every: int = 5
    seed: int = 0
    max_minutes: float = 0.0  # wall-clock budget for the optimisation; 0 = none (stops early, saved)


@dataclass
class Pair:
    """One preference pair: the same prompt (clean audio) with chosen / rejected answers, and the
    chosen answer under corrupted audio (``chosen_corrupt``: same tokens, other audio key)."""

    chosen: Encoded
    rejected: Encoded
    chosen_corrupt: Encoded
    source: str  # "flipped" | "policy_noise" | "policy_other"
    ref: tuple[float, float, float] = (0.0, 0.0, 0.0)  # reference log-probs (chosen, rejected, corrupt)


def corrupt_copy(e: Encoded, audio_keys: list[str]) -> Encoded:
    """``e`` with its recordings replaced by ``audio_keys`` (same tokens)."""
    return Encoded(e.id + "~", e.ids, e.slot, e.kpos, e.n_prompt, list(audio_keys), dict(e.meta))


@torch.no_grad()
def reference_logprobs(module: Trainable, pairs: list[Pair], feats: dict, d_in: int,
                       precision: Precision | None = None) -> None:
    """Fill ``pair.ref`` with the (current = SFT) model's summed answer log-probs."""
    module.eval()
    seqs = [e for p in pairs for e in (p.chosen, p.rejected, p.chosen_corrupt)]
    lp = sequence_logprob(module, seqs, feats, d_in, precision).reshape(-1, 3)
    for p, r in zip(pairs, lp):
        p.ref = (float(r[0]), float(r[1]), float(r[2]))


def dpo_precision(cfg: DPOConfig) -> Precision:
    """The compute type of DPO steps (``cfg.dtype``; "auto" follows the hardware)."""
    return choose_precision("cpu", override=None if cfg.dtype == "auto" else cfg.dtype)


def pair_loss(module, pairs: list[Pair], feats: dict, d_in: int, cfg: DPOConfig):
    """(loss, stats) of a batch of pairs under the current policy."""
    seqs = [e for p in pairs for e in (p.chosen, p.rejected, p.chosen_corrupt)]
    batch = collate(seqs, feats, d_in)
    with dpo_precision(cfg).autocast():
        logp, row = module(batch)
    s = torch.zeros(len(seqs)).index_add(0, row, logp.float()).reshape(-1, 3)
    ref = torch.tensor([p.ref for p in pairs], dtype=torch.float32)
    d = s - ref  # policy - reference, [P, 3]
    margin = d[:, 0] - d[:, 1]
    audio_margin = d[:, 0] - d[:, 2]
    loss = -F.logsigmoid(cfg.beta * margin).mean() - cfg.gamma * F.logsigmoid(cfg.beta * audio_margin).mean()
    acc = float((margin.detach() > 0).float().mean())
    md, amd = margin.detach(), audio_margin.detach()
    return loss, {"margin": float(md.mean()), "audio_margin": float(amd.mean()), "acc": acc}


def train_dpo(peft_model, projector, pairs: list[Pair], feats: dict, d_in: int, cfg: DPOConfig,
              k: int, ckpt_path: Path | None = None, log=print) -> dict:
    """DPO in place on the SFT LoRA + projector; reference log-probs must be filled already."""
    prec = dpo_precision(cfg)
    log("dpo: " + describe(prec))
    module = Trainable(peft_model, projector, k)
    params_lora = [p for p in peft_model.parameters() if p.requires_grad]
    params_proj = [p for p in projector.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": params_lora, "lr": cfg.lr_lora},
                             {"params": params_proj, "lr": cfg.lr_projector}], weight_decay=0.0)
    start, hist = 0, []
    if ckpt_path is not None and Path(ckpt_path).exists():
        ck = torch.load(ckpt_path, weights_only=False)
        load_lora_state(peft_model, ck["lora"])
        projector.load_state_dict(ck["projector"])
        opt.load_state_dict(ck["opt"])
        start, hist = ck["step"], ck["hist"]
        log(f"dpo: resumed at step {start}/{cfg.steps}")
    order = list(range(len(pairs)))
    random.Random(cfg.seed).shuffle(order)
    t0 = time.time()
    peft_model.train()
    projector.train()
    done = start
    for step in range(start, cfg.steps):
        idx = [order[(step * cfg.batch_size + i) % len(pairs)] for i in range(cfg.batch_size)]
        loss, st = pair_loss(module, [pairs[i] for i in idx], feats, d_in, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params_lora + params_proj, cfg.grad_clip)
        opt.step()
        hist.append({"loss": float(loss.detach()), **st})
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            recent = hist[-cfg.log_every:]
            log(f"dpo: step {done}/{cfg.steps} loss {np.mean([h['loss'] for h in recent]):.3f} "
                f"pref-acc {np.mean([h['acc'] for h in recent]):.2f} "
                f"audio-margin {np.mean([h['audio_margin'] for h in recent]):+.2f} "
                f"({(time.time() - t0) / max(1, done - start):.2f} s/step)")
        over = bool(cfg.max_minutes) and time.time() - t0 > cfg.max_minutes * 60
        if over:
            log(f"dpo: {cfg.max_minutes:.0f}-min budget used up after {done} of {cfg.steps} steps")
        if ckpt_path is not None and (done % cfg.ckpt_every == 0 or done == cfg.steps or over):
            tmp = Path(str(ckpt_path) + ".tmp")
            torch.save({"lora": lora_state(peft_model), "projector": projector.state_dict(),
                        "opt": opt.state_dict(), "step": done, "hist": hist, "cfg": asdict(cfg)}, tmp)
            os.replace(tmp, ckpt_path)
        if over:
            break
    peft_model.eval()
    projector.eval()
    last = hist[-10:]
    return {"steps": done, "steps_planned": cfg.steps, "pairs": len(pairs), "seconds": round(time.time() - t0, 1),
            "loss_last": round(float(np.mean([h["loss"] for h in last])), 4) if last else None,
            "pref_acc_last": round(float(np.mean([h["acc"] for h in last])), 3) if last else None,
            "precision": prec.to_dict()}
