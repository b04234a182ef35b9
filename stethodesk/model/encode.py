"""Encode a whole recording: frontend windows -> encoder -> mean over windows. No Qt here.

The app (``Engine.analyze_audio``) and the training evaluation both go through
:func:`encode_features`, so a recording is aggregated the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from stethodesk.model.encoder import AudioEncoder
from stethodesk.model.features import FrontendConfig, recording_features

BATCH_WINDOWS = 8  # windows per encoder call: bounds memory on a 30-min file (~500 windows)


@dataclass
class EncodedAudio:
    """One recording's encoder output, averaged over its windows.

    ``embedding`` [D] float32; ``logits`` head -> [C] float32 (mean of window logits);
    ``n_windows`` how many 7 s windows were encoded.
    """

    embedding: np.ndarray
    logits: dict[str, np.ndarray]
    n_windows: int


def encode_features(encoder: AudioEncoder, mel: np.ndarray) -> EncodedAudio:
    """Run ``encoder`` (eval mode, no grad) on ``mel`` [W, n_mels, T] and average over windows."""
    mel = np.asarray(mel, dtype=np.float32)
    if mel.ndim != 3 or mel.shape[0] == 0:
        raise ValueError(f"expected log-mel windows [W, n_mels, T], got {mel.shape}")
    was_training = encoder.training
    encoder.eval()
    embs, logits = [], {}
    try:
        with torch.no_grad():
            for i in range(0, mel.shape[0], BATCH_WINDOWS):
                out = encoder(torch.from_numpy(mel[i : i + BATCH_WINDOWS]))
                embs.append(out.embedding.float())
                for k, v in out.logits.items():
                    logits.setdefault(k, []).append(v.float())
    finally:
        encoder.train(was_training)
    emb = torch.cat(embs).mean(0).numpy().astype(np.float32)
    agg = {k: torch.cat(v).mean(0).numpy().astype(np.float32) for k, v in logits.items()}
    return EncodedAudio(emb, agg, int(mel.shape[0]))


def encode_recording(
    encoder: AudioEncoder, samples: np.ndarray, sr: int, frontend: FrontendConfig = FrontendConfig()
) -> EncodedAudio:
    """Encode mono ``samples`` (n,) at ``sr`` Hz: every window of the recording, then the mean.

    Long recordings are windowed with overlap (never truncated); short ones are padded by
    repetition (see :func:`stethodesk.model.features.windows`).
    """
    if isinstance(frontend, dict):
        frontend = FrontendConfig.from_dict(frontend)
    return encode_features(encoder, recording_features(samples, sr, frontend))
