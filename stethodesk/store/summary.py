"""One-line summaries of a recording's state for maps, lists and reports. No Qt here."""

from __future__ import annotations

from dataclasses import dataclass

# The operating points and the headline rule live with the facts the answers are checked against
# (one rule for the card, the prompt and the checks); re-exported here for the card, lists and reports.
# ``points`` everywhere below: the bundle's operating points by finding key (``AudioAnalysis.points``,
# stored with each analysis as ``operating_points``); a key without one, or no points at all (an
# analysis stored before points existed), is called at 0.5 (``facts.call_point``).
from stethodesk.model.facts import (FINDING_THRESHOLD, HEADLINE_KEYS, STRONG_THRESHOLD, Points, call_point, called,
                                    headline, pct)

HEADLINE_LABELS = {"murmur": "Murmur", "s3": "S3", "s4": "S4", "abnormal": "Abnormal", "crackle": "Crackles",
                   "wheeze": "Wheeze", "rhonchi": "Rhonchi", "pleural_rub": "Pleural rub"}
# The headline findings per domain, most specific first, with what a clinician reads.
MAIN_FINDINGS = {domain: tuple((k, HEADLINE_LABELS[k]) for k in keys) for domain, keys in HEADLINE_KEYS.items()}
HIDDEN_FINDINGS = ("is_lung",)  # the domain detector: the domain is shown on its own
# What a clinician reads for every findings key, on the card, in lists, the comparison and the PDF
# (never "Lesion AS" or "Murmur timing systolic"); keys not listed are tidied up by finding_label.
FINDING_LABELS = {k: v for pairs in MAIN_FINDINGS.values() for k, v in pairs} | {
    "poor_quality": "Poor recording quality", "is_lung": "Lung sound",
    "murmur_timing_systolic": "Systolic murmur", "murmur_timing_diastolic": "Diastolic murmur",
    "lesion_N": "No valve lesion", "lesion_AS": "Aortic stenosis", "lesion_AR": "Aortic regurgitation",
    "lesion_MR": "Mitral regurgitation", "lesion_MS": "Mitral stenosis", "lesion_MVP": "Mitral valve prolapse",
    "crackle_type_fine": "Fine crackles", "crackle_type_coarse": "Coarse crackles",
}


@dataclass(frozen=True)
class MainFinding:
    """``label`` e.g. "Murmur" or "No abnormal finding"; ``probability`` of that call
    (for "no finding": the highest abnormal probability); ``level`` one of
    "none" (not analysed), "normal", "finding", "strong"."""

    label: str
    probability: float | None
    level: str

    @property
    def text(self) -> str:
        """"Murmur 83%", "No abnormal finding" or "Not analysed" (a normal call shows no
        percentage: the highest abnormal probability next to "no finding" reads as a contradiction)."""
        if self.probability is None or self.level in ("none", "normal"):
            return self.label
        return f"{self.label} {pct(self.probability)}"


def main_finding(findings: dict[str, float], domain: str, points: Points = None) -> MainFinding:
    """The headline of a recording's findings (probabilities keyed by head name), each finding
    called at its operating point in ``points``."""
    if not findings:
        return MainFinding("Not analysed", None, "none")
    top = headline(findings, domain, points)  # most specific called finding, or None
    if top is not None:
        key, p = top
        return MainFinding(HEADLINE_LABELS[key], p, "strong" if p >= STRONG_THRESHOLD else "finding")
    highest = max((findings.get(k, 0.0) for k, _ in MAIN_FINDINGS.get(domain, ())), default=0.0)
    return MainFinding("No abnormal finding", float(highest), "normal")


def quality_verdict(meter_level: str | None, findings: dict[str, float],
                    points: Points = None) -> tuple[str | None, str]:
    """One signal-quality verdict for every view, the answers' rule (``facts.card_facts``): poor
    when the signal meter or the model's poor-quality head says so.

    ``meter_level`` is the signal meter's "good" | "fair" | "poor" (or None, not measured);
    ``findings`` the calibrated probabilities (may be empty), ``poor_quality`` called at its
    operating point in ``points``. Returns ``(level, words)``: the
    verdict level and how to say it, e.g. ``("poor", "poor (model 89%, signal meter good)")``
    so a "good" meter is never shown beside a called "poor quality" as if both were verdicts.
    """
    p_poor = findings.get("poor_quality") if findings else None
    if meter_level != "poor" and p_poor is not None and called(findings, "poor_quality", points):
        meter = f", signal meter {meter_level}" if meter_level else ""
        return "poor", f"poor (model {pct(p_poor)}{meter})"
    return meter_level, meter_level or "not measured"


def exam_count(recordings) -> str:
    """"3 sites", or "3 sites, 4 recordings" when a site was recorded more than once, for
    ``recordings`` (objects with a ``site``); "no recordings" for none."""
    n, sites = len(recordings), len({r.site for r in recordings})
    if n == 0:
        return "no recordings"
    text = f"{sites} site{'s' if sites != 1 else ''}"
    return text if sites == n else f"{text}, {n} recordings"


def finding_label(key: str) -> str:
    """Readable name of a findings key such as ``lesion_AS`` or ``murmur_timing_systolic``."""
    if key in FINDING_LABELS:
        return FINDING_LABELS[key]
    head, *rest = key.split("_")
    # keep class codes as written ("lesion_AS" -> "Lesion AS")
    return " ".join([head.capitalize(), *rest])


HIDDEN_PREFIXES = ("site_",)  # the site classifier: the site is known from the exam
HIDDEN_CLASSES = ("lesion_N",)  # "no lesion" is the absence of a finding, not a finding
# Heads describing a murmur (timing, shape...) or its cause (valve lesion): meaningful only when a
# murmur is called, which is also when the answers may name a lesion (facts.card_facts)
CONDITIONAL = {"murmur_": "murmur", "lesion_": "murmur"}


def shown_findings(findings: dict[str, float], top: int | None = None,
                   points: Points = None) -> list[tuple[str, float]]:
    """Findings worth listing to a clinician, highest probability first.

    Leaves out the domain and site classifiers and "no lesion", and the murmur
    description heads (timing, shape, grade...) unless a murmur itself is called at its
    operating point in ``points`` (they are conditional probabilities: "systolic 100%" beside
    "murmur 30%" misleads).
    """
    def keep(key: str) -> bool:
        if key in HIDDEN_FINDINGS or key in HIDDEN_CLASSES or key.startswith(HIDDEN_PREFIXES):
            return False
        for prefix, parent in CONDITIONAL.items():
            if key.startswith(prefix) and not called(findings, parent, points):
                return False
        return True

    items = sorted(((k, v) for k, v in findings.items() if keep(k)), key=lambda kv: -kv[1])
    return items[:top] if top else items


def point_note(key: str, points: Points = None) -> str:
    """" (called from 22%)" when finding ``key`` has an operating point other than 50% in
    ``points``, else "" (the card and the report show it beside the probability)."""
    p = call_point(key, points)
    return "" if p == FINDING_THRESHOLD else f" (called from {pct(p)})"


def points_words(points: Points, keys) -> str:
    """"; called from: crackles 22%, wheeze 15%" for those of ``keys`` whose operating point in
    ``points`` is not 50%, else "" (a list or report names the points its calls were made at)."""
    own = [f"{finding_label(k).lower()} {pct(call_point(k, points))}" for k in keys
           if call_point(k, points) != FINDING_THRESHOLD]
    return f"; called from: {', '.join(own)}" if own else ""
