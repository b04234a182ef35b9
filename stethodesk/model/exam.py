"""Exam-level findings: one patient-level reading of every site of an examination. No Qt, no torch.

Input is the per-site :class:`~stethodesk.model.analysis.AudioAnalysis` of an exam (each with its
calibrated findings, domain, site and usable flag); output is :class:`ExamFindings`:

- heart: patient-level ``abnormal`` and ``murmur`` probabilities, pooled over the usable sites
  and recalibrated on CirCor validation patients (``resources/exam_calibration.json``, refitted by
  ``python -m training.exam_calibration``); a murmur call present / absent / unknown, the most
  audible site (the usable heart site with the highest murmur probability), the sites where the
  murmur is called, its timing and the lesion candidates ranked with the site pattern as evidence;
- lung: crackles and wheezes with the sites where they are called (each site at its own
  recording's operating points, ``AudioAnalysis.points``, as its card calls it) and their side
  (left / right / both, from the site names); pooled as the maximum over sites, which is *not*
  recalibrated at patient level (there are no patient-level lung labels to fit it on) and says so;
- unusable sites are listed with their reason and left out of every pooled figure.

Clinical facts used for the site pattern (where each lesion is best heard, which murmurs a
timing at a site suggests) come from ``resources/clinical_knowledge.json``: Bickley et al.,
*Bates' Guide to Physical Examination*, 13th ed. (2021); Constant, *Essentials of Bedside
Cardiology*, 2nd ed. (2003); Otto et al., 2020 ACC/AHA valvular heart disease guideline. Each
candidate carries its own source keys.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stethodesk import DISCLAIMER, paths
from stethodesk.model.facts import (FINDING_THRESHOLD, HEART_SITE_KEYS, called, knowledge, lesion_name, pct,
                                    site_key, site_title, source_citation, uses_points)

CALIBRATION_FILE = paths.RESOURCES / "exam_calibration.json"
CALL_WEIGHTS = {"present": 5.0, "unknown": 3.0, "absent": 1.0}  # PhysioNet Challenge 2022
LESION_CODES = ("AS", "MR", "MS", "MVP")
POOLS = ("mean", "max", "noisy_or", "logmeanexp")
SITE_KEYS = ("murmur", "abnormal", "crackle", "wheeze")  # per-site figures the exam text lists
EPS = 1e-6


def logit(p: float) -> float:
    p = min(max(float(p), EPS), 1.0 - EPS)
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def pool_logits(z: list[float], rule: str) -> float:
    """One patient logit from per-site logits ``z`` (non-empty) by ``rule`` (:data:`POOLS`).

    ``noisy_or`` = logit(1 - prod(1 - p_i)); ``logmeanexp`` = log(mean(exp(z_i))), between mean
    and max. Raises ValueError for an empty list or an unknown rule.
    """
    if not z:
        raise ValueError("no site to pool")
    if rule == "mean":
        return sum(z) / len(z)
    if rule == "max":
        return max(z)
    if rule == "noisy_or":
        return logit(1.0 - math.prod(1.0 - sigmoid(v) for v in z))
    if rule == "logmeanexp":
        m = max(z)
        return m + math.log(sum(math.exp(v - m) for v in z) / len(z))
    raise ValueError(f"unknown pooling rule {rule!r}; choose one of {', '.join(POOLS)}")


@functools.lru_cache(maxsize=4)
def load_calibration(path: str | Path | None = None) -> dict:
    """The fitted exam calibration (``{"murmur": {...}, "abnormal": {...}, "fitted": {...}}``);
    without the file, identity Platt parameters on the mean with ``fitted: false``."""
    p = Path(path) if path else CALIBRATION_FILE
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        ident = {"pool": "mean", "a": 1.0, "b": 0.0}
        # no fitted site threshold: a site's murmur is "heard at" where its own card calls it
        return {"murmur": {**ident, "unknown_share": 0.0}, "abnormal": ident, "fitted": False}


def patient_probability(probs: list[float], head: dict) -> float:
    """``sigmoid(a * pool(logit(p_i)) + b)`` of per-site calibrated probabilities ``probs``."""
    return sigmoid(head["a"] * pool_logits([logit(p) for p in probs], head["pool"]) + head["b"])


def murmur_call(p: float, unknown_share: float, weights: dict = CALL_WEIGHTS) -> str:
    """present / unknown / absent: the call with the highest expected weighted accuracy when the
    patient has a murmur with probability ``p`` and, without one, is an "unknown" patient with
    probability ``unknown_share`` (Bayes rule for the PhysioNet 2022 weights)."""
    gain = {"present": weights["present"] * p, "unknown": weights["unknown"] * (1 - p) * unknown_share,
            "absent": weights["absent"] * (1 - p) * (1 - unknown_share)}
    return max(gain, key=gain.get)


def side_of(site: str | None) -> str | None:
    """"left" / "right" from a site name ("posterior_left", "Lr" -> right), else None."""
    key = site_key(site) or str(site or "").lower()
    return "left" if "left" in key else "right" if "right" in key else None


def sidedness(sites: list[str]) -> str | None:
    sides = {side_of(s) for s in sites} - {None}
    return "both sides" if len(sides) == 2 else (f"{sides.pop()} side" if sides else None)


@dataclass
class SiteResult:
    """One site of the exam: its own findings, kept as evidence, and the operating points its
    recording's findings are called at (``AudioAnalysis.points``; {} = all at 0.5)."""

    site: str | None
    title: str | None
    domain: str
    usable: bool
    unusable_reason: str | None
    findings: dict[str, float]
    points: dict[str, float] = field(default_factory=dict)


