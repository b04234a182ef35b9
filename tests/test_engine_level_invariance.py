"""Level does not change the call (issue 9 item 4): the same held-out recordings 40 dB quieter or
6 dB louder (clipped at full scale, as a file would be) keep their calibrated findings, and the
quiet copies are analysed, not refused. Real recordings, the real encoder.

Band limit, noise and device response are measured by benchmarks/invariance.py (the shipped bundle
does not meet the 0.10 aim there yet: see the model card)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from stethodesk.audio.fileio import read_audio
from test_engine_fixture import runtime_engine

pytestmark = pytest.mark.llm
AIM = 0.10  # mean |change| of a calibrated probability over the slice


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    yield from runtime_engine(tmp_path_factory)


def _slice(per_dataset: int = 2):
    from training.splits import load_split

    by = {}
    for r in sorted(load_split("test"), key=lambda r: r.record_id):
        if r.start_s is None:
            by.setdefault(r.dataset, []).append(r)
    rng = random.Random(4)
    return [r for ds in sorted(by) for r in rng.sample(by[ds], min(per_dataset, len(by[ds])))]


@pytest.mark.parametrize("db", [-40.0, 6.0])
def test_level_changes_move_no_finding(engine, db):
    changes, refused = [], []
    for r in _slice():
        x, sr = read_audio(r.path)
        x = x[: 12 * sr]
        base = engine.analyze_audio(x, sr, domain=r.domain, site=r.site)
        if not base.usable:
            continue
        y = np.clip(x * 10 ** (db / 20), -1.0, 1.0).astype(np.float32)
        got = engine.analyze_audio(y, sr, domain=r.domain, site=r.site)
        if not got.usable and db < 0:
            refused.append((r.record_id, got.unusable_reason))
            continue
        changes += [abs(got.findings[k] - v) for k, v in base.findings.items() if k in got.findings]
    assert not refused, refused
    assert changes and float(np.mean(changes)) <= AIM, float(np.mean(changes))


def test_float_file_above_full_scale_with_dc_offset_keeps_its_findings(engine, tmp_path):
    """A float WAV peaking at 1.6 with a 0.3 DC offset (nothing clipped, issue 11 item 3) is read
    at its own level, analysed as usable (not refused as clipped) and keeps its findings."""
    import soundfile as sf

    changes, refused, clipped = [], [], []
    for i, r in enumerate(_slice()):
        x, sr = read_audio(r.path)
        x = x[: 12 * sr]
        base = engine.analyze_audio(x, sr, domain=r.domain, site=r.site)
        if not base.usable:
            continue
        path = tmp_path / f"hot{i}.wav"
        sf.write(path, x * (1.6 / np.max(np.abs(x))) + 0.3, sr, subtype="FLOAT")
        y, _ = read_audio(path)
        got = engine.analyze_audio(y, sr, domain=r.domain, site=r.site)
        if "clipping" in got.quality.issues:
            clipped.append(r.record_id)
        if not got.usable:
            refused.append((r.record_id, got.unusable_reason))
            continue
        changes += [abs(got.findings[k] - v) for k, v in base.findings.items() if k in got.findings]
    assert not refused and not clipped, (refused, clipped)
    print(f"mean |change| {np.mean(changes):.3f}, max {np.max(changes):.3f} over {len(changes)} findings")
    assert changes and float(np.mean(changes)) <= AIM, float(np.mean(changes))
