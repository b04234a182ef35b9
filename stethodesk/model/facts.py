"""The findings card's calls as facts: one rule for the card, the prompt and the answer checks.

The calibrated findings are the source of truth (issue 9). :func:`card_facts` turns them into
the facts the findings card shows, in the vocabulary of :mod:`stethodesk.model.checker`, so the
checker, the run-time grounding (:mod:`stethodesk.model.grounding`) and the card can never
disagree about what was called; :func:`facts_text` writes the same facts as plain lines with
their calibrated percentages, for the prompt and for the user.

Operating points
----------------
A finding is *called* when its calibrated probability is at least its operating point: the
bundle's ``heads.<head>.call_at`` in ``bundle.json`` where one was chosen (on the validation
split, the point of highest Youden's J = sensitivity + specificity - 1, by
``training.operating_points``; Youden 1950, Cancer 3:32), else :data:`FINDING_THRESHOLD` (0.5,
where a call is as likely right as wrong at the calibration prevalence). One point for every head
left the lung heads almost silent (issue 9: wheeze sensitivity 0.05, crackle 0.40 at 0.5 on the
test split), because a calibrated probability of a rarer finding seldom reaches 0.5. The points
travel with the findings (``AudioAnalysis.points``; stored analyses keep them), and every call
here takes them as ``points``: {finding key: point}; a key it lacks uses 0.5. The probability
shown stays the calibrated one. :data:`STRONG_THRESHOLD` (0.8) only changes how strongly the card
colours a call. None is a clinical threshold from a guideline.

No Qt, no torch.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping

from stethodesk.model.checker import LESIONS
from stethodesk.model.sites import SITE_ALIASES
from stethodesk.model.vocabulary import EVENT_NAMES, HEART_EVENTS, LUNG_EVENTS

FINDING_THRESHOLD = 0.5  # calibrated probability at or above which a finding is called present
STRONG_THRESHOLD = 0.8  # ... and at or above which the card shows it as strong
DOMAINS = ("heart", "lung")
LESION_PREFIX = "lesion_"
NO_LESION = "N"  # the lesion head's "no valve lesion" class: never a lesion fact
TIMINGS = ("systolic", "diastolic")  # murmur_timing_<class>: independent (multilabel) heads
EXTRA_LESION_NAMES = {"AR": "aortic regurgitation"}  # lesions the knowledge file does not list
Points = Mapping[str, float] | None  # finding key -> operating point (see the module docstring)
HEART_SITE_KEYS = ("aortic", "pulmonic", "erb", "tricuspid", "mitral", "other_heart")
# The card's headline findings per domain, most specific first (``abnormal`` is the heart's
# overall-pattern head; a lung bundle has none, so a lung verdict is abnormal when an
# adventitious sound is called).
HEADLINE_KEYS = {"heart": ("murmur", "s3", "s4", "abnormal"),
                 "lung": ("crackle", "wheeze", "rhonchi", "pleural_rub", "abnormal")}


# ---------------------------------------------------------------------------- knowledge, sites


@functools.lru_cache(maxsize=1)
def knowledge() -> dict:
    """``resources/clinical_knowledge.json`` (textbook associations with their sources)."""
    from stethodesk.paths import RESOURCES

    return json.loads((RESOURCES / "clinical_knowledge.json").read_text(encoding="utf-8"))


def site_key(site: str | None) -> str | None:
    """The knowledge-file key of a site given as key, title or code, else None.

    ``"mitral"``, ``"mitral area"``, ``"MV"``, ``"apex"`` and the map's
    ``"Mitral / apex (5th intercostal space)"`` all give ``"mitral"``.
    """
    if not site or not str(site).strip():
        return None
    sites = knowledge()["sites"]
    text = str(site).split("(")[0].strip().lower().replace("'", "")
    key = text.replace("-", "_").replace(" ", "_")
    key = SITE_ALIASES.get(key, key)
    if key in sites:
        return key
    for k, v in sites.items():
        if v.get("title", "").lower().replace("'", "") == text:
            return k
    first = key.split("_")[0]
    return first if first in HEART_SITE_KEYS else None


def site_title(site: str | None) -> str | None:
    """What the answers call a site ("mitral area"); unknown sites as given; None for none."""
    key = site_key(site)
    if key:
        return knowledge()["sites"][key]["title"]
    return str(site).strip() if site and str(site).strip() else None


def site_domain(site: str | None) -> str | None:
    """"heart" for the valve areas, "lung" for the other known sites, None when unknown."""
    key = site_key(site)
    if key is None:
        return None
    return "heart" if key in HEART_SITE_KEYS else "lung"


def lesion_name(code: str) -> str:
    """"AS" -> "aortic stenosis" (knowledge file names)."""
    entry = knowledge()["lesions"].get(code)
    return entry["name"] if entry else EXTRA_LESION_NAMES.get(code, code)


def source_citation(keys) -> str:
    """Short citations ("Bickley 2021; Constant 2003") for knowledge-file source keys."""
    out = []
    for k in keys:
        ref = knowledge()["sources"].get(k, k)
        year = re.search(r"\b(?:19|20)\d\d\b", ref)
        out.append(f"{ref.split()[0].rstrip(',')} {year.group(0)}" if year else ref.split(".")[0])
    return "; ".join(dict.fromkeys(out))


# ---------------------------------------------------------------------------- facts


def call_point(key: str, points: Points = None) -> float:
    """The operating point of finding ``key``: ``points[key]`` when given, else 0.5."""
    p = (points or {}).get(key)
    return FINDING_THRESHOLD if p is None else float(p)


def uses_points(points: Points) -> bool:
    """Does any finding have an operating point other than :data:`FINDING_THRESHOLD`?"""
    return any(float(v) != FINDING_THRESHOLD for v in (points or {}).values())


def called(findings: Mapping[str, float], key: str, points: Points = None) -> bool:
    """Is ``key`` called present (calibrated probability >= its :func:`call_point`)?"""
    p = findings.get(key)
    return p is not None and float(p) >= call_point(key, points)


def headline(findings: Mapping[str, float], domain: str, points: Points = None) -> tuple[str, float] | None:
    """The card's headline call with its probability: the most probable called sound of
    :data:`HEADLINE_KEYS` (a wheeze at 95% beside crackles at 55% reads "Wheeze", not the
    first in the list), else ``abnormal`` when that is called, else None (the card reads "No
    abnormal finding"). ``stethodesk.store.summary.main_finding`` shows it; the verdict is
    abnormal iff it is not None."""
    keys = HEADLINE_KEYS.get(domain, ())
    sounds = [(k, float(findings[k])) for k in keys if k != "abnormal" and called(findings, k, points)]
    if sounds:
        return max(sounds, key=lambda kp: kp[1])  # ties keep the list order
    if "abnormal" in keys and called(findings, "abnormal", points):
        return "abnormal", float(findings["abnormal"])
    return None


def lesion_ranking(findings: dict[str, float]) -> list[tuple[str, float]]:
    """Lesion classes other than "no lesion", most probable first: ``[(code, p), ...]``.

    The lesion head is a softmax over N/AS/MR/MS/MVP, so these are exclusive probabilities.
    """
    out = [(k[len(LESION_PREFIX):], float(p)) for k, p in findings.items()
           if k.startswith(LESION_PREFIX) and k[len(LESION_PREFIX):] != NO_LESION]
    return sorted(out, key=lambda kp: -kp[1])


def card_facts(findings: Mapping[str, float], domain: str, heart_rate_bpm: float | None = None,
               quality_level: str | None = None, site: str | None = None, points: Points = None) -> dict:
    """The facts the findings card shows, in the checker's vocabulary.

    Parameters
    ----------
    findings : dict[str, float]
        Calibrated probabilities in [0, 1] by finding key (``abnormal``, ``murmur``,
        ``murmur_timing_systolic``, ``lesion_AS``, ``crackle``, ``poor_quality``...).
    domain : {"heart", "lung"}
        Only facts of this domain are returned: a heart card never carries crackle or wheeze.
    heart_rate_bpm, site : optional
        Accepted so callers can pass the card's data as one bundle; they change no call (the
        heart rate is shown, not called, and the site never overrides the sound).
    quality_level : {"good", "fair", "poor"}, optional
        The signal-quality pill (``stethodesk.audio.dsp.signal_quality``).
    points : dict[str, float], optional
        The bundle's operating points by finding key (missing: 0.5); see the module docstring.

    Returns
    -------
    dict
        ``abnormal`` (bool): the card's headline is a finding (:func:`headline`, which
        ``stethodesk.store.summary.main_finding`` shows); ``murmur``
        ("present"/"absent"); ``murmur_timing`` ("systolic", "diastolic" or "both") only when
        a murmur and its timing are called; ``lesion`` (e.g. "AS") only when a murmur is called
        and the leading lesion reaches the operating point (never "N"); binary events the
        bundle has heads for (``s3``, ``crackle``, ``wheeze``...); ``poor_quality`` (bool) when
        the poor-quality head or the quality pill says so. Empty findings give ``{}``.
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain must be heart or lung, not {domain!r}")
    if not findings:
        return {}
    facts: dict = {"abnormal": headline(findings, domain, points) is not None}
    if domain == "heart":
        if "murmur" in findings:
            facts["murmur"] = "present" if called(findings, "murmur", points) else "absent"
        if facts.get("murmur") == "present":
            timing = [t for t in TIMINGS if called(findings, f"murmur_timing_{t}", points)]
            if timing:
                facts["murmur_timing"] = "both" if len(timing) == 2 else timing[0]
            ranking = lesion_ranking(findings)  # a code the checker cannot read is no fact
            if ranking and ranking[0][1] >= FINDING_THRESHOLD and ranking[0][0] in LESIONS:
                facts["lesion"] = ranking[0][0]
        events = HEART_EVENTS
    else:
        events = LUNG_EVENTS
    for key in events:
        if key in findings:
            facts[key] = called(findings, key, points)
    if facts.get("crackle"):
        kinds = [t for t in ("fine", "coarse") if called(findings, f"crackle_type_{t}", points)]
        if kinds:
            facts["crackle_type"] = "both" if len(kinds) == 2 else kinds[0]
    if called(findings, "poor_quality", points) or quality_level == "poor":
        facts["poor_quality"] = True
    elif "poor_quality" in findings or quality_level in ("good", "fair"):
        facts["poor_quality"] = False
    return facts