@dataclass
class LesionCandidate:
    code: str
    name: str
    probability: float | None  # murmur-weighted mean of the sites' lesion-head probabilities
    site_pattern: str  # "fits" | "does not fit" | "no loudest site"
    evidence: str
    sources: list[str]


@dataclass
class ExamFindings:
    """Patient-level findings of one exam. Probabilities are in [0, 1]; ``None`` = not assessable.

    ``murmur_call`` is "present" / "absent" / "unknown" ("unknown" also when no heart site is
    usable); ``murmur_sites`` the usable sites whose own murmur probability reaches the fitted
    site threshold; ``lung`` maps "crackle" / "wheeze" to ``{"probability", "sites", "side"}``.
    """

    domain: str
    sites: list[SiteResult]
    unusable: list[dict]
    abnormal: float | None = None
    murmur: float | None = None
    murmur_call: str | None = None
    most_audible_site: str | None = None
    murmur_sites: list[str] = field(default_factory=list)
    timing: str | None = None
    timing_probabilities: dict[str, float] = field(default_factory=dict)
    lesion_candidates: list[LesionCandidate] = field(default_factory=list)
    differential: dict | None = None
    lung: dict[str, dict] = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)
    disclaimer: str = DISCLAIMER

    @property
    def usable_sites(self) -> list[SiteResult]:
        return [s for s in self.sites if s.usable]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sites"] = [{**asdict(s), "findings": {k: round(v, 4) for k, v in s.findings.items()}} for s in self.sites]
        for k in ("abnormal", "murmur"):
            d[k] = None if d[k] is None else round(d[k], 4)
        return d

    def probabilities(self) -> dict[str, float]:
        """The patient-level probabilities in the card's key vocabulary (``abnormal``, ``murmur``,
        ``murmur_timing_*``, ``lesion_*``, ``crackle``, ``wheeze``) for the answer templates."""
        out = {k: v for k, v in (("abnormal", self.abnormal), ("murmur", self.murmur)) if v is not None}
        out.update({f"murmur_timing_{t}": p for t, p in self.timing_probabilities.items()})
        out.update({f"lesion_{c.code}": c.probability for c in self.lesion_candidates if c.probability is not None})
        out.update({k: v["probability"] for k, v in self.lung.items() if v.get("probability") is not None})
        return out

    def facts(self) -> dict:
        """The exam's calls as card facts (checker vocabulary), for the templates and ``verify``:
        ``murmur`` only when called present or absent, ``lesion`` only with a called murmur and a
        first-ranked candidate at the operating point (as on the single-recording card)."""
        if not self.usable_sites:
            return {}
        f: dict = {}
        if self.domain == "heart":
            if self.murmur_call in ("present", "absent"):
                f["murmur"] = self.murmur_call
            if self.murmur_call == "present" and self.timing:
                f["murmur_timing"] = self.timing
            top = self.lesion_candidates[0] if self.lesion_candidates else None
            if self.murmur_call == "present" and top and (top.probability or 0) >= FINDING_THRESHOLD:
                f["lesion"] = top.code
            f["abnormal"] = self.murmur_call == "present" or (self.abnormal or 0) >= FINDING_THRESHOLD
        else:
            for k, v in self.lung.items():
                f[k] = bool(v["sites"])
            f["abnormal"] = any(v["sites"] for v in self.lung.values())
        return f

    def text(self) -> str:
        """The exam findings as plain lines (for the model's context, the report and the user)."""
        rule = ("each site's findings are called at its recording's operating points"
                if any(uses_points(s.points) for s in self.usable_sites) else
                f"a finding is called at {FINDING_THRESHOLD:.0%} or more")
        lines = [f"Whole {self.domain} exam (calibrated; {rule}): "
                 f"{len(self.usable_sites)} of {len(self.sites)} sites usable "
                 f"({', '.join(s.title or '?' for s in self.usable_sites) or 'none'})."]
        for u in self.unusable:
            lines.append(f"Left out: {u['title'] or 'a site'} ({u['reason']}).")
        if self.abnormal is not None:
            lines.append(f"Patient-level abnormal probability: {pct(self.abnormal)}.")
        if self.domain == "heart" and self.murmur is not None:
            lines.append(f"Murmur: {self.murmur_call} (patient-level probability {pct(self.murmur)}; the call "
                         "weighs a missed murmur 5 times a false alarm, PhysioNet 2022 weights).")
            if self.murmur_call == "present":
                if self.most_audible_site:
                    lines.append(f"Most audible at the {site_title(self.most_audible_site)}.")
                if self.murmur_sites:
                    lines.append(f"Heard at: {', '.join(site_title(s) for s in self.murmur_sites)}.")
                if self.timing_probabilities:
                    lines.append("Timing: " + ", ".join(f"{t} {pct(p)}" for t, p in self.timing_probabilities.items())
                                 + (f" ({self.timing} called)." if self.timing else " (none called)."))
                for c in self.lesion_candidates:
                    lines.append(f"Candidate {c.name}"
                                 + (f" ({pct(c.probability)})" if c.probability is not None else "")
                                 + f": {c.evidence} [{source_citation(c.sources)}].")
                if self.differential:
                    lines.append(f"Site-pattern differential: {', '.join(self.differential['candidates'])} "
                                 f"[{source_citation(self.differential['sources'])}].")
        for s in self.usable_sites:
            lines.append(f"Site {s.title or '?'}: " + ", ".join(f"{k} {pct(v)}" for k, v in s.findings.items()
                                                              if k in SITE_KEYS) + ".")
        for k, v in self.lung.items():
            where = ", ".join(site_title(s) for s in v["sites"])
            lines.append(f"{k.capitalize()}: " + (f"called at {where} ({v['side'] or 'side not known'}); "
                                                   if v["sites"] else "not called at any site; ")
                         + f"highest site probability {pct(v['probability'])}.")
        return "\n".join(lines)


