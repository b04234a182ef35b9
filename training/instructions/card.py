"""The findings text of a training prompt: a card the app could show for a labelled recording.

At run time the prompt carries the card's calibrated findings as text
(:func:`stethodesk.model.facts.facts_text`, issue 9 item 1), and the answer must agree with it.
Training prompts therefore carry the same kind of text, written by the same function from
*label-consistent* findings: probabilities drawn on the called side of the operating point
(:data:`stethodesk.model.facts.FINDING_THRESHOLD`) for every fact the labels support, on the
not-called side for heads the labels say nothing about. The answer (rendered from the labels)
then states exactly what the text calls, so the model learns to read the findings text and say
what it says, and the DPO pairs (single-fact flips of the answer) learn to avoid contradicting it.

Why not the encoder's own findings on the training recordings: where the encoder is wrong, the
label-rendered answer would contradict the text, which teaches the model to ignore it; and the
encoder has seen those recordings, so its findings there are not what it gives on new audio.
The draws include borderline values (just above or below the operating point) so the model reads
the "called" marks and the threshold, not only extreme percentages.

Operating points: a bundle calls each finding at its own point (``heads.<head>.call_at``, chosen
on validation; :mod:`stethodesk.model.facts`), and the text then states each point ("Wheezes:
present, 31% (called from 22%)"). Which points a future encoder gets is not known when the
instructions are written, so half the cards draw a random point per finding
(:data:`POINT_RANGE`) and the other half use 0.5 (the text of a bundle without points): the model
learns to read "present"/"absent" and the point, whatever its value.
"""

from __future__ import annotations

import random

from stethodesk.model.facts import FINDING_THRESHOLD, card_facts, facts_text

from .vocab import HEART_EVENTS, LESIONS, LUNG_EVENTS

# Heads every shipped bundle has per domain: keys the app's card can show. Label facts for other
# events (s3, rhonchi...) add their own keys, as a bundle with such a head would.
HEART_KEYS = ("abnormal", "murmur", "murmur_timing_systolic", "murmur_timing_diastolic")
LUNG_KEYS = ("crackle", "wheeze")
CARD_KEYS = ("abnormal", "murmur", "murmur_timing", "lesion", "crackle_type", "poor_quality",
             *HEART_EVENTS, *LUNG_EVENTS)  # fact keys the card can state (no shape, grade, pitch)
P_BORDERLINE = 0.15  # share of draws within 0.1 of the operating point
P_POINTS = 0.5  # share of cards with per-finding operating points (the rest: 0.5 for every finding)
POINT_RANGE = (0.08, 0.6)  # where drawn operating points lie (validation-chosen points seen: 0.1-0.6)


class _Points(dict):
    """Operating points drawn on first use per finding key (empty: every finding at 0.5)."""

    def __init__(self, rng: random.Random | None):
        super().__init__()
        self.rng = rng

    def at(self, key: str) -> float:
        if self.rng is None:
            return FINDING_THRESHOLD
        if key not in self:
            self[key] = round(self.rng.uniform(*POINT_RANGE), 2)
        return self[key]


def draw_points(rng: random.Random) -> _Points:
    """The operating points of one training card: drawn per finding (:data:`P_POINTS` of the
    cards), else none."""
    return _Points(rng if rng.random() < P_POINTS else None)


def _draw_at(rng: random.Random, present: bool, t: float = FINDING_THRESHOLD) -> float:
    """A calibrated-looking probability on the called (``present``) or not-called side of ``t``."""
    if rng.random() < P_BORDERLINE:
        return round(min(0.995, t + rng.uniform(0.0, 0.1)) if present
                     else t - rng.uniform(0.005, min(0.1, t - 0.006)), 3)
    if present:
        return round(t + (0.995 - t) * rng.betavariate(2.0, 1.2), 3)
    return round(0.003 + (t - 0.013) * rng.betavariate(1.1, 3.0), 3)


def _lesions(rng: random.Random, lead: str | None) -> dict[str, float]:
    """Softmax-like lesion probabilities (sum 1) with ``lead`` at or above the operating point,
    or, with ``lead`` None, no lesion class other than "N" reaching it."""
    if lead is None:
        p_lead, lead = rng.uniform(0.5, 0.95), "N"
    else:
        p_lead = max(FINDING_THRESHOLD + 0.01, _draw_at(rng, True))
    rest = [c for c in LESIONS if c != lead]
    w = [rng.random() for _ in rest]
    out = {lead: p_lead}
    for c, wi in zip(rest, w):
        out[c] = (1.0 - p_lead) * wi / sum(w)
    return {f"lesion_{c}": max(0.001, round(p, 3)) for c, p in out.items()}  # a calibrated p is never 0


