"""Projector: encoder embedding (+ head probabilities) -> K prefix embeddings for the LLM. No Qt.

The outputs live in Gemma's *scaled* token-embedding space (the graph multiplies token embeddings
by sqrt(n_embd) but not embeddings fed through ``batch.embd``; GUIDE section 1), so every output row
is RMS-normalised and scaled to a norm of ``target_norm`` (~26, like real scaled token rows) before
a learned per-dimension gain.

Shapes: ``projector_input(embedding [B, D], probs [B, P]) -> [B, D + P]``;
``Projector(cfg)(features [B, d_in]) -> [B, k, n_embd]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn

from stethodesk.model.encoder import HEADS

TARGET_ROW_NORM = 26.0  # mean L2 norm of Gemma 3 270M scaled token embeddings (GUIDE: ~26)


@dataclass(frozen=True)
class ProjectorConfig:
    """Projector shape (stored in ``bundle.json`` under ``"projector"``)."""

    d_in: int  # embedding D + number of head probabilities (see :func:`projector_input`)
    hidden: int  # width of the two hidden layers
    k: int = 4  # prefix tokens per recording
    n_embd: int = 640  # LLM embedding width (Gemma 3 270M: 640)
    target_norm: float = TARGET_ROW_NORM  # L2 norm of each output row before the learned gain

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ProjectorConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown projector settings: {sorted(unknown)}")
        return cls(**d)


def probability_names(heads: tuple[str, ...] | list[str] = tuple(HEADS)) -> list[str]:
    """Flat names of the head probabilities in projector-input order (binary: head name, else
    ``<head>_<class>``) - the same names :func:`stethodesk.model.calibration.calibrate` returns."""
    out: list[str] = []
    for h in heads:
        spec = HEADS[h]
        out += [h] if spec.kind == "binary" else [f"{h}_{c}" for c in spec.classes]
    return out


def head_probabilities(logits: dict[str, torch.Tensor], heads: tuple[str, ...] | list[str]) -> torch.Tensor:
    """Uncalibrated probabilities of every head, concatenated in ``heads`` order.

    ``logits[h]`` is ``[B, C]``; binary and multilabel heads use a sigmoid, multiclass heads a
    softmax. Returns ``[B, P]`` with ``P = len(probability_names(heads))``. Calibration is left
    out on purpose: the projector is trained on these exact values, so they must not change when
    a bundle is recalibrated.
    """
    parts = []
    for h in heads:
        z = logits[h].float()
        if z.dim() == 1:
            z = z.unsqueeze(0)
        parts.append(torch.softmax(z, dim=-1) if HEADS[h].kind == "multiclass" else torch.sigmoid(z))
    return torch.cat(parts, dim=-1)


def projector_input(embedding: torch.Tensor, probs: torch.Tensor | None) -> torch.Tensor:
    """Concatenate the pooled embedding ``[B, D]`` with head probabilities ``[B, P]`` -> ``[B, D+P]``.

    ``probs=None`` gives the embedding alone (a projector configured with ``d_in = D``).
    """
    emb = torch.as_tensor(embedding).float()
    if emb.dim() == 1:
        emb = emb.unsqueeze(0)
    if probs is None:
        return emb
    p = torch.as_tensor(probs).float()
    if p.dim() == 1:
        p = p.unsqueeze(0)
    if p.shape[0] != emb.shape[0]:
        raise ValueError(f"batch mismatch: embedding {tuple(emb.shape)} vs probabilities {tuple(p.shape)}")
    return torch.cat([emb, p], dim=-1)


class Projector(nn.Module):
    """3-layer MLP (as in StethoLM's mapper) to ``k`` prefix rows of width ``n_embd``."""

    def __init__(self, cfg: ProjectorConfig):
        super().__init__()
        self.cfg = cfg
        self.net = nn.Sequential(
            nn.LayerNorm(cfg.d_in),
            nn.Linear(cfg.d_in, cfg.hidden),
            nn.GELU(),
            nn.Linear(cfg.hidden, cfg.hidden),
            nn.GELU(),
            nn.Linear(cfg.hidden, cfg.k * cfg.n_embd),
        )
        self.gain = nn.Parameter(torch.ones(cfg.n_embd))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features`` [B, d_in] -> prefix embeddings [B, k, n_embd] (row norms ~target_norm)."""
        if features.dim() != 2 or features.shape[1] != self.cfg.d_in:
            raise ValueError(f"Projector expects [B, {self.cfg.d_in}], got {tuple(features.shape)}")
        y = self.net(features).view(-1, self.cfg.k, self.cfg.n_embd)
        rms = y.float().pow(2).mean(-1, keepdim=True).add(1e-6).rsqrt().to(y.dtype)
        scale = self.cfg.target_norm / math.sqrt(self.cfg.n_embd)  # RMS 1 -> norm sqrt(n_embd)
        return y * rms * scale * self.gain


def save_projector(model: Projector, path: str | Path) -> None:
    """Write weights as safetensors (config in the metadata)."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"projector_config": json.dumps(model.cfg.to_dict())})
    Path(path).chmod(0o644)  # safetensors writes 0600; bundle files are meant to be shared


def load_projector(path: str | Path, cfg: ProjectorConfig | dict | None = None) -> Projector:
    """Load a projector saved by :func:`save_projector`, in eval mode (``cfg`` overrides the file's)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if cfg is None:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "projector_config" not in meta:
            raise ValueError(f"{path.name}: no projector config stored; pass the bundle's 'projector' settings")
        cfg = json.loads(meta["projector_config"])
    if isinstance(cfg, dict):
        cfg = ProjectorConfig.from_dict(cfg)
    model = Projector(cfg)
    try:
        model.load_state_dict(load_file(str(path)))
    except RuntimeError as exc:
        raise ValueError(f"{path.name}: weights do not match the projector settings: {exc}") from None
    return model.eval()
