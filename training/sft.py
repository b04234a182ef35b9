"""Alignment + supervised fine-tuning: projector and LoRA on the frozen Gemma 3 base.

What is trained: the projector (pooled encoder embedding + head probabilities -> K prefix
embeddings) and a LoRA (r=8, alpha=32) on q/k/v/o of every attention layer. The base LLM and the
audio encoder stay frozen; encoder outputs are precomputed once per recording (``feats``: audio
path -> projector input vector ``[d_in]``), so a training step costs only the LLM.

Examples come encoded in the app's prompt layout (``training/sft_examples.py``: token ids with K
audio slots per recording); this module batches them, fills the audio slots from the projector
and trains. Loss is cross-entropy on the answer tokens and the answer-end token only.

Data parallel: :func:`train_sft` takes ``rank``/``world`` and wraps the trainable parts in
``DistributedDataParallel`` when ``world > 1`` (see ``training/ddp.py``); each rank takes its own
slice of every global batch, DDP averages the gradients, so parameters stay identical.

Commands (normally run through ``python -m training.build``)::

    torchrun --nproc_per_node 2 -m training.ddp --profile smoke   # data-parallel SFT
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from training.precision import Precision, choose_precision, describe
from training.sft_examples import Encoded

IGNORE = -100  # label value ignored by the loss
PAD_ID = 0  # Gemma's <pad>


@dataclass(frozen=True)
class SFTConfig:
    steps: int = 500  # optimizer steps
    batch_size: int = 4  # examples per step per rank
    lr_lora: float = 2e-4
    lr_projector: float = 1e-3
    warmup: int = 20  # linear warm-up steps, then cosine decay to 10 %
    max_len: int = 384  # tokens incl. audio slots; longer answers are cut at the end. 192 cut the whole
    # answer of 99% of comparisons (two findings cards: prompts of ~260 tokens) and the tail of
    # 11-32% of the others' (measured 2026-12-01); the build refuses cuts over MAX_CUT_SHARE
    lora_r: int = 8
    lora_alpha: float = 32.0
    lora_targets: tuple = ("q_proj", "k_proj", "v_proj", "o_proj")
    k: int = 4  # prefix embeddings per recording
    dtype: str = "auto"  # compute type: "auto" follows the hardware (training/precision.py), or
    # "fp32" / "bf16"; autocast only, weights stay fp32
    grad_clip: float = 1.0
    ckpt_every: int = 50  # steps between checkpoints
    log_every: int = 10
    seed: int = 0
    max_minutes: float = 0.0  # wall-clock budget; 0 = none. After `calib_steps` steps the plan is
    # cut to what fits the budget at the measured speed (the LR schedule follows the new plan);
    # if the steps slow down after that, training still stops when the budget is spent
    calib_steps: int = 10
    extend_minutes: float = 0.0  # on resume from a finished run: train this many more minutes,
    # planned as another `steps` (a warm restart of the cosine schedule; `--extend-sft` in the build)


# ----------------------------------------------------------------------------- batches


@dataclass
class Batch:
    ids: torch.Tensor  # [B, L] long, -1 at audio slots, PAD_ID at padding
    slot: torch.Tensor  # [B, L] long, -1 where not audio
    kpos: torch.Tensor  # [B, L] long
    attn: torch.Tensor  # [B, L] long 1 = real token
    labels: torch.Tensor  # [B, L] long, IGNORE except answer tokens
    feats: torch.Tensor  # [B, 2, d_in] float projector inputs (zeros for a missing 2nd audio)


def batch_to(b: Batch, device) -> Batch:
    return Batch(*(t.to(device) for t in (b.ids, b.slot, b.kpos, b.attn, b.labels, b.feats)))


def collate(items: list[Encoded], feats: dict, d_in: int) -> Batch:
    """Right-pad a list of encoded examples into one batch. ``feats``: path -> np/tensor [d_in]."""
    B, L = len(items), max(len(e.ids) for e in items)
    ids = torch.full((B, L), PAD_ID, dtype=torch.long)
    slot = torch.full((B, L), -1, dtype=torch.long)
    kpos = torch.full((B, L), -1, dtype=torch.long)
    attn = torch.zeros((B, L), dtype=torch.long)
    labels = torch.full((B, L), IGNORE, dtype=torch.long)
    fx = torch.zeros((B, 2, d_in), dtype=torch.float32)
    for b, e in enumerate(items):
        n = len(e.ids)
        ids[b, :n] = torch.tensor(e.ids)
        slot[b, :n] = torch.tensor(e.slot)
        kpos[b, :n] = torch.tensor(e.kpos)
        attn[b, :n] = 1
        labels[b, e.n_prompt:n] = ids[b, e.n_prompt:n]
        for j, path in enumerate(e.audio[:2]):
            v = feats[path] if isinstance(path, str) else path
            fx[b, j] = torch.as_tensor(np.asarray(v, dtype=np.float32))
    return Batch(ids, slot, kpos, attn, labels, fx)


def build_embeds(embed: torch.nn.Module, projector: torch.nn.Module, batch: Batch, k: int) -> torch.Tensor:
    """Inputs embeddings [B, L, n_embd]: scaled token embeddings with audio slots from the projector.

    ``embed`` is the base's ``get_input_embeddings()`` (Gemma 3 scales by sqrt(n_embd) inside),
    and the projector outputs live in that same scaled space.
    """
    B, L = batch.ids.shape
    text = embed(batch.ids.clamp(min=0))  # [B, L, E]
    audio = projector(batch.feats.reshape(B * 2, -1)).reshape(B, 2 * k, -1)  # [B, 2K, E]
    idx = (batch.slot.clamp(min=0) * k + batch.kpos.clamp(min=0))  # [B, L]
    gathered = audio.gather(1, idx.unsqueeze(-1).expand(-1, -1, audio.shape[-1]))
    is_audio = (batch.slot >= 0).unsqueeze(-1)
    return torch.where(is_audio, gathered.to(text.dtype), text)


def causal_lm(model):
    """The underlying ``*ForCausalLM`` (unwraps peft / DDP)."""
    m = model
    for _ in range(4):
        if hasattr(m, "get_base_model"):  # peft (its __getattr__ forwards lm_head, so test this first)
            m = m.get_base_model()
        elif isinstance(m, torch.nn.parallel.DistributedDataParallel):
            m = m.module
        else:
            break
    return m


def answer_logprobs(lm, inputs_embeds: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probabilities of the labelled (answer) tokens.

    The vocabulary projection (262k) is applied only at answer positions to save memory.

    Returns
    -------
    logp: [N] float32 log p(token) for every labelled token in the batch (row-major);
    row: [N] long batch row of each token.
    """
    out = lm.model(inputs_embeds=inputs_embeds, attention_mask=batch.attn)
    h = out.last_hidden_state[:, :-1]  # position t predicts token t+1
    tgt = batch.labels[:, 1:]
    sel = tgt != IGNORE
    hs = h[sel]  # [N, E]
    logits = lm.lm_head(hs).float()
    soft = getattr(lm.config, "final_logit_softcapping", None)
    if soft:
        logits = torch.tanh(logits / soft) * soft
    logp = torch.log_softmax(logits, dim=-1).gather(1, tgt[sel].unsqueeze(1)).squeeze(1)
    row = torch.arange(tgt.shape[0], device=tgt.device).unsqueeze(1).expand_as(tgt)[sel]
    return logp, row


