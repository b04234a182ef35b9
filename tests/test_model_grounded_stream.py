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
    text, g = _run(["Abnormal. ", "A systolic ", "murmur is heard. ", "Consistent with aortic ", "stenosis.", ""])
    assert g.source == "model" and "systolic murmur" in text and not g.violations


def _summary():
    from stethodesk.model.grounding import fact_answer

    return fact_answer("What did you find?", FACTS, "heart", 72.0, "good", None, FINDINGS)


def _run_task(task, pieces):
    from stethodesk.model.facts import facts_text

    g = Grounding()
    out = list(grounded_pieces(iter(pieces), task=task, facts=FACTS, domain="heart",
                               allowed_text=facts_text(FINDINGS, "heart", site="aortic"),
                               template=lambda: template_answer(task, FACTS, "heart", site="aortic", findings=FINDINGS),
                               summary=_summary, grounding=g, clock=time.perf_counter))
    return "".join(out), g


def test_an_answer_that_leaves_out_a_called_finding_is_completed_from_the_card():
    """Report, reasoning, differential and location answers must state the card's calls (the
    verdict, the murmur and its timing, the leading lesion): agreeing but silent about one reads
    as if the card had not called it. What the model said stays; the card's short statement follows."""
    from stethodesk.model.checker import parse_fact

    cases = {"report": ["Heart sounds at the aortic area. ", "A murmur is heard.\n"],
             "reasoning": ["The recording was taken at the aortic area. ", "A murmur is heard there.\n"],
             "differential": ["Abnormal. A systolic murmur is heard.\n"],
             "location": ["The aortic area is the right second intercostal space. ", "In this recording: a murmur."]}
    for task, pieces in cases.items():
        text, g = _run_task(task, pieces)
        said = "".join(pieces).strip()
        assert g.source == "model+findings" and text.startswith(said), (task, text)
        assert g.violations[0].kind == "incomplete", (task, g.violations)
        assert text.count("From the findings:") == 1, (task, text)
        for name in ("abnormal", "murmur", "murmur_timing", "lesion"):
            assert parse_fact(name, text) is not None and str(parse_fact(name, text)).lower() == str(FACTS[name]).lower(), (task, name, text)
        if task == "location":  # completed by the short statement, not a second block of site knowledge
            assert "intercostal" not in text[len(said):], text


def test_a_complete_report_is_left_alone_and_good_quality_need_not_be_said():
    text, g = _run_task("report", ["Abnormal. A systolic murmur is heard, consistent with aortic stenosis.\n"])
    assert g.source == "model" and not g.violations and "From the findings" not in text


def test_an_empty_model_answer_is_replaced_by_the_template():
    for task in ("report", "reasoning", "differential", "location", "binary", "comparison"):
        text, g = _run_task(task, ["", "  "])
        assert g.source == "template" and text.strip(), (task, text)
        assert g.violations[0].message == "the model gave no answer"


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


def test_the_note_under_an_answer_says_whether_text_was_withheld_or_a_call_added():
    from stethodesk.model.grounded import grounding_note

    _, completed = _run_task("report", ["Heart sounds at the aortic area. ", "A murmur is heard.\n"])
    _, replaced = _run_task("report", ["No murmur is heard. ", "The recording is normal."])
    _, empty = _run_task("report", [""])
    assert "completed" in grounding_note(completed.to_dict()) and "withheld" not in grounding_note(completed.to_dict())
    assert "withheld" in grounding_note(replaced.to_dict())
    assert "did not state" in grounding_note(empty.to_dict())
    assert grounding_note(None) == "" and grounding_note({"source": "model"}) == "Checked against the findings"
