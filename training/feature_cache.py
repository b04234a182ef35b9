"""The encoder's feature cache: log-mel windows computed once per recording and kept on disk.

Windows come from the app's own frontend (``stethodesk.model.features.recording_features``), so the
cache holds exactly what the app would feed the encoder. They live under
``runs/features/<frontend hash>/<dataset>/``, one ``.npy`` per record, named by the file, its
segment and its mtime, so a changed file or frontend is recomputed, never read stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from stethodesk.audio.fileio import AudioFileError, read_audio
from stethodesk.model.features import FrontendConfig, recording_features
from stethodesk.paths import REPO_ROOT

FEATURE_VERSION = 1  # bump when recording_features changes in a way its config does not show
DEFAULT_FEATURE_DIR = REPO_ROOT / "runs" / "features"


def stable_hash(obj) -> str:
    """First 16 hex digits of the sha256 of ``obj`` as sorted JSON (a cache or config key)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def frontend_hash(frontend: FrontendConfig) -> str:
    return stable_hash({"frontend": frontend.to_dict(), "version": FEATURE_VERSION})


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
    key = stable_hash([str(r.path), r.start_s, r.end_s, st.st_size, st.st_mtime_ns])
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
