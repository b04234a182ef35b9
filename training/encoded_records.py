"""Encoded recordings for the stages after the encoder (SFT, evaluation, operating points).

:func:`encode_records` runs a trained encoder over records through the feature cache
(``training/feature_cache.py``); :func:`projector_features` turns one result into the projector's
input, as the app does.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from stethodesk.audio.fileio import AudioFileError
from stethodesk.model.encode import EncodedAudio, encode_features
from stethodesk.model.encoder import AudioEncoder
from stethodesk.model.features import FrontendConfig
from stethodesk.model.projector import head_probabilities, projector_input
from training.feature_cache import DEFAULT_FEATURE_DIR, cached_features, one_thread

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
