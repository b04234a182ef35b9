"""The one content rule that refuses what is not a heart or lung sound (issue 9 item 8).

A recording is refused when the calibrated poor-quality finding is at or above the bundle's
``heads.poor_quality.refuse_at`` (``stethodesk.model.analysis.refuse_at``); refused means no
findings, no heart rate, no audio prefix and no answer. Uses the installed default bundle (else
the random dev bundle), real recordings and real llama.cpp; the operating point is set on a
copy of the loaded manifest so the rule itself is what is checked.
"""

from __future__ import annotations

import copy

import pytest

from stethodesk.audio.fileio import read_audio
from stethodesk.model.analysis import NOT_A_BODY_SOUND, refuse_at
from stethodesk.model.analysis import UnusableRecording
from stethodesk.paths import shared_data_dir
from test_engine_fixture import runtime_engine

pytestmark = pytest.mark.llm

HEART = "circor2022/training_data/13918_MV.flac"  # CirCor: murmur present, 4 kHz


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    yield from runtime_engine(tmp_path_factory)


def _with_point(engine, value):
    """Set (or with None remove) the operating point on the loaded manifest; returns the old heads."""
    old = copy.deepcopy(engine.bundle.manifest["heads"])
    pq = engine.bundle.manifest["heads"]["poor_quality"]
    pq.pop("refuse_at", None)
    if value is not None:
        pq["refuse_at"] = value
    return old


def test_refuse_at_reads_the_bundle_and_rejects_nonsense():
    assert refuse_at({"poor_quality": {"refuse_at": 0.7}}) == 0.7
    assert refuse_at({"poor_quality": {}}) is None and refuse_at({}) is None
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="refuse_at"):
            refuse_at({"poor_quality": {"refuse_at": bad}})


def test_at_or_above_the_operating_point_the_recording_is_refused_and_never_analysed(engine):
    x, sr = read_audio(shared_data_dir() / HEART)
    x = x[: 10 * sr]
    old = _with_point(engine, None)
    try:
        free = engine.analyze_audio(x, sr, domain="heart", site="MV")
        p = free.poor_quality
        assert free.usable and p is not None and 0.0 < p < 1.0
        assert free.findings["poor_quality"] == pytest.approx(p)  # the same calibrated finding

        _with_point(engine, p)  # exactly at the point: refused
        at = engine.analyze_audio(x, sr, domain="heart", site="MV")
        assert not at.usable and at.unusable_reason == NOT_A_BODY_SOUND
        assert at.findings == {} and at.heart_rate_bpm is None and at.prefix is None
        assert at.poor_quality == pytest.approx(p)  # kept for the record and the benchmark
        assert at.to_dict()["poor_quality"] == round(p, 4) and not at.to_dict()["usable"]
        with pytest.raises(UnusableRecording, match="does not sound like a heart or lung recording"):
            engine.ask(at, "report")
        with pytest.raises(UnusableRecording, match="second recording"):
            engine.ask(free, "comparison", other=at)

        _with_point(engine, min(1.0, p + 1e-6))  # just above: analysed as before
        above = engine.analyze_audio(x, sr, domain="heart", site="MV")
        assert above.usable and above.findings == free.findings
    finally:
        engine.bundle.manifest["heads"] = old


def test_signal_refusals_keep_their_own_reasons(engine):
    """A flat input says so, whatever the operating point (the signal checks come first)."""
    import numpy as np

    old = _with_point(engine, 1e-6)
    try:
        flat = engine.analyze_audio(np.zeros(5 * 4000, np.float32), 4000, domain="heart")
        assert not flat.usable and "flat" in flat.unusable_reason.lower()
    finally:
        engine.bundle.manifest["heads"] = old