def comparison_facts(a_facts: dict, b_facts: dict) -> dict:
    """Facts of recordings A and B with the checker's ``a.``/``b.`` prefixes."""
    return {**{f"a.{k}": v for k, v in a_facts.items()}, **{f"b.{k}": v for k, v in b_facts.items()}}


# ---------------------------------------------------------------------------- text


def pct(p: float | None) -> str:
    """"83%": the card's rounding (whole percent); never "100%" or "0%", which a calibrated
    probability does not mean: ">99%" and "<1%" at the ends."""
    if p is None:
        return "?"
    p = float(p)
    if p >= 0.995:
        return ">99%"
    if p < 0.005:
        return "<1%"
    return f"{p:.0%}"


def verdict_basis(findings: Mapping[str, float], domain: str, points: Points = None) -> str:
    """The headline call with its percentage ("murmur 83%"), or "" for a normal card."""
    top = headline(findings, domain, points)
    if top is None:
        return ""
    key, p = top
    return f"{EVENT_NAMES.get(key, (None, key))[1]} {pct(p)}"


def facts_text(findings: Mapping[str, float], domain: str, heart_rate_bpm: float | None = None,
               quality_level: str | None = None, site: str | None = None,
               quality_reason: str | None = None, points: Points = None) -> str:
    """The card's facts as compact plain-English lines with calibrated percentages.

    For the prompt (the model reads the facts instead of guessing them) and for showing. Only
    facts of ``domain`` appear; murmur timing and lesions only when a murmur is called (they
    are conditional on it, as on the card). Heart rate in bpm (heart only), signal quality and
    site are added when known. Example::

        Findings of this heart recording (calibrated; a finding is called at 50% or more):
        Verdict: abnormal (murmur 83%).
        Murmur: present, 83%; timing: systolic 91% (called), diastolic 4%.
        ...

    With ``points`` that differ from 0.5 the first line reads "... each finding is called at its
    operating point:" and each called or absent finding gives its point ("Wheeze: present, 31%
    (called from 22%)."); without, the text is exactly what bundles trained before points read.
    """
    facts = card_facts(findings, domain, heart_rate_bpm, quality_level, site, points)
    own = uses_points(points)

    def at(key: str) -> str:  # a finding's point, where points are in use
        return f" (called from {pct(call_point(key, points))})" if own else ""

    lines = [f"Findings of this {domain} recording (calibrated; each finding is called at its operating point):"
             if own else (f"Findings of this {domain} recording (calibrated; a finding is called at "
                          f"{FINDING_THRESHOLD:.0%} or more):")]
    if not facts:
        lines.append("No findings: the recording was not analysed.")
    else:
        basis = verdict_basis(findings, domain, points)
        lines.append(f"Verdict: abnormal ({basis})." if facts["abnormal"] else
                     "Verdict: normal (no finding reaches its operating point)." if own else
                     f"Verdict: normal (no finding reaches {FINDING_THRESHOLD:.0%}).")
    if "murmur" in facts:
        line = f"Murmur: {facts['murmur']}, {pct(findings['murmur'])}{at('murmur')}"
        if facts["murmur"] == "present":
            parts = [f"{t} {pct(findings[f'murmur_timing_{t}'])}"
                     + (" (called)" if called(findings, f"murmur_timing_{t}", points) else "")
                     for t in TIMINGS if f"murmur_timing_{t}" in findings]
            line += f"; timing: {', '.join(parts)}" if parts else ""
        lines.append(line + ".")
        ranking = lesion_ranking(findings)
        if facts["murmur"] == "present" and ranking:
            items = [f"{lesion_name(c)} {pct(p)}" + (" (called)" if facts.get("lesion") == c else "")
                     for c, p in ranking]
            lines.append("Valve lesion: " + ", ".join(items) + ".")
    for key in HEART_EVENTS + LUNG_EVENTS:
        if key in facts:
            name = EVENT_NAMES[key][1]
            lines.append(f"{name[:1].upper() + name[1:]}: {'present' if facts[key] else 'absent'}, "
                         f"{pct(findings[key])}{at(key)}.")
    if domain == "heart" and "abnormal" in findings:
        lines.append(f"Abnormal heart sound pattern: {pct(findings['abnormal'])}{at('abnormal')}.")
    if domain == "heart":
        lines.append(f"Heart rate: {heart_rate_bpm:.0f} bpm." if heart_rate_bpm else
                     "Heart rate: not measured.")
    quality = []
    if quality_level:
        reason = (quality_reason or "").strip().rstrip(".")
        quality.append(f"signal {quality_level}" + (f" ({reason[:1].lower() + reason[1:]})" if reason else ""))
    if "poor_quality" in findings:
        quality.append(f"poor-quality finding {pct(findings['poor_quality'])}{at('poor_quality')}")
    if quality:
        lines.append("Recording quality: " + "; ".join(quality) + ".")
    title = site_title(site)
    lines.append(f"Site: {title}." if title else "Site: not given.")
    return "\n".join(lines)
