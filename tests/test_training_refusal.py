"""Held-out artifact sets and the refusal operating point (training/refusal.py), without the engine."""

from __future__ import annotations

import numpy as np
import pytest

from stethodesk.model.analysis import NOT_A_BODY_SOUND
from training import refusal


def test_operating_point_refuses_at_most_the_budget_of_real_recordings():
    real = list(np.linspace(0.01, 0.99, 100))
    at = refusal.choose_operating_point(real, budget=0.03)
    assert sum(p >= at for p in real) == 3  # the three highest, not one more
    assert refusal.choose_operating_point(real, budget=0.0) > max(real)
    ties = [0.2] * 10 + [0.9] * 2  # 2 of 12 tie at the top: a 10 % budget cannot take both
    at = refusal.choose_operating_point(ties, budget=0.10)
    assert sum(p >= at for p in ties) == 0 and 0.9 < at <= 1.0
    assert refusal.choose_operating_point([1.0], 0.0) == 1.0  # never above certainty
    with pytest.raises(ValueError, match="no real recordings"):
        refusal.choose_operating_point([None], 0.03)


def test_would_refuse_moves_only_the_content_rule():
    rows = [{"kind": "real", "artifact": False, "domain": "heart", "refused": True, "poor_quality": 0.1,
             "reason": "The signal is flat: nothing is coming in."},
            {"kind": "noise", "artifact": True, "domain": "heart", "refused": True, "poor_quality": 0.4,
             "reason": NOT_A_BODY_SOUND},
            {"kind": "real", "artifact": False, "domain": "lung", "refused": False, "poor_quality": 0.6, "reason": None}]
    got = refusal.would_refuse(rows, 0.5)
    assert [r["refused"] for r in got] == [True, False, True]
    assert [r["refused"] for r in refusal.would_refuse(rows, None)] == [True, False, False]
    counts = refusal.rates(got)
    assert counts["real"] == {"refused": 2, "n": 2} and counts["artifacts"] == {"refused": 0, "n": 1}
    assert counts["real_lung"] == {"refused": 1, "n": 1} and counts["by_kind"]["noise"]["n"] == 1


def test_artifact_clips_cover_every_kind_seeded_and_apart_per_split():
    val = refusal.artifact_clips("val", 1)
    assert [c.kind for c in val] == list(refusal.KINDS) and all(c.artifact for c in val)
    for c in val:
        assert c.sr in refusal.PHONE_RATES and c.domain in ("heart", "lung")
        assert c.audio.ndim == 1 and c.audio.size >= 5 * c.sr and np.isfinite(c.audio).all()
        assert 0 < np.abs(c.audio).max() <= 1.0
    again = refusal.artifact_clips("val", 1)
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(val, again))  # seeded
    test = refusal.artifact_clips("test", 1)
    assert not any(a.audio.shape == b.audio.shape and np.array_equal(a.audio, b.audio) for a, b in zip(val, test))
    # the buried mixes name the real recording of the same split they hold
    val_keys = {r.key for r in refusal.real_records("val", 1000)}
    assert all(c.name.split(":", 1)[1].split("@")[0] in val_keys for c in val if c.kind.startswith("real+"))


def test_real_records_leave_out_labelled_poor_and_mixes_and_keep_the_split():
    real = refusal.real_records("test", 5)
    poor = refusal.real_records("test", 5, labelled_poor=True)
    assert real and poor and not ({r.key for r in real} & {r.key for r in poor})
    assert all(r.split == "test" and not r.labels.get("poor_quality") and not r.labels.get("mixed") for r in real)
    assert all(r.labels.get("poor_quality") for r in poor)
    assert {r.domain for r in real} == {"heart", "lung"}
    assert not {r.key for r in real} & {r.key for r in refusal.real_records("val", 5)}


class _ScoringEngine:
    """Stands in for the engine (the unit's neighbour): scores a clip by whether it is an artifact."""

    def __init__(self, artifact_p: float, real_p: float):
        self.artifact_p, self.real_p = artifact_p, real_p
        self.kinds = {}

    def analyze_audio(self, x, sr, domain):
        from types import SimpleNamespace

        is_artifact = self.kinds[id(x)]
        return SimpleNamespace(usable=True, unusable_reason=None,
                               poor_quality=self.artifact_p if is_artifact else self.real_p)


def _engine_for(monkeypatch, artifact_p, real_p):
    eng = _ScoringEngine(artifact_p, real_p)
    real_clips, artifact_clips = refusal.real_clips, refusal.artifact_clips

    def tag(fn):
        def wrapped(*a, **k):
            clips = fn(*a, **k)
            eng.kinds.update({id(c.audio): c.artifact for c in clips})
            return clips
        return wrapped

    monkeypatch.setattr(refusal, "real_clips", tag(real_clips))
    monkeypatch.setattr(refusal, "artifact_clips", tag(artifact_clips))
    return eng


def test_a_point_is_used_only_when_it_refuses_most_validation_artifacts(monkeypatch):
    eng = _engine_for(monkeypatch, artifact_p=0.9, real_p=0.1)  # a head that separates them
    at, source = refusal.choose_on_validation(eng, per_dataset=1, per_kind=1, log=lambda *_: None)
    assert at is not None and 0.1 < at <= 0.9 and "not_used" not in source
    assert source["split"] == "val" and source["validation"]["artifacts"]["refused"] == len(refusal.KINDS)
    assert source["validation"]["real"]["refused"] == 0

    eng = _engine_for(monkeypatch, artifact_p=0.2, real_p=0.2)  # one that does not
    at, source = refusal.choose_on_validation(eng, per_dataset=1, per_kind=1, log=lambda *_: None)
    assert at is None and "does not tell them from real recordings" in source["not_used"]
    assert source["candidate"] > 0.2
