"""The preset tasks (resources/prompts/tasks.json) and prompt wording rules shared with training."""

from __future__ import annotations

import string

import pytest

from stethodesk.model.engine import Engine
from stethodesk.model.sites import site_words
from stethodesk.model.tasks import TASKS, load_tasks, task_titles

ALLOWED = {"domain", "site", "site_b"}


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_task_has_a_title_and_well_formed_phrasings():
    spec = load_tasks()["tasks"]
    assert tuple(spec) == TASKS and list(task_titles()) == list(TASKS)
    for name in TASKS:
        t = spec[name]
        assert t["title"].strip() and t["max_tokens"] > 0 and t["n_audio"] == (2 if name == "comparison" else 1)
        assert len(t["instructions"]) >= 3 and len(set(t["instructions"])) == len(t["instructions"])
        for p in t["instructions"]:
            assert _fields(p) <= ALLOWED, (name, p)
        if name != "location":  # usable without a known site
            assert any("{site" not in p for p in t["instructions"]), name


def test_training_phrasings_are_reachable_from_the_app():
    from training.phrasings import QUESTIONS

    spec = load_tasks()["tasks"]
    for name in TASKS:
        missing = [q for q in QUESTIONS[name] if q not in spec[name]["instructions"]]
        assert not missing, (name, missing)


def test_instruction_wording_rules():
    e = Engine.__new__(Engine)  # wording only: no model needed
    e._tasks = load_tasks()
    with_site = e.instruction("report", "heart", "mitral area")
    without = e.instruction("report", "heart", None)
    assert "mitral area" in with_site and "{" not in with_site
    assert "site" not in without and "heart" in without
    cmp_ = e.instruction("comparison", "lung", "left posterior chest", "right posterior chest")
    assert "left posterior chest" in cmp_ and "right posterior chest" in cmp_
    assert "{site_b}" not in e.instruction("comparison", "lung", None, None)
    with pytest.raises(ValueError, match="chest site"):
        e.instruction("location", "heart", None)
    n = len(load_tasks()["tasks"]["detection"]["instructions"])
    lung = {e.instruction("detection", "lung", "trachea", variant=v) for v in range(n)}
    assert not any("extra heart sounds" in q for q in lung)


@pytest.mark.parametrize("given,words", [
    ("MV", "mitral area"), ("apex", "mitral area"), ("aortic", "aortic area"), ("PV", "pulmonic area"),
    ("Pl", "left posterior chest"), ("left posterior", "left posterior chest"),
    ("posterior_left", "left posterior chest"), ("Erb", "Erb's point"), ("trachea", "trachea"),
    ("behind the ear", "behind the ear"), (None, None), ("  ", None),
])
def test_site_words(given, words):
    assert site_words(given) == words
