"""The audio encoder: a small 2-D CNN over log-mel windows with multi-task heads. No Qt here.

``AudioEncoder(cfg)(mel [B, n_mels, T]) -> EncoderOutput(embedding [B, D], logits {head: [B, C]})``.
Training (``training/encoder_train.py``) and runtime (``stethodesk/model/encode.py``) import this one
definition. Sized for a laptop CPU: ~0.7 M parameters, ~0.1 GMAC per 7 s window.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn


@dataclass(frozen=True)
class HeadSpec:
    """One prediction head.

    ``kind`` is "binary" (one sigmoid logit, ``classes == (name,)``), "multiclass" (softmax over
    ``classes``) or "multilabel" (one sigmoid per class). ``domain`` says which recordings the
    finding applies to ("heart", "lung" or "any").
    """

    name: str
    classes: tuple[str, ...]
    domain: str
    kind: str = "binary"

    @property
    def n_out(self) -> int:
        return len(self.classes)


# Normalised auscultation sites the "site" head predicts. Heart: the four valve areas.
# Lung: coarse regions shared by ICBHI, SPRSound and HLS-CMDS location codes.
SITES: tuple[str, ...] = ("AV", "PV", "TV", "MV", "trachea", "anterior", "posterior", "lateral")

HEADS: dict[str, HeadSpec] = {
    h.name: h
    for h in (
        HeadSpec("abnormal", ("abnormal",), "heart"),
        HeadSpec("murmur", ("murmur",), "heart"),
        HeadSpec("murmur_timing", ("systolic", "diastolic"), "heart", "multilabel"),
        HeadSpec("lesion", ("N", "AS", "MR", "MS", "MVP"), "heart", "multiclass"),
        HeadSpec("crackle", ("crackle",), "lung"),
        HeadSpec("wheeze", ("wheeze",), "lung"),
        HeadSpec("poor_quality", ("poor_quality",), "any"),
        HeadSpec("is_lung", ("is_lung",), "any"),
        HeadSpec("site", SITES, "any", "multiclass"),
    )
}

_SITE_ALIASES = {
    # heart valve areas (CirCor codes, PASCAL/HLS names)
    "av": "AV", "aortic": "AV", "pv": "PV", "pulmonary": "PV", "pulmonic": "PV",
    "tv": "TV", "tricuspid": "TV", "mv": "MV", "mitral": "MV", "apex": "MV",
    # lung regions (ICBHI chest-location codes Tc/Al/Ar/Pl/Pr/Ll/Lr, SPRSound names)
    "tc": "trachea", "trachea": "trachea", "tracheal": "trachea",
    "al": "anterior", "ar": "anterior", "pl": "posterior", "pr": "posterior",
    "ll": "lateral", "lr": "lateral",
}


def normalise_site(site: str | None) -> str | None:
    """Map a dataset's site code to one of :data:`SITES` (None when it cannot be placed).

    Accepts the canonical names themselves, CirCor/ICBHI codes and descriptive names such as
    ``"left_posterior"``, ``"anterior_right"`` or ``"Mitral area"``.
    """
    if not site:
        return None
    s = str(site).strip()
    if s in SITES:
        return s
    low = s.lower().replace("-", "_").replace(" ", "_")
    if low in _SITE_ALIASES:
        return _SITE_ALIASES[low]
    for key in ("posterior", "lateral", "anterior", "trachea"):
        if key in low:
            return key
    for key in ("aortic", "pulmon", "tricuspid", "mitral"):
        if key in low:
            return {"aortic": "AV", "pulmon": "PV", "tricuspid": "TV", "mitral": "MV"}[key]
    return None


@dataclass(frozen=True)
class EncoderConfig:
    """Encoder shape (stored in ``bundle.json`` under ``"encoder"``)."""

    n_mels: int = 64  # input mel bands (must equal FrontendConfig.n_mels)
    stem_channels: int = 16  # stem conv width; the stem (stride 2 + 2x2 max-pool) cuts F and T by 4
    channels: tuple[int, ...] = (32, 64, 128, 192)  # conv block widths; each block halves F and T
    depth: tuple[int, ...] = (1, 1, 2, 2)  # 3x3 convs per block (cheap where the maps are small)
    embed_dim: int = 192  # D of the pooled embedding handed to the projector
    dropout: float = 0.2  # before the heads, training only
    heads: tuple[str, ...] = field(default_factory=lambda: tuple(HEADS))  # head names, order fixed

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["depth"] = list(self.depth)
        d["heads"] = list(self.heads)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "EncoderConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown encoder settings: {sorted(unknown)}")
        d = dict(d)
        for k in ("channels", "depth", "heads"):
            if k in d:
                d[k] = tuple(d[k])
        for h in d.get("heads", ()):
            if h not in HEADS:
                raise ValueError(f"unknown encoder head {h!r}; known heads: {sorted(HEADS)}")
        return cls(**d)


class EncoderOutput(NamedTuple):
    embedding: torch.Tensor  # [B, D]
    logits: dict[str, torch.Tensor]  # head -> [B, C]


class _Block(nn.Module):
    """``depth`` x conv3x3-BN-ReLU (residual when depth > 1), then 2x2 average pooling.

    Shapes: [B, Ci, F, T] -> [B, Co, ceil(F/2), ceil(T/2)].
    """

    def __init__(self, c_in: int, c_out: int, depth: int = 1):
        super().__init__()
        self.convs = nn.ModuleList()
        self.bns = nn.ModuleList()
        for i in range(depth):
            self.convs.append(nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False))
            self.bns.append(nn.BatchNorm2d(c_out))
        self.pool = nn.AvgPool2d(2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bns[0](self.convs[0](x)))
        for conv, bn in zip(self.convs[1:], self.bns[1:]):
            x = torch.relu(x + bn(conv(x)))
        return self.pool(x)


class AudioEncoder(nn.Module):
    """Log-mel windows -> pooled embedding + per-head logits.

    Pipeline: per-band BatchNorm (learned global mel statistics) -> strided stem conv ->
    residual conv blocks -> mean over frequency -> attention + mean + max pooling over time ->
    linear + LayerNorm to ``embed_dim`` -> one linear layer per head.
    """

    def __init__(self, cfg: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.cfg = cfg
        if len(cfg.depth) != len(cfg.channels):
            raise ValueError("EncoderConfig.depth needs one entry per entry of channels")
        c0 = cfg.stem_channels
        self.bn0 = nn.BatchNorm1d(cfg.n_mels)
        self.stem = nn.Sequential(
            nn.Conv2d(1, c0, 5, stride=2, padding=2, bias=False),
            nn.BatchNorm2d(c0),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2, ceil_mode=True),
        )
        chans = list(cfg.channels)
        self.blocks = nn.Sequential(
            *[_Block(a, b, d) for a, b, d in zip([c0] + chans[:-1], chans, cfg.depth)]
        )
        c = chans[-1]
        self.attn = nn.Conv1d(c, 1, 1)  # attention score per time step
        self.proj = nn.Linear(3 * c, cfg.embed_dim)
        self.norm = nn.LayerNorm(cfg.embed_dim)
        self.drop = nn.Dropout(cfg.dropout)
        self.heads = nn.ModuleDict({h: nn.Linear(cfg.embed_dim, HEADS[h].n_out) for h in cfg.heads})

    def forward(self, mel: torch.Tensor) -> EncoderOutput:
        """``mel`` [B, n_mels, T] (output of ``LogMel``) -> :class:`EncoderOutput`."""
        if mel.dim() != 3 or mel.shape[1] != self.cfg.n_mels:
            raise ValueError(f"AudioEncoder expects [B, {self.cfg.n_mels}, T], got {tuple(mel.shape)}")
        x = self.bn0(mel).unsqueeze(1)  # [B, 1, F, T]
        x = self.blocks(self.stem(x))  # [B, C, F', T']
        h = x.mean(dim=2)  # [B, C, T']
        w = torch.softmax(self.attn(h).float(), dim=-1).to(h.dtype)  # [B, 1, T']
        pooled = torch.cat([(h * w).sum(-1), h.mean(-1), h.amax(-1)], dim=1)  # [B, 3C]
        emb = self.norm(self.proj(pooled))  # [B, D]
        z = self.drop(emb)
        return EncoderOutput(emb, {name: head(z) for name, head in self.heads.items()})


def save_encoder(model: AudioEncoder, path: str | Path) -> None:
    """Write weights as safetensors (config in its metadata) plus ``<stem>.json`` with the config."""
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    cfg_json = json.dumps(model.cfg.to_dict())
    save_file(state, str(path), metadata={"encoder_config": cfg_json})
    path.chmod(0o644)  # safetensors writes 0600; bundle files are meant to be shared
    path.with_suffix(".json").write_text(cfg_json + "\n")


def load_encoder(path: str | Path, cfg: EncoderConfig | dict | None = None) -> AudioEncoder:
    """Load an encoder saved by :func:`save_encoder`, in eval mode.

    ``cfg`` overrides the config stored in the file's metadata (bundle.json's copy, say).
    Raises ``ValueError`` naming the file when the weights do not fit the config.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if cfg is None:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "encoder_config" not in meta:
            raise ValueError(f"{path.name}: no encoder config stored; pass the bundle's 'encoder' settings")
        cfg = json.loads(meta["encoder_config"])
    if isinstance(cfg, dict):
        cfg = EncoderConfig.from_dict(cfg)
    model = AudioEncoder(cfg)
    try:
        model.load_state_dict(load_file(str(path)))
    except RuntimeError as exc:
        raise ValueError(f"{path.name}: weights do not match the encoder settings: {exc}") from None
    return model.eval()
