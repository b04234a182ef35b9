"""Per-finding operating points (issue 9): chosen on validation, carried by every analysis, obeyed
by the card, the prompt's findings text and the answer the app shows.

The engine tests use the installed default bundle (else the random dev bundle), a real CirCor
recording and real llama.cpp; the point is set on the loaded manifest, so the rule itself is what
is checked, on either side of the recording's own calibrated probability.
"""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from stethodesk.audio.fileio import read_audio
from stethodesk.model.analysis import operating_points
from stethodesk.model.facts import card_facts, facts_text
from stethodesk.model.grounding import verify
from stethodesk.paths import shared_data_dir
from test_engine_fixture import runtime_engine
from training.build_markers import forget
from training.instructions.card import POINT_RANGE, draw_card
from training.operating_points import MIN_EACH, choose_point, head_points

HEART = "circor2022/training_data/13918_MV.flac"  # CirCor: murmur present, 4 kHz


# ----------------------------------------------------------------------------- the rule


def test_operating_points_read_the_heads_and_reject_nonsense():
    heads = {"crackle": {"call_at": {"crackle": 0.22}},
             "murmur_timing": {"call_at": {"murmur_timing_systolic": 0.4}}, "murmur": {}}
    assert operating_points(heads) == {"crackle": 0.22, "murmur_timing_systolic": 0.4}
    assert operating_points({}) == {} and operating_points(None) == {}
    for bad in (0.0, 1.0, -0.2, 1.3):
        with pytest.raises(ValueError, match="call_at"):
            operating_points({"crackle": {"call_at": {"crackle": bad}}})
    with pytest.raises(ValueError, match="not a finding of that head"):
        operating_points({"crackle": {"call_at": {"wheeze": 0.3}}})


def test_a_finding_between_its_point_and_one_half_is_called_only_with_the_point():
    fi = {"crackle": 0.31, "wheeze": 0.12, "poor_quality": 0.05}
    assert card_facts(fi, "lung")["crackle"] is False and card_facts(fi, "lung")["abnormal"] is False
    at = card_facts(fi, "lung", points={"crackle": 0.22, "wheeze": 0.3})
    assert at["crackle"] is True and at["wheeze"] is False and at["abnormal"] is True
    # a point above the probability takes the call away again
    assert card_facts({"crackle": 0.6}, "lung", points={"crackle": 0.7})["crackle"] is False
    text = facts_text(fi, "lung", points={"crackle": 0.22, "wheeze": 0.3})
    assert "Crackles: present, 31% (called from 22%)." in text and "Verdict: abnormal (crackles 31%)." in text
    assert "Wheezes: absent, 12% (called from 30%)." in text
    # without points (or all at 0.5) the text is the one bundles trained before points read
    assert facts_text(fi, "lung") == facts_text(fi, "lung", points={"crackle": 0.5})
    assert "called at 50% or more" in facts_text(fi, "lung")


# ----------------------------------------------------------------------------- choosing on validation


def test_the_chosen_point_separates_validation_recordings_better_than_one_half():
    rng = np.random.default_rng(3)
    y = rng.random(500) < 0.2
    p = np.clip(0.12 + 0.22 * y + rng.normal(0, 0.07, 500), 0.001, 0.999)  # positives mostly below 0.5
    point, info = choose_point(p, y)
    assert POINT_RANGE[0] <= point <= POINT_RANGE[1] and point < 0.5
    assert info["sens"] + info["spec"] > info["sens_at_0.5"] + info["spec_at_0.5"] + 0.3
    assert info["sens_at_0.5"] < 0.2 < 0.7 < info["sens"]


def test_too_few_recordings_of_a_class_keep_one_half_and_say_why():
    y = np.array([True] * (MIN_EACH - 1) + [False] * 200)
    point, info = choose_point(np.where(y, 0.3, 0.1), y)
    assert point is None and "fewer than" in info["kept_0.5"]
    # per class of a multilabel head; unknown targets (NaN) are left out; is_lung and poor_quality keep 0.5
    z = np.zeros((300, 2))
    yy = np.full((300, 2), np.nan)
    yy[:, 0] = np.r_[np.ones(60), np.zeros(240)]
    z[:, 0] = np.where(yy[:, 0] > 0.5, -0.3, -2.0)
    points, figures = head_points("murmur_timing", z, yy, {"method": "temperature", "T": 1.0})
    assert set(points) == {"murmur_timing_systolic"} and "kept_0.5" in figures["murmur_timing_diastolic"]
    assert head_points("is_lung", z[:, :1], yy[:, :1], None) == ({}, {})
    assert head_points("poor_quality", z[:, :1], yy[:, :1], None) == ({}, {})


def test_training_cards_state_the_labels_at_drawn_points_and_half_carry_points():
    rng = random.Random(7)
    with_points = 0
    for i in range(200):
        f = {"crackle": bool(i % 2), "wheeze": bool(i % 3 == 0)}
        text, card = draw_card(f, {"domain": "lung", "site_title": "left base"}, rng)
        assert card["crackle"] == f["crackle"] and card["wheeze"] == f["wheeze"]
        assert ("Crackles: present" in text) == f["crackle"]
        with_points += "called from" in text
    assert 70 < with_points < 130


def test_redo_forgets_the_stage_marker_and_its_checkpoints(tmp_path):
    for name in ("sft.done.json", "sft_ckpt.pt", "dpo_ckpt.pt", "encoder.done.json"):
        (tmp_path / name).write_text("x")
    (tmp_path / "encoder").mkdir()
    for name in ("encoder_result.json", "encoder_ckpt.pt", "encoder.safetensors"):
        (tmp_path / "encoder" / name).write_text("x")
    forget(tmp_path, ["sft", "encoder"])
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["dpo_ckpt.pt", "encoder/encoder.safetensors"]


# ----------------------------------------------------------------------------- the engine


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    yield from runtime_engine(tmp_path_factory)


@pytest.mark.llm
def test_the_engine_carries_the_points_and_the_shown_answer_obeys_them(engine):
    x, sr = read_audio(shared_data_dir() / HEART)
    x = x[: 10 * sr]
    old = copy.deepcopy(engine.bundle.manifest["heads"])
    try:
        engine.bundle.manifest["heads"]["murmur"].pop("call_at", None)
        p = engine.analyze_audio(x, sr, domain="heart", site="MV").findings["murmur"]
        assert 0.0 < p < 1.0
        for point, present in ((max(0.01, p - 0.005), True), (min(0.99, p + 0.005), False)):
            engine.bundle.manifest["heads"]["murmur"]["call_at"] = {"murmur": point}
            a = engine.analyze_audio(x, sr, domain="heart", site="MV")
            assert a.points["murmur"] == point
            assert a.to_dict()["operating_points"]["murmur"] == pytest.approx(point, abs=1e-4)
            facts = engine.card_facts(a)
            assert facts["murmur"] == ("present" if present else "absent")
            if point != 0.5:
                assert "(called from" in engine.findings_text(a)
            ans = engine.ask(a, "binary", max_tokens=96)
            answer = ans.read()
            allowed = engine.findings_text(a) + ans.instruction
            contradictions = [v for v in verify(answer, facts, "heart", allowed)
                              if v.kind in ("contradiction", "wrong_domain", "event_not_on_card")]
            assert not contradictions, (point, answer, contradictions)
    finally:
        engine.bundle.manifest["heads"] = old