class Trainable(torch.nn.Module):
    """The peft-wrapped LM and the projector in one module (what DDP wraps)."""

    def __init__(self, lm, projector, k: int):
        super().__init__()
        self.lm = lm
        self.projector = projector
        self.k = k

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        core = causal_lm(self.lm)
        emb = build_embeds(core.get_input_embeddings(), self.projector, batch, self.k)
        return answer_logprobs(core, emb, batch)


def add_lora(model, cfg: SFTConfig):
    """Wrap the frozen base with a fresh LoRA (peft) on q/k/v/o; only LoRA weights train."""
    from peft import LoraConfig, get_peft_model

    lc = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                    target_modules=list(cfg.lora_targets), bias="none")
    return get_peft_model(model, lc)


def lora_state(peft_model) -> dict[str, torch.Tensor]:
    from peft import get_peft_model_state_dict

    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(peft_model).items()}


def load_lora_state(peft_model, state: dict) -> None:
    from peft import set_peft_model_state_dict

    res = set_peft_model_state_dict(peft_model, state)
    unexpected = getattr(res, "unexpected_keys", [])
    if unexpected:
        raise ValueError(f"unexpected LoRA keys: {unexpected[:3]}")


def trainable_params(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


def lr_at(step: int, cfg: SFTConfig, total: int | None = None) -> float:
    """Multiplier: linear warm-up, cosine decay to 10 % at step ``total`` (default cfg.steps)."""
    total = total or cfg.steps
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, total - cfg.warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train_sft(peft_model, projector, examples: list[Encoded], feats: dict, d_in: int, cfg: SFTConfig,
              ckpt_path: Path | None = None, log=print, rank: int = 0, world: int = 1,
              device: str | torch.device = "cpu", on_step=None) -> dict:
    """Train projector + LoRA in place; resumable from ``ckpt_path``.

    Parameters
    ----------
    peft_model: base wrapped by :func:`add_lora`.
    projector: ``stethodesk.model.projector.Projector`` (trainable).
    examples: encoded training examples (their ``audio`` paths are keys of ``feats``).
    feats: audio path -> projector input [d_in].
    rank, world: data-parallel position (world 1 = plain single process).
    device: where the model lives ("cpu", or "cuda:<local rank>" under torchrun on GPUs).
    on_step: optional callback ``on_step(step_done, loss)`` (tests use it).

    Returns
    -------
    dict with ``steps``, ``seconds``, ``loss_first``/``loss_last`` (mean over 10 logged steps),
    ``examples_seen``, ``precision`` (the compute type, why, and the CPU it was chosen for).
    """
    torch.manual_seed(cfg.seed)
    prec = choose_precision(device, override=None if cfg.dtype == "auto" else cfg.dtype)
    if rank == 0:
        log("sft: " + describe(prec))
    module = Trainable(peft_model, projector, cfg.k)
    model = module
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        dev = torch.device(device)
        model = DDP(module, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=False)
    params_lora = [p for p in peft_model.parameters() if p.requires_grad]
    params_proj = [p for p in projector.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([
        {"params": params_lora, "lr": cfg.lr_lora, "base": cfg.lr_lora},
        {"params": params_proj, "lr": cfg.lr_projector, "base": cfg.lr_projector},
    ], weight_decay=0.0)
    start, losses, total, spent = 0, [], cfg.steps, 0.0
    if ckpt_path is not None and Path(ckpt_path).exists():
        ck = torch.load(ckpt_path, weights_only=False)
        load_lora_state(peft_model, ck["lora"])
        projector.load_state_dict(ck["projector"])
        opt.load_state_dict(ck["opt"])
        start, losses = ck["step"], ck["losses"]
        total, spent = ck.get("total", cfg.steps), ck.get("seconds", 0.0)
        # the plan in the checkpoint was cut to the budget it was made under (an extension's is
        # larger than the profile's): resuming under the profile's would cut it again at once
        planned = (ck.get("cfg") or {}).get("max_minutes")
        if planned is not None:
            cfg = replace(cfg, max_minutes=planned)
        if cfg.extend_minutes and start >= total:
            # a finished run trained on: the new plan is another cfg.steps, cut below to what the
            # extra minutes fit; the budget counts from the time already spent
            total = start + cfg.steps
            cfg = replace(cfg, max_minutes=spent / 60 + cfg.extend_minutes)
        if rank == 0:
            log(f"sft: resumed at step {start}/{total}")
    n = len(examples)
    order = list(range(n))
    random.Random(cfg.seed).shuffle(order)
    gb = cfg.batch_size * world  # global batch
    t0 = time.time()
    peft_model.train()
    projector.train()
    step = start
    while step < total:
        j0 = step * gb + rank * cfg.batch_size
        items = [examples[order[(j0 + i) % n]] for i in range(cfg.batch_size)]
        batch = batch_to(collate(items, feats, d_in), device)
        for g in opt.param_groups:
            g["lr"] = g["base"] * lr_at(step, cfg, total)
        with prec.autocast():
            logp, _ = model(batch)
        loss = -logp.float().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params_lora + params_proj, cfg.grad_clip)
        opt.step()
        losses.append(float(loss.detach()))
        step = done = step + 1
        el = time.time() - t0
        rate = el / max(1, done - start)
        if cfg.max_minutes and done == start + cfg.calib_steps and done < total:
            left = cfg.max_minutes * 60 - spent - el
            fit = done + max(0, int(left / rate))
            if world > 1:  # every rank must plan the same number of steps
                import torch.distributed as dist

                t = torch.tensor([fit], dtype=torch.long)
                dist.all_reduce(t, op=dist.ReduceOp.MIN)
                fit = int(t.item())
            if fit < total:
                if rank == 0:
                    log(f"sft: {rate:.2f} s/step; the {cfg.max_minutes:.0f}-min budget fits {fit} of {total} steps")
                total = max(done, fit)
        elif cfg.max_minutes and done > start + cfg.calib_steps and done < total and spent + el >= cfg.max_minutes * 60:
            # the plan fitted at the calibration rate, but the steps slowed down since (another job
            # took the cores: 2026-12-01, 3.6 -> 9.6 s/step, a 60-min extension heading for 110):
            # the budget is a wall-clock limit, so stop here, checkpointed
            if rank == 0:
                log(f"sft: the {cfg.max_minutes:.0f}-min budget is spent at step {done} of {total} "
                    f"({rate:.2f} s/step since the plan); stopping")
            total = done
        if on_step is not None:
            on_step(done, losses[-1])
        if rank == 0 and (done % cfg.log_every == 0 or done == total):
            log(f"sft: step {done}/{total} loss {np.mean(losses[-cfg.log_every:]):.3f} "
                f"{rate:.2f} s/step, eta {rate * (total - done) / 60:.1f} min")
        if ckpt_path is not None and rank == 0 and (done % cfg.ckpt_every == 0 or done == total):
            _save_atomic({"lora": lora_state(peft_model), "projector": projector.state_dict(),
                          "opt": opt.state_dict(), "step": done, "losses": losses, "total": total,
                          "seconds": spent + el, "cfg": asdict(cfg)}, Path(ckpt_path))
    peft_model.eval()
    projector.eval()
    return {
        "steps": total,
        "steps_planned": cfg.steps,
        "seconds": round(spent + time.time() - t0, 1),
        "examples_seen": total * gb,
        "loss_first": round(float(np.mean(losses[:10])), 4) if losses else None,
        "loss_last": round(float(np.mean(losses[-10:])), 4) if losses else None,
        "precision": prec.to_dict(),
    }


@torch.no_grad()
def sequence_logprob(module: Trainable, items: list[Encoded], feats: dict, d_in: int, precision: Precision | None = None,
                     batch_size: int = 8) -> np.ndarray:
    """Sum of answer-token log-probs per encoded example -> np [len(items)] (for DPO / scoring).

    ``precision``: the compute type (default: :func:`training.precision.choose_precision` for the CPU).
    """
    prec = precision or choose_precision("cpu")
    out = []
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        batch = collate(chunk, feats, d_in)
        with prec.autocast():
            logp, row = module(batch)
        s = torch.zeros(len(chunk)).index_add_(0, row, logp.float())
        out.append(s.numpy())
    return np.concatenate(out) if out else np.zeros(0)