def _site_result(a) -> SiteResult:
    return SiteResult(a.site, site_title(a.site), a.domain, bool(a.usable),
                      a.unusable_reason if not a.usable else None, dict(a.findings or {}),
                      {k: float(v) for k, v in (getattr(a, "points", None) or {}).items()})


def _lesions(usable: list[SiteResult], loudest: str | None, timing: str | None) -> list[LesionCandidate]:
    """Lesion-head classes ranked by their murmur-weighted probability over the usable sites, each
    with the site pattern as evidence for or against it. The pattern never reorders what the sound
    ranks (the card's rule, ``templates._site_support``: murmurs radiate)."""
    kb = knowledge()["lesions"]
    w = [s.findings.get("murmur", 0.0) for s in usable]
    out = []
    for code in LESION_CODES:
        ps = [s.findings.get(f"lesion_{code}") for s in usable]
        if all(p is None for p in ps):
            continue
        num = sum(wi * (p or 0.0) for wi, p in zip(w, ps))
        prob = num / sum(w) if sum(w) > 0 else sum(p or 0.0 for p in ps) / len(ps)
        entry = kb.get(code, {})
        best = entry.get("best_site")
        if loudest is None:
            fit, ev = "no loudest site", f"best heard at the {site_title(best)}"
        elif best == site_key(loudest):
            fit, ev = "fits", f"loudest at the {site_title(loudest)}, where {lesion_name(code)} is best heard"
        else:
            fit, ev = "does not fit", (f"best heard at the {site_title(best)}, but the murmur is loudest "
                                      f"at the {site_title(loudest)}")
        if timing and entry.get("timing") and timing not in (entry["timing"], "both"):
            fit, ev = "does not fit", ev + f"; its murmur is {entry['timing']}, this one {timing}"
        out.append(LesionCandidate(code, lesion_name(code), prob, fit, ev, list(entry.get("sources", []))))
    return sorted(out, key=lambda c: -(c.probability or 0.0))


