"""Frozen-encoder outputs per recording, computed once for SFT / DPO / evaluation.

For every record: the pooled embedding ``[D]`` and the window-averaged head logits, exactly as the
app computes them (:func:`stethodesk.model.encode.encode_recording`), and from those the projector
input ``[d_in] = [D + P]`` (embedding + uncalibrated head probabilities, the values the projector
is trained on; see ``stethodesk.model.projector.head_probabilities``).

Keys: ``record.key`` (``dataset/record_id``) always, and ``record.path`` as well when only one
record uses that file (cycle-cut sets share files), so instruction examples may name either.
Corrupted audio (for DPO) uses keys ``"noise:<i>"``.
"""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import torch

NOISE_SECONDS = 8.0  # length of the synthetic corrupted recordings


def record_audio(r) -> tuple[np.ndarray, int]:
    """Mono float32 samples of a record (its ``start_s``..``end_s`` segment when set) and sr."""
    from stethodesk.audio.fileio import read_audio

    x, sr = read_audio(r.path)
    if getattr(r, "start_s", None) is not None or getattr(r, "end_s", None) is not None:
        a = int(round((r.start_s or 0.0) * sr))
        b = int(round(r.end_s * sr)) if r.end_s is not None else len(x)
        x = x[a:b]
    return np.asarray(x, dtype=np.float32), int(sr)


def encode_records(encoder, records, frontend, log=print, every: int = 200) -> dict[str, dict]:
    """``{record.key: {"embedding": [D], "logits": {head: [C]}}}`` for every record."""
    from stethodesk.model.encode import encode_recording

    out: dict[str, dict] = {}
    t0 = time.time()
    encoder.eval()
    for i, r in enumerate(records):
        if r.key in out:
            continue
        x, sr = record_audio(r)
        enc = encode_recording(encoder, x, sr, frontend)
        out[r.key] = {"embedding": enc.embedding, "logits": enc.logits}
        if log and (i + 1) % every == 0:
            log(f"features: {i + 1}/{len(records)} recordings encoded ({time.time() - t0:.0f} s)")
    return out


def encode_noise(encoder, frontend, n: int, seed: int = 0) -> dict[str, dict]:
    """Corrupted 'recordings': white / brown noise at the frontend rate (keys ``noise:<i>``)."""
    from stethodesk.model.encode import encode_recording

    sr = int(getattr(frontend, "sample_rate", 4000))
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        x = rng.standard_normal(int(NOISE_SECONDS * sr)).astype(np.float32)
        if i % 2:  # brown noise: rumble like handling / contact noise
            x = np.cumsum(x)
            x -= np.convolve(x, np.ones(201) / 201, mode="same")
        x = (0.1 * x / (np.abs(x).max() + 1e-9)).astype(np.float32)
        enc = encode_recording(encoder, x, sr, frontend)
        out[f"noise:{i}"] = {"embedding": enc.embedding, "logits": enc.logits}
    return out


def projector_inputs(encoded: dict[str, dict], heads) -> dict[str, np.ndarray]:
    """``{key: projector input [d_in]}`` from :func:`encode_records` output."""
    from stethodesk.model.projector import head_probabilities, projector_input

    out = {}
    for key, e in encoded.items():
        logits = {h: torch.as_tensor(np.asarray(e["logits"][h], dtype=np.float32)).reshape(1, -1) for h in heads}
        probs = head_probabilities(logits, heads)
        out[key] = projector_input(torch.as_tensor(e["embedding"]).reshape(1, -1), probs)[0].numpy()
    return out


def add_path_aliases(feats: dict[str, np.ndarray], records) -> None:
    """Also key features by file path where a single record uses the file."""
    uses = Counter(r.path for r in records)
    for r in records:
        if uses[r.path] == 1 and r.key in feats:
            feats[str(r.path)] = feats[r.key]


def record_index(records) -> dict:
    """(path, start_s, end_s) -> record key, to resolve instruction examples' audio."""
    return {(str(r.path), r.start_s, r.end_s): r.key for r in records}


def with_record_keys(examples: list[dict], index: dict) -> list[dict]:
    """Examples whose ``audio`` lists record keys (``dataset/record_id``) instead of file paths.

    ``training.instructions`` names audio by file path plus an optional ``[start_s, end_s]``
    segment (cycle-cut sets share files); the features are keyed by record. Examples whose audio
    cannot be resolved are dropped. The paths stay in ``audio_paths``.
    """
    out = []
    for ex in examples:
        segs = ex.get("segments") or [None] * len(ex["audio"])
        keys = []
        for path, seg in zip(ex["audio"], segs):
            k = index.get((str(path), seg[0], seg[1]) if seg else (str(path), None, None))
            keys.append(k)
        if all(keys):
            out.append({**ex, "audio": keys, "audio_paths": list(ex["audio"])})
    return out
