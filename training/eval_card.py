"""Answer-vs-card agreement: does an answer agree with the findings card of its recording(s)?

The calibrated findings are the source of truth (issue 9, item 1). For every evaluated example
this module builds the card the app would show from the same encoder outputs and reads the
answer against it with the app's own checks:

- the card: calibrated findings of the example's recording(s), kept to the heads of the asked
  domain as the engine keeps them, -> :func:`stethodesk.model.facts.card_facts`
  (:func:`~stethodesk.model.facts.comparison_facts` for a comparison);
- **agreement**: :func:`stethodesk.model.grounding.verify` finds no violation of a kind in
  :data:`AGREEMENT_KINDS` (a contradiction of the card, a lung word in a heart answer or the
  reverse, an event the card does not call). ``allowed_text`` is the card's facts text of the
  recording(s) plus the instruction; "unsupported" (patient details, numbers) is counted apart
  (:data:`OTHER_KINDS`), it is not part of agreement;
- **what the app shows**: the raw answer streamed through the engine's own grounding
  (:func:`stethodesk.model.grounded.ground`: :func:`~stethodesk.model.grounded.grounded_pieces`
  with :func:`stethodesk.model.templates.template_answer` as fallback), then read the same way.
  Its agreement must be 1.0; anything less is a bug in the grounding, and the failing examples
  are kept (``failures``).

Clinical accuracy of both texts (checker vs the reference label facts) is computed too. Not
modelled: the signal-quality pill and the heart rate (evaluation has no microphone level; the
card's poor-quality fact comes from the poor-quality head alone) and the user's patient context
(none is given in evaluation).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

AGREEMENT_KINDS = ("contradiction", "wrong_domain", "event_not_on_card")  # a violation = disagreement
OTHER_KINDS = ("unsupported",)  # counted, but not part of agreement
MAX_FAILURES = 20  # grounded answers that still disagree, kept verbatim for the bug report


@dataclass
class Card:
    """The findings card of one evaluation example.

    ``facts``: the card's calls (``a.``/``b.`` prefixed for a comparison); ``domain``;
    ``allowed_text``: facts text of the recording(s) + the instruction; ``a``/``b``:
    analysis-like objects (findings, domain, site, no heart rate or quality) for the engine's
    grounding; ``b`` None except for a comparison; ``texts``: the facts text of each recording
    (what the prompt of a bundle trained with findings text carries).
    """

    facts: dict
    domain: str
    allowed_text: str
    a: SimpleNamespace
    b: SimpleNamespace | None = None
    texts: list[str] | None = None


def domain_findings(findings: dict[str, float], domain: str, heads_cfg: dict) -> dict[str, float]:
    """The findings the app shows for ``domain``: the engine's own rule (heads of that domain and
    "any" heads; :func:`stethodesk.model.engine._for_domain`)."""
    from stethodesk.model.engine import _for_domain

    return _for_domain(findings, domain, heads_cfg)


def example_card(ex: dict, findings: dict[str, dict[str, float]], heads_cfg: dict) -> Card:
    """The card of an instruction example (``audio`` lists record keys of ``findings``).

    Parameters
    ----------
    ex : dict
        Instruction example (``training.instructions``; ``with_record_keys`` applied).
    findings : dict
        ``{record key: calibrated findings}``.
    heads_cfg : dict
        The bundle's ``heads`` section (each head's domain, and its operating points ``call_at``:
        the card calls each finding at the bundle's point, as the app does).
    """
    from stethodesk.model.analysis import operating_points
    from stethodesk.model.facts import card_facts, comparison_facts, facts_text

    domain = ex.get("domain") or "heart"
    sites = [ex.get("site"), ex.get("site_b")]
    points = operating_points(heads_cfg)
    sides = []
    for i, key in enumerate(ex["audio"][:2]):
        f = domain_findings(findings[key], domain, heads_cfg)
        sides.append(SimpleNamespace(findings=f, domain=domain, site=sites[i], heart_rate_bpm=None, quality=None,
                                     points=points))
    texts = [facts_text(s.findings, domain, site=s.site, points=points) for s in sides]
    a_facts = card_facts(sides[0].findings, domain, points=points)
    if ex["task"] == "comparison" and len(sides) == 2:
        facts = comparison_facts(a_facts, card_facts(sides[1].findings, domain, points=points))
    else:
        facts = a_facts
    allowed = "\n".join(texts + [ex.get("instruction", "")])
    return Card(facts, domain, allowed, sides[0], sides[1] if len(sides) == 2 else None, texts)


def disagreements(answer: str, card: Card):
    """Violations of :data:`AGREEMENT_KINDS` of ``answer`` against ``card`` (empty: it agrees)."""
    from stethodesk.model.grounding import verify

    return [v for v in verify(answer, card.facts, card.domain, card.allowed_text) if v.kind in AGREEMENT_KINDS]


def _pieces(text: str) -> list[str]:
    """``text`` in word-sized pieces, as a token stream arrives."""
    return re.findall(r"\S+\s*|\s+", text)


def grounded_answer(raw: str, ex: dict, card: Card, template: dict | None = None):
    """(text the app would show, its ``Grounding``) for the model's ``raw`` answer to ``ex``.

    The raw text is streamed through the engine's grounding exactly as the app wraps the
    llama.cpp stream (:func:`stethodesk.model.grounded.ground`): prompt text items, the card's
    facts text and the sites' knowledge are what the answer may repeat; the fallback is the
    card's template answer. The model being greedy, the text it would have generated after a
    withheld sentence is what ``raw`` holds, so cutting the stream changes nothing.
    """
    from stethodesk.model.grounded import Grounding, ground
    from training.sft_examples import prompt_segments, site_text

    items = [s for s in prompt_segments(ex, template) if isinstance(s, str)]
    grounding = Grounding()
    other = card.b if ex["task"] == "comparison" else None
    shown = "".join(ground(iter(_pieces(raw)), items, card.a, ex["task"], other, site_text(ex.get("site")),
                           None, grounding))
    return shown, grounding


def _rate(values: list[bool]) -> dict:
    return {"rate": float(np.mean(values)) if values else None, "n": len(values)}


def _by_task(rows: list[dict], key: str) -> tuple[dict, dict]:
    by = defaultdict(list)
    for r in rows:
        by[r["task"]].append(bool(r[key]))
    allv = [v for vs in by.values() for v in vs]
    return {t: _rate(v) for t, v in sorted(by.items())}, _rate(allv)


def stated_facts(reference: dict, card: dict) -> dict:
    """The reference facts of an example that its findings card states at all (either way).

    Issue 9 item 2: an answer may assert only what its prompt carries (or the sound shows and a
    head scores); a fact no head gives (rhonchi, stridor, crackle type, S3...) is one an answer
    that keeps to the card can never state, so clinical accuracy is also reported on these facts
    alone (``stated``), beside the accuracy on every reference fact.
    """
    return {k: v for k, v in reference.items() if k in card}


def card_rows(examples: list[dict], answers: list[str], findings: dict, heads_cfg: dict,
              template: dict | None = None) -> list[dict]:
    """One row per answered example: raw and shown agreement, violations, clinical correctness."""
    from stethodesk.model.checker import check
    from stethodesk.model.grounding import verify

    rows = []
    for ex, raw in zip(examples, answers):
        card = example_card(ex, findings, heads_cfg)
        raw_v = verify(raw, card.facts, card.domain, card.allowed_text)
        shown, grounding = grounded_answer(raw, ex, card, template)
        shown_v = disagreements(shown, card)
        stated = stated_facts(ex["facts"], card.facts)
        rows.append({
            "id": ex.get("id"), "task": ex["task"], "dataset": ex.get("dataset"), "card_facts": card.facts,
            "raw_agrees": not any(v.kind in AGREEMENT_KINDS for v in raw_v),
            "raw_kinds": sorted({v.kind for v in raw_v}),
            "raw_violations": [f"{v.kind}: {v.message}" for v in raw_v],
            "shown": shown, "shown_agrees": not shown_v, "shown_source": grounding.source,
            "shown_violations": [f"{v.kind}: {v.message}" for v in shown_v],
            "raw_correct": bool(check(raw, ex["facts"]).correct),
            "shown_correct": bool(check(shown, ex["facts"]).correct),
            # the same, on the reference facts the card states (None: it states none of them)
            "raw_stated_correct": bool(check(raw, stated).correct) if stated else None,
            "shown_stated_correct": bool(check(shown, stated).correct) if stated else None,
            "check_ms": round(grounding.check_ms, 2),
        })
    return rows


def card_metrics(rows: list[dict]) -> dict:
    """Metrics of :func:`card_rows`: the keys ``card_agreement`` (raw answers, per task),
    ``card_agreement_overall``, ``card_violations`` (raw answers with each violation kind) and
    ``grounded`` (what the app shows: agreement, clinical accuracy and answer source per task,
    the check time, and up to :data:`MAX_FAILURES` shown answers that still disagree)."""
    raw_task, raw_all = _by_task(rows, "raw_agrees")
    shown_task, shown_all = _by_task(rows, "shown_agrees")
    acc_task, acc_all = _by_task(rows, "shown_correct")
    stated = [r for r in rows if r.get("raw_stated_correct") is not None]
    st_raw_task, st_raw_all = _by_task(stated, "raw_stated_correct")
    st_shown_task, st_shown_all = _by_task(stated, "shown_stated_correct")
    kinds = Counter(k for r in rows for k in r["raw_kinds"])
    sources = defaultdict(Counter)
    for r in rows:
        sources[r["task"]][r["shown_source"]] += 1
    ms = [r["check_ms"] for r in rows]
    return {
        "card_agreement": raw_task,
        "card_agreement_overall": raw_all,
        "card_violations": {k: {"answers": kinds.get(k, 0), "n": len(rows)} for k in AGREEMENT_KINDS + OTHER_KINDS},
        "stated": {
            "kind": "clinical accuracy on the reference facts the findings card states (eval_card.stated_facts); "
                    "examples whose card states none of them are left out",
            "clinical_accuracy": {t: {"acc": v["rate"], "n": v["n"]} for t, v in st_raw_task.items()},
            "clinical_accuracy_overall": {"acc": st_raw_all["rate"], "n": st_raw_all["n"]},
            "shown_clinical_accuracy": {t: {"acc": v["rate"], "n": v["n"]} for t, v in st_shown_task.items()},
            "shown_clinical_accuracy_overall": {"acc": st_shown_all["rate"], "n": st_shown_all["n"]},
        },
        "grounded": {
            "kind": "the raw answer through the app's run-time grounding (stethodesk.model.grounded.ground)",
            "card_agreement": shown_task, "card_agreement_overall": shown_all,
            "clinical_accuracy": {t: {"acc": v["rate"], "n": v["n"]} for t, v in acc_task.items()},
            "clinical_accuracy_overall": {"acc": acc_all["rate"], "n": acc_all["n"]},
            "sources": {t: dict(c) for t, c in sorted(sources.items())},
            "check_ms": {"median": float(np.median(ms)) if ms else None, "max": max(ms) if ms else None},
            "failures": [{k: r[k] for k in ("id", "task", "card_facts", "shown", "shown_violations")}
                         for r in rows if not r["shown_agrees"]][:MAX_FAILURES],
        },
    }