def _differential(loudest: str | None, timing: str | None) -> dict | None:
    """The knowledge file's murmur differential for (timing, loudest site), else for the timing."""
    table = knowledge().get("murmur_differentials", [])
    key = site_key(loudest)
    for want in ((timing, key), (timing, None)):
        for row in table:
            if (row.get("timing"), row.get("site")) == want:
                return row
    return None


def exam_findings(analyses: list, calibration: dict | None = None) -> ExamFindings:
    """Patient-level findings of one exam from its per-site analyses (see the module docstring).

    ``analyses`` are AudioAnalysis-like objects (``site``, ``domain``, ``findings``, ``usable``,
    ``unusable_reason``) of one domain. Raises ValueError for an empty exam or mixed domains.
    """
    if not analyses:
        raise ValueError("an exam needs at least one recording")
    domains = {a.domain for a in analyses}
    if len(domains) != 1:
        raise ValueError(f"an exam is one domain; these recordings are {' and '.join(sorted(domains))}")
    cal = calibration or load_calibration()
    domain = domains.pop()
    sites = [_site_result(a) for a in analyses]
    usable = [s for s in sites if s.usable and s.findings]
    unusable = [{"site": s.site, "title": s.title, "reason": s.unusable_reason or "no findings"}
                for s in sites if s not in usable]
    ex = ExamFindings(domain, sites, unusable, calibration={"fitted": cal.get("fitted", False),
                                                             "source": str(CALIBRATION_FILE.name)})
    if domain == "lung":
        for k in ("crackle", "wheeze"):
            have = [s for s in usable if k in s.findings]
            if have:
                at = [s.site for s in have if called(s.findings, k, s.points)]  # as each site's card calls it
                ex.lung[k] = {"probability": max(s.findings[k] for s in have), "sites": at,
                              "side": sidedness(at), "pooling": "max over sites (not recalibrated per patient)"}
        return ex
    if not usable:
        ex.murmur_call = "unknown"
        return ex
    if all("abnormal" in s.findings for s in usable):
        ex.abnormal = patient_probability([s.findings["abnormal"] for s in usable], cal["abnormal"])
    mur = [s for s in usable if "murmur" in s.findings]
    if not mur:
        return ex
    ex.murmur = patient_probability([s.findings["murmur"] for s in mur], cal["murmur"])
    ex.murmur_call = murmur_call(ex.murmur, cal["murmur"].get("unknown_share", 0.0))
    heart = [s for s in mur if site_key(s.site) in HEART_SITE_KEYS] or mur
    loudest = max(heart, key=lambda s: s.findings["murmur"])
    ex.most_audible_site = loudest.site
    thr = cal.get("site_threshold")  # fitted on validation; without it, each site's own call (its points)
    ex.murmur_sites = [s.site for s in sorted(mur, key=lambda s: -s.findings["murmur"])
                       if (s.findings["murmur"] >= thr if thr is not None else called(s.findings, "murmur", s.points))
                       ] or ([loudest.site] if ex.murmur_call == "present" else [])
    w = [s.findings["murmur"] for s in mur]
    for t in ("systolic", "diastolic"):
        ps = [s.findings.get(f"murmur_timing_{t}") for s in mur]
        if all(p is not None for p in ps):
            ex.timing_probabilities[t] = sum(wi * p for wi, p in zip(w, ps)) / max(sum(w), EPS)
    called_t = [t for t, p in ex.timing_probabilities.items() if p >= FINDING_THRESHOLD]
    ex.timing = "both" if len(called_t) == 2 else (called_t[0] if called_t else None)
    if ex.murmur_call == "present":
        ex.lesion_candidates = _lesions(mur, loudest.site, ex.timing)
        ex.differential = _differential(loudest.site, ex.timing)
    return ex