def label_findings(f: dict, domain: str, rng: random.Random, points: _Points | None = None) -> dict[str, float]:
    """Calibrated-looking findings ``{key: probability}`` whose card, at ``points`` (drawn here on
    first use; None: 0.5 everywhere), calls every fact of ``f``.

    ``f`` is :func:`training.instructions.facts.record_facts`' facts of one recording.
    """
    pts = points if points is not None else _Points(None)
    fi: dict[str, float] = {}

    def draw(rng: random.Random, present: bool, key: str) -> float:  # at the key's own point
        return _draw_at(rng, present, pts.at(key))

    if domain == "heart":
        murmur = f.get("murmur")
        lesion = f.get("lesion")
        if murmur is None and lesion not in (None, "N"):
            murmur = "present"  # a valve lesion of the labels is heard as a murmur on the card
        abnormal = f.get("abnormal")
        if murmur == "present" and abnormal is False:
            abnormal = None
        fi["murmur"] = draw(rng, murmur == "present", "murmur")
        timing = f.get("murmur_timing")
        fi["murmur_timing_systolic"] = draw(rng, timing in ("systolic", "both"), "murmur_timing_systolic")
        fi["murmur_timing_diastolic"] = draw(rng, timing in ("diastolic", "both"), "murmur_timing_diastolic")
        fi.update(_lesions(rng, lesion if lesion not in (None, "N") else None))
        fi["abnormal"] = draw(rng, bool(abnormal) and (murmur != "present" or rng.random() < 0.8), "abnormal")
        for k in HEART_EVENTS:
            if k in f:
                fi[k] = draw(rng, bool(f[k]), k)
                if f[k] and k in ("s3", "s4"):
                    fi["abnormal"] = max(fi["abnormal"], draw(rng, True, "abnormal"))
    else:
        for k in LUNG_KEYS:
            fi[k] = draw(rng, bool(f.get(k)), k)
        for k in LUNG_EVENTS:
            if k in f and k not in LUNG_KEYS:
                fi[k] = draw(rng, bool(f[k]), k)
        kind = f.get("crackle_type")
        if f.get("crackle") and kind:
            fi["crackle_type_fine"] = draw(rng, kind in ("fine", "both"), "crackle_type_fine")
            fi["crackle_type_coarse"] = draw(rng, kind in ("coarse", "both"), "crackle_type_coarse")
    fi["poor_quality"] = draw(rng, bool(f.get("poor_quality")), "poor_quality")
    return fi


def disagreement(f: dict, findings: dict[str, float], domain: str, quality_level: str | None) -> list[str]:
    """Card-visible fact keys of ``f`` that the card of ``findings`` states differently."""
    return _differs(f, card_facts(findings, domain, quality_level=quality_level))


def _differs(f: dict, card: dict) -> list[str]:
    return [k for k in CARD_KEYS if k in f and k in card and card[k] != f[k]]


def draw_card(f: dict, ctx: dict, rng: random.Random, tries: int = 4) -> tuple[str, dict] | None:
    """(findings text, card facts) of one draw of label-consistent findings for a recording with
    label facts ``f`` (``ctx`` from :func:`~training.instructions.facts.record_facts`: domain,
    site title), or None when no draw gives a card that calls what the labels say."""
    domain = ctx["domain"]
    for _ in range(tries):
        points = draw_points(rng)
        findings = label_findings(f, domain, rng, points)
        quality = "poor" if f.get("poor_quality") else rng.choice(("good", "good", "fair"))
        # the heart rate changes no call
        card = card_facts(findings, domain, quality_level=quality, points=points)
        if _differs(f, card):
            continue
        hr = round(rng.uniform(55, 125)) if domain == "heart" and rng.random() < 0.85 else None
        return facts_text(findings, domain, hr, quality, ctx.get("site_title"), points=points), card
    return None


def findings_texts_for(answer: str, instruction: str, sides: list[tuple[dict, dict]], rng: random.Random,
                       tries: int = 4) -> list[str] | None:
    """Findings texts (one per recording in ``sides``: ``(facts, ctx)``) whose cards the
    training ``answer`` agrees with, read by the app's own run-time check
    (:func:`stethodesk.model.grounding.verify`, the kinds the evaluation counts as disagreement);
    None when no draw agrees (e.g. an answer that hedges "cannot be determined" where any card
    shows a verdict, or names a timing detail no head scores): such an example teaches the model
    to contradict its prompt, and SFT and DPO leave it out."""
    from stethodesk.model.facts import comparison_facts
    from stethodesk.model.grounding import verify

    disagree = ("contradiction", "wrong_domain", "event_not_on_card")
    domain = sides[0][1]["domain"]
    for _ in range(tries):
        cards = [draw_card(f, ctx, rng) for f, ctx in sides]
        if any(c is None for c in cards):
            return None
        facts = cards[0][1] if len(cards) == 1 else comparison_facts(cards[0][1], cards[1][1])
        allowed = "\n".join([c[0] for c in cards] + [instruction])
        if not any(v.kind in disagree for v in verify(answer, facts, domain, allowed)):
            return [c[0] for c in cards]
    return None
