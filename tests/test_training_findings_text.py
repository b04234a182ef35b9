"""The prompt carries the card's findings as text, and training answers agree with it (issue 9, item 1).

Training prompts get a findings text written by the app's own ``facts_text`` from label-consistent
calibrated-looking probabilities (``training.instructions.card``); an example whose answer no
such card agrees with (by the app's run-time check) is marked and left out of SFT and DPO. The
engine puts the card's findings text after each recording's audio only for bundles trained that
way (template key ``"facts"``), so an older bundle's prompts do not change. Real records of every
dataset in ../shared/data.
"""

from __future__ import annotations

import json
import random

import pytest

from stethodesk.model.facts import card_facts
from stethodesk.model.grounding import verify
from stethodesk.model.prompts import DEFAULT_TEMPLATE, AudioSlot, UserText, build_prompt, uses_facts
from training.instructions import generate
from training.instructions.card import CARD_KEYS, disagreement, draw_card, findings_texts_for, label_findings
from training.instructions.facts import record_facts
from training.splits import load_split

DISAGREE = ("contradiction", "wrong_domain", "event_not_on_card")


@pytest.fixture(scope="module")
def records():
    recs = [r for r in load_split(None) if r.split == "train"]
    rng = random.Random(0)
    by: dict = {}
    for r in recs:
        by.setdefault(r.dataset, []).append(r)
    return [r for rs in by.values() for r in rng.sample(rs, min(60, len(rs)))]


def test_label_findings_call_every_label_fact(records):
    """The drawn findings' card states each card-visible label fact as the labels do."""
    n_checked = 0
    for i, r in enumerate(records):
        f, ctx = record_facts(r)
        got = draw_card(f, ctx, random.Random(i))
        if got is None:
            continue
        text, card = got
        for k in CARD_KEYS:
            if k in f and k in card:
                assert card[k] == f[k], (r.key, k, f, card, text)
                n_checked += 1
        assert text.startswith(f"Findings of this {r.domain} recording"), text
        assert ("Verdict: abnormal" in text) == card["abnormal"], text
    assert n_checked > 300


def test_draws_cover_both_sides_of_the_operating_point(records):
    """Borderline and extreme probabilities both occur, so the model reads the calls, not the size."""
    ps = []
    for i, r in enumerate(records[:200]):
        f, _ = record_facts(r)
        ps += list(label_findings(f, r.domain, random.Random(i)).values())
    assert any(0.5 <= p < 0.6 for p in ps) and any(0.4 < p < 0.5 for p in ps)
    assert any(p > 0.9 for p in ps) and any(p < 0.1 for p in ps)
    assert all(0.0 < p < 1.0 for p in ps)


def test_generated_examples_agree_with_their_findings_text(records):
    """Nearly every example carries a findings text; its answer passes the app's check against it."""
    exs = generate(records, "train", 0)
    agree = [e for e in exs if e["card_agrees"]]
    assert len(agree) >= 0.85 * len(exs), (len(agree), len(exs))
    for e in exs:
        n_audio = len(e["audio"])
        if e["card_agrees"]:
            assert len(e["findings_texts"]) == n_audio and all(t.strip() for t in e["findings_texts"])
        else:
            assert e["findings_texts"] is None
    json.dumps(exs)  # instructions.json must hold them


def test_an_answer_that_contradicts_every_card_gets_no_text(records):
    """A hedge where every card shows a verdict, and a murmur where the labels say none, are refused."""
    r = next(r for r in records if r.domain == "heart" and record_facts(r)[0].get("murmur") == "absent"
             and record_facts(r)[0].get("abnormal") is False)
    f, ctx = record_facts(r)
    rng = random.Random(1)
    assert findings_texts_for("A loud systolic murmur is heard. Abnormal.", "Is it normal?", [(f, ctx)], rng) is None
    ok = findings_texts_for("No murmur is heard. The recording is normal.", "Is it normal?", [(f, ctx)], rng)
    assert ok is not None and "Murmur: absent" in ok[0]


def test_findings_text_follows_each_audio_slot_as_user_text():
    facts = ["Findings of this heart recording: A.", "Findings of this heart recording: B."]
    segs = build_prompt("Compare them.", domain="heart", site="mitral area", site_b="aortic area", n_audio=2,
                        facts=facts)
    slots = [i for i, s in enumerate(segs) if isinstance(s, AudioSlot)]
    assert len(slots) == 2
    for slot, text in zip(slots, facts):
        assert segs[slot + 1] == DEFAULT_TEMPLATE["facts"]
        assert isinstance(segs[slot + 2], UserText) and segs[slot + 2] == text


def test_a_bundle_trained_without_findings_text_keeps_its_prompts():
    """The shipped bundle's stored template has no "facts" key: its prompts are unchanged."""
    from stethodesk.model.bundle import default_bundle_dir, load_bundle

    stored = load_bundle(default_bundle_dir()).prompt_template
    assert stored is not None
    facts = ["Findings of this heart recording: murmur present."]
    with_facts = build_prompt("Is it normal?", domain="heart", site=None, template=stored, facts=facts)
    without = build_prompt("Is it normal?", domain="heart", site=None, template=stored)
    assert (with_facts == without) == (not uses_facts(stored))
    assert uses_facts(None) and uses_facts(dict(DEFAULT_TEMPLATE))
    assert not uses_facts({k: v for k, v in DEFAULT_TEMPLATE.items() if k != "facts"})


def test_the_check_agrees_with_the_rule_it_trains(records):
    """For a drawn card, an answer stating the opposite verdict is a disagreement the app's check finds."""
    for i, r in enumerate(records):
        f, ctx = record_facts(r)
        findings = label_findings(f, r.domain, random.Random(i))
        if disagreement(f, findings, r.domain, "good") or "abnormal" not in f:
            continue
        card = card_facts(findings, r.domain, quality_level="good")
        wrong = "The recording is normal." if card["abnormal"] else "The recording is abnormal."
        assert any(v.kind in DISAGREE for v in verify(wrong, card, r.domain, "")), (r.key, card)
        return
    pytest.fail("no record with a verdict label")
