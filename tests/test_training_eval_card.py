"""Answer-vs-card agreement in evaluation (training/eval_card.py), the per-dataset findings and
the test-split fingerprint (training/eval_metrics.py), and their tables in the model card.

No model is run: findings are set by hand (or drawn at random for real test examples) and the
"raw answers" are written here or taken from the instruction generator's chosen and rejected
answers, which contradict the drawn cards most of the time - the grounding must still show only
agreeing text.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from stethodesk.paths import MODELS
from training.data.record import Record, make_labels
from training.eval_card import AGREEMENT_KINDS, card_metrics, card_rows, example_card
from training.eval_metrics import evaluation_fingerprint, findings_by_dataset
from training.export import _metrics_md

HEADS = json.loads((MODELS / "stetholm-270m-laptop" / "bundle.json").read_text())["heads"]


def heart(**over):
    f = {"abnormal": 0.2, "murmur": 0.1, "murmur_timing_systolic": 0.1, "murmur_timing_diastolic": 0.05,
         "lesion_N": 0.9, "lesion_AS": 0.03, "lesion_MR": 0.03, "lesion_MS": 0.02, "lesion_MVP": 0.02,
         "crackle": 0.9, "wheeze": 0.9, "poor_quality": 0.1, "is_lung": 0.05}
    return {**f, **over}


def ex(task, audio=("r/a",), domain="heart", site="mitral", site_b=None, facts=None, instruction="Is it normal?"):
    return {"id": f"x-{task}", "task": task, "dataset": "d", "audio": list(audio), "domain": domain, "site": site,
            "site_b": site_b, "instruction": instruction, "facts": facts or {"abnormal": False}}


def test_card_is_the_apps_card():
    # heart recording: the lung heads (0.9) are not on a heart card, as in the engine
    card = example_card(ex("binary"), {"r/a": heart()}, HEADS)
    assert card.facts == {"abnormal": False, "murmur": "absent", "poor_quality": False}
    assert "crackle" not in card.a.findings and "Murmur: absent, 10%." in card.allowed_text
    # lung recording: the heart's abnormal head (0.95) does not make the lung verdict abnormal
    lung = example_card(ex("binary", domain="lung", site="posterior_left"),
                        {"r/a": {"abnormal": 0.95, "crackle": 0.2, "wheeze": 0.1, "poor_quality": 0.1}}, HEADS)
    assert lung.facts == {"abnormal": False, "crackle": False, "wheeze": False, "poor_quality": False}


def test_raw_disagreement_and_shown_agreement():
    f = {"r/a": heart(abnormal=0.9, murmur=0.85, murmur_timing_systolic=0.9),
         "r/b": heart(abnormal=0.9, murmur=0.85, murmur_timing_systolic=0.3)}  # no timing called
    exs = [ex("binary", facts={"abnormal": True, "murmur": "present"}),
           ex("binary", facts={"abnormal": True, "murmur": "present"}),
           ex("detection", audio=("r/b",), facts={"murmur": "present"})]
    raw = ["Verdict: normal. No murmur is heard.",  # contradicts the card
           "Verdict: abnormal. A systolic murmur is heard.",  # agrees
           "Present: a diastolic murmur. Crackles are heard."]  # uncalled timing, lung word
    rows = card_rows(exs, raw, f, HEADS)
    assert [r["raw_agrees"] for r in rows] == [False, True, False]
    assert "contradiction" in rows[0]["raw_kinds"]
    assert {"event_not_on_card", "wrong_domain"} <= set(rows[2]["raw_kinds"])
    assert all(r["shown_agrees"] for r in rows)
    assert rows[0]["shown_source"] == "template" and rows[1]["shown_source"] == "model"
    assert not rows[0]["raw_correct"] and rows[0]["shown_correct"]  # the card was right here
    m = card_metrics(rows)
    assert m["card_agreement"]["binary"] == {"rate": 0.5, "n": 2}
    assert m["card_agreement_overall"]["rate"] == pytest.approx(1 / 3)
    assert m["grounded"]["card_agreement_overall"] == {"rate": 1.0, "n": 3}
    assert m["grounded"]["failures"] == []
    assert m["card_violations"]["contradiction"]["answers"] == 1


def test_comparison_is_read_per_recording():
    f = {"r/a": heart(), "r/b": heart(abnormal=0.9, murmur=0.8)}
    e = ex("comparison", audio=("r/a", "r/b"), site="mitral", site_b="aortic",
           facts={"a.abnormal": False, "b.abnormal": True}, instruction="Compare the two recordings.")
    card = example_card(e, f, HEADS)
    assert card.facts["a.abnormal"] is False and card.facts["b.abnormal"] is True
    rows = card_rows([e, e], ["Recording A: normal. Recording B: abnormal. Overall, both are abnormal.",
                              "Recording A: normal. Recording B: abnormal, a murmur. Overall, only B is abnormal."],
                     f, HEADS)
    assert [r["raw_agrees"] for r in rows] == [False, True]
    assert all(r["shown_agrees"] for r in rows) and rows[0]["shown_source"] == "template"


def _random_cards(n_per_dataset: int, seed: int = 0):
    from training.audio_feats import record_index, with_record_keys
    from training.instructions import generate
    from training.splits import load_split, subset

    recs = subset(load_split("test"), {"test": n_per_dataset}, seed)
    exs = with_record_keys(generate(recs, "test", seed), record_index(recs))
    rng = np.random.default_rng(seed)
    keys = [h if len(v["classes"]) == 1 else f"{h}_{c}" for h, v in HEADS.items() for c in v["classes"]]
    keys = list(dict.fromkeys(k for k in keys))
    findings = {}
    for r in recs:
        f = {k: float(rng.beta(0.5, 0.5)) for k in keys}
        f.update({f"lesion_{c}": float(p) for c, p in zip(HEADS["lesion"]["classes"], rng.dirichlet([0.5] * 5))})
        findings[r.key] = f
    raw = [random.Random(e["id"]).choice([e["answer"], *e.get("rejected", [])]) for e in exs]
    return exs, raw, findings


def test_shown_answers_agree_with_random_cards_on_real_examples():
    """Real test examples, random calibrated findings, answers that mostly contradict them."""
    exs, raw, findings = _random_cards(6)
    rows = [r for r in card_rows(exs, raw, findings, HEADS) if r["task"] != "location"]
    assert len(rows) > 80 and sum(not r["raw_agrees"] for r in rows) > len(rows) / 2
    bad = [(r["id"], r["shown"], r["shown_violations"]) for r in rows if not r["shown_agrees"]]
    assert not bad, bad[:3]


def test_location_fallback_after_shown_findings_agrees():
    """A location answer is checked whole (its site knowledge precedes its findings): a model
    answer that calls wheezes the card does not call is replaced whole by the card's wording,
    never spliced after its own findings sentence (where the template's knowledge would read as
    findings)."""
    f = {"r/a": {"crackle": 0.57, "wheeze": 0.1, "poor_quality": 0.1, "is_lung": 0.9}}
    e = ex("location", domain="lung", site="anterior_upper_left", facts={"crackle": True},
           instruction="What does this site tell?")
    raw = ("The left upper anterior chest listens to the left upper lobe. In this recording, crackles are heard. "
           "Wheezes are heard.")
    row = card_rows([e], [raw], f, HEADS)[0]
    assert row["shown_source"] == "template"
    assert row["shown_agrees"], row["shown_violations"]


def _rec(ds, rid, **labels):
    return Record(ds, rid, f"/x/{rid}.flac", rid, "heart", None, 4000, 10.0, make_labels(**labels), split="test")


def test_findings_by_dataset_and_fingerprint():
    recs = [_rec("a", f"a{i}", abnormal=bool(i % 2)) for i in range(4)] + \
           [_rec("b", f"b{i}", abnormal=bool(i % 2)) for i in range(4)]
    f = {r.key: {"abnormal": 0.9 if r.labels["abnormal"] else 0.1} for r in recs}
    f[recs[4].key] = {"abnormal": 0.95}  # b0 (normal) scored highest: b's AUROC drops
    bd = findings_by_dataset(recs, f)
    assert bd["a"]["abnormal"]["auroc"] == 1.0 and bd["b"]["abnormal"]["auroc"] == 0.5
    s = {"n_per_task": 30, "seed": 0}
    fp = evaluation_fingerprint(recs, s, [{"id": "x", "instruction": "q", "facts": {}}])
    assert fp == evaluation_fingerprint(recs[::-1], dict(reversed(s.items())), [{"id": "x", "instruction": "q",
                                                                                 "facts": {}}])
    assert fp["sha256"] != evaluation_fingerprint(recs[:-1], s)["sha256"]
    assert fp["sha256"] != evaluation_fingerprint(recs, {**s, "seed": 1})["sha256"]
    assert fp["sha256"] != evaluation_fingerprint(recs, s, [{"id": "x", "instruction": "other", "facts": {}}])["sha256"]
    assert fp["records"] == 8 and fp["settings"] == {"n_per_task": 30, "seed": 0}


def test_model_card_tables():
    rows = card_rows([ex("binary", facts={"abnormal": False})], ["Verdict: abnormal."], {"r/a": heart()}, HEADS)
    m = {"clinical_accuracy": {"binary": {"acc": 0.0, "n": 1}}, "clinical_accuracy_overall": {"acc": 0.0, "n": 1},
         **card_metrics(rows),
         "findings_by_dataset": {"circor2022": {"murmur": {"n": 130, "positives": 40, "auroc": 0.91}}},
         "lodo": {"minutes_per_fold": 10, "heads": ["murmur"],
                  "folds": {"circor2022": {"test_records": 130, "held_out": {"murmur": {"auroc": 0.71}},
                                           "in_domain": {"murmur": {"auroc": 0.91}}}},
                  "summary": {"murmur": {"held_out": 0.71, "in_domain": 0.91}}}}
    text = "\n".join(_metrics_md(m))
    assert "| binary | 1 | 0.000 | 1.000 | 0.000 | 1.000 |" in text
    assert "| circor2022 | 130 | 0.710 / 0.910 |" in text and "0.910 (N 130)" in text
    assert set(AGREEMENT_KINDS) == {"contradiction", "wrong_domain", "event_not_on_card"}


def test_accuracy_on_stated_facts_leaves_out_what_no_head_gives():
    """A reference fact the card cannot state (rhonchi: no head) is left out of the stated
    accuracy; one the card states is kept whichever way the card calls it."""
    from training.eval_card import stated_facts

    f = {"r/a": {"crackle": 0.8, "wheeze": 0.1, "poor_quality": 0.1, "is_lung": 0.9}}
    e = ex("detection", domain="lung", site=None, facts={"crackle": True, "wheeze": True, "rhonchi": True},
           instruction="What events are there?")
    card = example_card(e, f, HEADS)
    assert stated_facts(e["facts"], card.facts) == {"crackle": True, "wheeze": True}
    row = card_rows([e], ["Crackles are heard. No wheezes."], f, HEADS)[0]
    assert row["raw_correct"] is False and row["raw_stated_correct"] is False  # the wheeze is missed
    row = card_rows([e], ["Crackles and wheezes are heard."], f, HEADS)[0]
    assert row["raw_correct"] is False and row["raw_stated_correct"] is True  # only the rhonchi missing
    m = card_metrics([row])
    assert m["stated"]["clinical_accuracy_overall"] == {"acc": 1.0, "n": 1}
    none = dict(e, facts={"rhonchi": True})
    assert card_rows([none], ["Rhonchi."], f, HEADS)[0]["raw_stated_correct"] is None
