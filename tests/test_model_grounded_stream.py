"""The grounded stream itself (stethodesk.model.grounded.grounded_pieces) on scripted model pieces:
the pieces iterator stands in for llama.cpp (its neighbour); the checking is real."""

from __future__ import annotations

import time

from stethodesk.model.facts import card_facts
from stethodesk.model.grounded import Grounding, _not_repeated, grounded_pieces, split_sentences
from stethodesk.model.templates import template_answer

FINDINGS = {"abnormal": 0.8, "murmur": 0.9, "murmur_timing_systolic": 0.95, "murmur_timing_diastolic": 0.02,
            "lesion_AS": 0.77, "lesion_MR": 0.1, "lesion_N": 0.05, "poor_quality": 0.1}
FACTS = card_facts(FINDINGS, "heart", 72.0, "good", "aortic")


def _run(pieces, task="report", cancelled=lambda: False):
    g = Grounding()
    out = list(grounded_pieces(iter(pieces), task=task, facts=FACTS, domain="heart", allowed_text="",
                               template=lambda: template_answer(task, FACTS, "heart", site="aortic",
                                                                findings=FINDINGS),
                               grounding=g, clock=time.perf_counter, is_cancelled=cancelled))
    return "".join(out), g


def test_agreeing_sentences_stream_one_by_one():
    text, g = _run(["A systolic ", "murmur is heard. ", "Consistent with aortic ", "stenosis.", ""])
    assert g.source == "model" and "systolic murmur" in text and not g.violations


def test_a_contradicting_first_sentence_is_replaced_by_the_card():
    text, g = _run(["No murmur is heard. ", "The recording is normal."])
    assert g.source == "template" and "No murmur" not in text and g.withheld.startswith("No murmur")
    assert g.violations and g.violations[0].kind == "contradiction"


def test_a_later_contradiction_is_followed_by_the_card_without_repeats():
    text, g = _run(["A systolic murmur is heard.\n", "The lungs have crackles.\n"])
    assert g.source == "model+findings" and "crackles" not in text and "From the findings:" in text
    assert text.count("systolic murmur is heard") <= 1 or "called" in text


def test_a_stopped_answer_gets_nothing_appended():
    text, g = _run(["A systolic murmur is heard. ", "It is loud"], task="binary", cancelled=lambda: True)
    assert "From the findings" not in text and g.withheld == "It is loud"


def test_sentence_splitting_and_repeat_removal():
    done, rest = split_sentences("Rate 72.5 bpm. Murmur: none.\nImpr")
    assert done == ["Rate 72.5 bpm. ", "Murmur: none.", "\n"] and rest == "Impr"
    assert _not_repeated("Site: aortic area.\nHeart rate: 72 bpm.\nMurmur: present.",
                         "Site: aortic area.\n") == "Heart rate: 72 bpm.\nMurmur: present."


B_FACTS = card_facts({"abnormal": 0.1, "murmur": 0.05, "poor_quality": 0.1}, "heart", 70.0, "good", "mitral")


def _compare(pieces):
    from stethodesk.model.facts import comparison_facts

    facts = comparison_facts(FACTS, B_FACTS)
    g = Grounding()
    out = list(grounded_pieces(iter(pieces), task="comparison", facts=facts, domain="heart", allowed_text="",
                               template=lambda: template_answer("comparison", FACTS, "heart", site="aortic",
                                                                other_facts=B_FACTS, site_b="mitral",
                                                                findings=FINDINGS),
                               grounding=g, clock=time.perf_counter))
    return "".join(out), g


def test_a_comparison_summary_without_its_parts_is_still_checked():
    """Seen in a re-test (issue 11): "Both are abnormal. Only A is abnormal." was shown as the
    model's own answer for an abnormal A and a normal B: a summary with no "Recording A/B" parts
    must agree with both recordings like one that follows them."""
    text, g = _compare(["Both are abnormal. ", "Only A is abnormal."])
    assert g.source == "template" and "Both are abnormal" not in text
    assert any(v.kind == "contradiction" for v in g.violations)
    text, g = _compare(["Recording A: abnormal, a systolic murmur. ", "Recording B: normal. ",
                        "Overall, only A is abnormal."])
    assert g.source == "model" and not g.violations


def test_text_that_states_nothing_the_task_needs_is_not_shown():
    """A comparison answer in another script (seen: Thai syllables) states neither verdict: the
    card's answer replaces it whole instead of being appended after it."""
    gibberish = "\u0e1e\u0e27\u0e01\u0e25\u0e39\u0e01\u0e2b\u0e19\u0e31\u0e07\u0e01\u0e32\u0e25"
    text, g = _compare([gibberish])
    assert g.source == "template" and gibberish not in text and g.withheld == gibberish
    assert "Recording A" in text and g.violations[0].kind == "incomplete"
    text, g = _run([gibberish], task="binary")
    assert g.source == "template" and gibberish not in text
