"""Plainly worded answers built only from the card's facts: always correct, never invented.

:func:`template_answer` writes an answer for each preset task of
``resources/prompts/tasks.json`` from :func:`stethodesk.model.facts.card_facts` (and, for the
site and differential texts, ``resources/clinical_knowledge.json`` with its sources). It is the
fallback when a generated answer fails :func:`stethodesk.model.grounding.verify`, so its wording
follows the training answers (``training/instructions.py``: "Impression:", "In this recording:",
"Recording A ... Overall, ...") and every answer passes the checker against its facts and
states nothing :func:`verify` would flag. Calibrated percentages are the card's (whole percent).
No Qt, no torch.
"""

from __future__ import annotations

import re

from stethodesk.model.facts import (
    HEART_SITE_KEYS, knowledge, lesion_name, lesion_ranking, pct, site_domain, site_key, site_title,
    source_citation,
)
from stethodesk.model.vocabulary import EVENT_NAMES, HEART_EVENTS, LUNG_EVENTS

TASKS = ("binary", "detection", "report", "reasoning", "differential", "comparison", "location")
MAX_CANDIDATES = 3  # ranked candidates named in a differential (training answers name <= 3)


def join_words(items: list[str], conj: str = "and") -> str:
    """"a, b and c" (empty items left out); shared with the training answers' wording."""
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conj} " + items[-1]


_join = join_words


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _are(items: list[str]) -> str:
    """Verb number for a list of sound names ("crackles are", "a murmur is", "S3 is")."""
    if len(items) > 1:
        return "are"
    word = items[0].split(" (")[0] if items else ""
    plural = not word.startswith(("a ", "an ")) and word.endswith(("s", "rhonchi"))
    return "are" if plural else "is"


def _p(findings: dict, key: str, label: str = "") -> str:
    return f"{label}{pct(findings[key])}" if key in findings else ""


def present_absent(facts: dict, findings: dict, percentages: bool = True) -> tuple[list[str], list[str]]:
    """(present phrases with percentages, absent short names) of the facts' events."""
    pres, absn = [], []
    if facts.get("murmur") == "present":
        timing = facts.get("murmur_timing")
        words = {"both": "systolic and diastolic", None: ""}.get(timing, timing)
        phrase = f"a {words} murmur".replace("  ", " ")
        if percentages:
            nums = [_p(findings, "murmur", "murmur ")]
            nums += [_p(findings, f"murmur_timing_{t}", f"{t} ") for t in ("systolic", "diastolic")
                     if timing in (t, "both")]
            nums = [n for n in nums if n]
            phrase += f" ({', '.join(nums)})" if nums else ""
        pres.append(phrase)
    elif facts.get("murmur") == "absent":
        absn.append("murmur")
    for key in HEART_EVENTS + LUNG_EVENTS:
        if key in facts:
            if facts[key]:
                name = EVENT_NAMES[key][0]
                if key == "crackle" and facts.get("crackle_type"):
                    name = {"both": "fine and coarse"}.get(facts["crackle_type"], facts["crackle_type"]) + " crackles"
                num = _p(findings, key) if percentages else ""
                pres.append(f"{name} ({num})" if num else name)
            else:
                absn.append(EVENT_NAMES[key][1])
    return pres, absn


def heard_sentence(facts: dict, findings: dict, percentages: bool = True) -> str:
    """"A systolic murmur (murmur 83%, systolic 91%) is heard. No S3 is heard." (no verdict)."""
    pres, absn = present_absent(facts, findings, percentages)
    parts = []
    if pres:
        parts.append(f"{_cap(_join(pres))} {_are(pres)} heard.")
    if absn:
        parts.append(f"No {_join(absn, 'or')} {_are(absn)} heard.")
    return " ".join(parts)


def _short(facts: dict, findings: dict) -> str:
    """"abnormal; a systolic murmur; no S3; quality adequate" for one side of a comparison."""
    pres, absn = present_absent(facts, findings)
    bits = ["abnormal" if facts["abnormal"] else "normal"] if "abnormal" in facts else []
    bits += [_join(pres)] if pres else []
    bits += [f"no {_join(absn, 'or')}"] if absn else []
    if facts.get("lesion"):
        bits.append(f"consistent with {lesion_name(facts['lesion'])}")
    if "poor_quality" in facts:
        bits.append("quality poor" if facts["poor_quality"] else "quality adequate")
    return "; ".join(bits) or "no findings"


def _lesion_clause(facts: dict, findings: dict) -> str:
    code = facts.get("lesion")
    if not code:
        return ""
    num = _p(findings, f"lesion_{code}")
    return f"consistent with {lesion_name(code)}" + (f" ({num})" if num else "")


def _quality(facts: dict, quality_level: str | None) -> str:
    if "poor_quality" not in facts:
        return ""
    if facts["poor_quality"]:
        return "Recording quality is poor; read these findings with caution."
    return "Recording quality is adequate" + (f" (signal {quality_level})." if quality_level else ".")


def _no_specific(facts: dict, findings: dict, domain: str) -> str:
    """For an abnormal card with no specific sound called (the overall pattern head)."""
    num = _p(findings, "abnormal")
    return (f"The overall {domain} sound pattern scores abnormal{f' ({num})' if num else ''}, "
            "but no specific sound is called.")


def _specific(facts: dict) -> bool:
    return facts.get("murmur") == "present" or any(facts.get(k) for k in HEART_EVENTS + LUNG_EVENTS)


def _basis(facts: dict, findings: dict) -> str:
    """The most probable called sound with its percentage ("wheezes 31%"): the card's headline
    (``facts.headline``) read from the facts, so it follows the operating points they were called at."""
    keys = [k for k in ("murmur",) + HEART_EVENTS + LUNG_EVENTS if facts.get(k) in (True, "present") and k in findings]
    if not keys:
        return ""
    key = max(keys, key=lambda k: float(findings[k]))
    return f"{EVENT_NAMES.get(key, (None, key))[1]} {pct(findings[key])}"


# ---------------------------------------------------------------------------- the tasks


def _binary(f, fi, domain, q, **_):
    if f["abnormal"]:
        lesion = _lesion_clause(f, fi)
        heard = heard_sentence(f, fi)
        if lesion:
            heard = heard.replace(" heard.", f" heard, {lesion}.", 1)
        if not _specific(f):
            heard += " " + _no_specific(f, fi, domain)
        return f"Abnormal. {heard} {q}"
    return f"Normal. {heard_sentence(f, fi)} {q}"


def _detection(f, fi, domain, q, **_):
    pres, absn = present_absent(f, fi)
    if pres:
        text = f"Detected: {_join(pres)}."
        text += f" {_cap(_lesion_clause(f, fi))}." if f.get("lesion") else ""
    else:  # "no specific abnormal sound" would read as a normal verdict
        text = "No specific added sound is detected." if f["abnormal"] else "Nothing abnormal is detected."
    if absn:
        text += f" Not detected: {_join(absn)}."
    basis = _basis(f, fi)  # non-empty only for a called sound with its probability
    verdict = f"abnormal ({basis})" if basis else ("abnormal" if f["abnormal"] else "normal")
    text += f" Overall: {verdict}."
    if f["abnormal"] and not _specific(f):
        text += " " + _no_specific(f, fi, domain)
    return f"{text} {q}"


def _report(f, fi, domain, q, *, site=None, heart_rate_bpm=None, quality_level=None, **_):
    lines = [f"Site: {site_title(site)}."] if site_title(site) else []
    if domain == "heart" and heart_rate_bpm:
        lines.append(f"Heart rate: {heart_rate_bpm:.0f} bpm.")
    if f.get("murmur") == "present":
        timing = f.get("murmur_timing")
        line = "Murmur: present" + (f" ({pct(fi['murmur'])})" if "murmur" in fi else "")
        if timing:  # "systolic (90%)", "systolic (90%) and diastolic (70%)"
            line += ", " + " and ".join(t + (f" ({pct(fi[f'murmur_timing_{t}'])})" if f"murmur_timing_{t}" in fi
                                             else "") for t in ("systolic", "diastolic") if timing in (t, "both"))
            lines.append(line + ".")
        else:
            lines.append(line + "; its timing is not called.")
    elif f.get("murmur") == "absent":
        lines.append("Murmur: none.")
    for key in HEART_EVENTS + LUNG_EVENTS:
        if key in f:
            name = EVENT_NAMES[key][1]
            val = f"present ({pct(fi[key])})" if f[key] and key in fi else "present" if f[key] else "absent"
            lines.append(f"{_cap(name)}: {val}.")
    if "poor_quality" in f:
        lines.append("Quality: poor; read with caution." if f["poor_quality"] else
                     "Quality: adequate" + (f" (signal {quality_level})." if quality_level else "."))
    imp = ["abnormal" if f["abnormal"] else "normal", _lesion_clause(f, fi)]
    lines.append(f"Impression: {', '.join(i for i in imp if i)}.")
    if f["abnormal"] and not _specific(f):
        lines.append(_no_specific(f, fi, domain))
    return "\n".join(lines)


def _lung_pattern(f: dict) -> str | None:
    if f.get("crackle") and f.get("wheeze"):
        return "crackle_wheeze"
    if f.get("crackle"):
        return f"crackle_{f['crackle_type']}" if f.get("crackle_type") in ("fine", "coarse") else "crackle"
    return next((k for k in ("wheeze", "rhonchi", "stridor", "pleural_rub") if f.get(k)), None)


SITE_ROLES = {"recorded": "where this was recorded",  # one recording: the site it was made at
              "loudest": "the loudest site of this exam"}  # an exam: its most audible site


def _site_support(f: dict, fi: dict, site: str | None, role: str = "recorded") -> str:
    """The site as supporting evidence only: it never reorders what the sound ranks."""
    key, ranking = site_key(site), [c for c, _ in lesion_ranking(fi)]
    if key not in HEART_SITE_KEYS or not ranking:
        return ""
    top, timing = ranking[0], f.get("murmur_timing")
    lesions = knowledge()["lesions"]
    # lesions typically loudest here whose murmur has the called timing (AS is no help to a diastolic one)
    here = [c for c in ranking if lesions.get(c, {}).get("best_site") == key
            and (timing in (None, "both") or lesions[c]["timing"] == timing)]
    title = site_title(key)
    if top in here:
        return f"The {title}, {SITE_ROLES[role]}, is where {lesion_name(top)} is typically loudest, which supports it."
    if here:
        names = _join([lesion_name(c) for c in here], "and")
        return (f"At the {title}, {SITE_ROLES[role]}, {names} {'are' if len(here) > 1 else 'is'} typically "
                f"loudest; murmurs radiate, so the site does not change the order the sound gives.")
    return ""


def _murmur_table(f: dict, key: str | None) -> dict:
    table = knowledge()["murmur_differentials"]
    t = f.get("murmur_timing")
    return next((e for e in table if e["timing"] == t and e["site"] == key), None) or \
        next((e for e in table if e["timing"] == t and e["site"] is None), None) or \
        next(e for e in table if e["timing"] is None)


def _differential(f, fi, domain, q, *, site=None, site_role="recorded", **_):
    heard = heard_sentence(f, fi)
    if not f["abnormal"]:
        return f"No differential is suggested by this recording: it is normal. {heard} {q}"
    basis = f"Basis: abnormal. {heard}"
    if domain == "lung":
        pat = _lung_pattern(f)
        if pat is None:
            return f"{_no_specific(f, fi, domain)} No ranked differential can be given. {basis} {q}"
        entry = knowledge()["lung_patterns"][pat]
        ranked = "; ".join(f"{i + 1}. {c}" for i, c in enumerate(entry["candidates"][:MAX_CANDIDATES]))
        return (f"Differential for {entry['name']} (textbook order; this model scores no lung diagnoses): "
                f"{ranked} ({source_citation(entry['sources'])}). {basis} {q}")
    if f.get("murmur") != "present":
        events = [k for k in HEART_EVENTS if f.get(k)]
        if not events:
            return (f"{_no_specific(f, fi, domain)} No murmur is called, so no valve lesion can be ranked; "
                    f"a clinical review (for example echocardiography) is advised. {basis} {q}")
        entry = knowledge()["heart_events"][events[0]]
        ranked = "; ".join(f"{i + 1}. {c}" for i, c in enumerate(entry["candidates"][:MAX_CANDIDATES]))
        return (f"Differential for {entry['name']} (textbook order): {ranked} "
                f"({source_citation(entry['sources'])}). {basis} {q}")
    ranking = [(c, p) for c, p in lesion_ranking(fi) if p >= 0.01][:MAX_CANDIDATES]
    key = site_key(site)
    entry = _murmur_table(f, key)
    where = f" at the {site_title(key)}" if key and entry["site"] == key else ""
    timing = {"both": "systolic and diastolic", None: ""}.get(f.get("murmur_timing"), f.get("murmur_timing"))
    kind = f"{timing} murmur".strip()
    others = [c for c in entry["candidates"]
              if not any(lesion_name(code) in c for code, _ in ranking)][:MAX_CANDIDATES]
    text = ""
    if ranking:
        ranked = "; ".join(f"{i + 1}. {lesion_name(c)} ({pct(p)})" for i, (c, p) in enumerate(ranking))
        text = f"Differential, ranked by the lesion findings (most likely first): {ranked}."
        if not f.get("lesion"):
            text += " None of them reaches 50%, so the ranking is tentative."
        text += " " + _site_support(f, fi, site, site_role)
    if others:
        label = "Other textbook causes" if ranking else "Textbook causes"
        text += (f" {label} of a {kind}{where}, in textbook order: {_join(others, 'and')} "
                 f"({source_citation(entry['sources'])}).")
    return f"{text.strip()} {basis}{' ' + _cap(_lesion_clause(f, fi)) + '.' if f.get('lesion') else ''} {q}"


def _reasoning(f, fi, domain, q, *, site=None, site_role="recorded", **_):
    heard = heard_sentence(f, fi) or "No events are called."
    heard = heard if heard[1:2].isupper() else heard[:1].lower() + heard[1:]  # not "S3 ..."
    concl = ["abnormal" if f["abnormal"] else "normal", _lesion_clause(f, fi).split(" (")[0]]
    conclusion = f"Conclusion: {', '.join(c for c in concl if c)}."
    if not f["abnormal"]:
        # a colon ends the negation's scope for the checker ("no added sounds: the normal ...")
        why = ("only S1 and S2 with no added sounds: the normal pattern." if domain == "heart" else
               "breath sounds without added sounds: the normal pattern.")
    elif f.get("murmur") == "present":
        timing = f.get("murmur_timing")
        why = ({"systolic": "a systolic murmur means turbulent flow while the ventricles contract",
                "diastolic": "a diastolic murmur means turbulent flow while the ventricles fill, which is "
                             "rarely innocent",
                "both": "a murmur in systole and diastole means turbulent flow in both phases"}
               .get(timing, "a murmur means turbulent blood flow; its timing is not called"))
        ranking = lesion_ranking(fi)
        if ranking:
            top, p = ranking[0]
            why += f"; the lesion findings rank {lesion_name(top)} first ({pct(p)})"
            why += "." if f.get("lesion") else ", below 50%, so the cause stays open."
            why += (" " + _site_support(f, fi, site, site_role)).rstrip()
        else:
            why += "."
    elif domain == "lung" and _lung_pattern(f):
        entry = knowledge()["lung_patterns"][_lung_pattern(f)]
        verb = "is" if entry["name"] in ("stridor", "pleural friction rub") else "are"
        why = (f"{entry['name']} {verb} {entry['meaning']}; textbooks associate them with "
               f"{_join(entry['candidates'][:2], 'or')} ({source_citation(entry['sources'])}).")
    elif _specific(f):
        key = next(k for k in HEART_EVENTS if f.get(k))
        why = f"{EVENT_NAMES[key][1]}: {knowledge()['heart_events'][key]['meaning']}."
    else:
        why = "t" + _no_specific(f, fi, domain)[1:] + " A clinical review is advised."
    return f"Heard: {heard} Reasoning: {why} {conclusion} {q}"


def _location(f, fi, domain, q, *, site=None, site_role="recorded", **_):
    key = site_key(site)
    if key is None and site and str(site).strip():  # a site the knowledge file has no entry for
        intro = (f"The site given is the {str(site).strip()}; the app's site knowledge has no entry "
                 "for it, so nothing site-specific can be said.")
    elif key is None:
        intro = "The recording site is not given, so nothing site-specific can be said."
    else:
        s = knowledge()["sites"][key]
        if site_domain(key) == domain:
            intro = (f"The {s['title']} ({s['where']}) listens to {s['listens_to'].split(';')[0]}. "
                     f"Typically heard here: {s['typical'][0]} ({source_citation(s['sources'])}).")
        else:  # a heart site in a lung answer (or the reverse) says nothing about the other organ
            intro = f"The {s['title']} is not a usual {domain} site, so it only tells where the chest piece was."
    verdict = "abnormal" if f["abnormal"] else "normal"
    heard = heard_sentence(f, fi)
    this = "In this exam" if site_role == "loudest" else "In this recording"
    body = f"{this}: {heard[:1].lower() + heard[1:]}" if heard else f"{this}:"
    lesion = _lesion_clause(f, fi)
    return f"{intro} {body} Overall {verdict}{', ' + lesion if lesion else ''}. {q}"


def _comparison(f, fi, domain, q, *, site=None, other_facts=None, site_b=None, other_findings=None, **_):
    fb = other_facts or {}
    sa = f" ({site_title(site)})" if site_title(site) else ""
    sb = f" ({site_title(site_b)})" if site_title(site_b) else ""
    text = f"Recording A{sa}: {_short(f, fi)}. Recording B{sb}: {_short(fb, other_findings or {})}."
    if "abnormal" in f and "abnormal" in fb:
        if f["abnormal"] == fb["abnormal"]:
            text += f" Overall, both are {'abnormal' if f['abnormal'] else 'normal'}."
        else:
            text += f" Overall, only {'A' if f['abnormal'] else 'B'} is abnormal."
    return text


RENDER = {"binary": _binary, "detection": _detection, "report": _report, "reasoning": _reasoning,
          "differential": _differential, "comparison": _comparison, "location": _location}


def template_answer(task: str, facts: dict, domain: str, *, site: str | None = None,
                    heart_rate_bpm: float | None = None, quality_level: str | None = None,
                    other_facts: dict | None = None, site_b: str | None = None,
                    findings: dict | None = None, other_findings: dict | None = None,
                    site_role: str = "recorded") -> str:
    """A plainly worded answer to a preset task, built only from the card's facts.

    Parameters
    ----------
    task : str
        One of :data:`TASKS`.
    facts : dict
        :func:`stethodesk.model.facts.card_facts` of the recording (A for "comparison").
    domain : {"heart", "lung"}
    site, site_b : str, optional
        Chest sites of A and B (key, title or code); the location and differential texts
        come from ``resources/clinical_knowledge.json`` with their sources.
    heart_rate_bpm : float, optional
        Beats per minute, stated in the heart report.
    quality_level : {"good", "fair", "poor"}, optional
    other_facts, other_findings : dict, optional
        Recording B's facts and findings ("comparison").
    findings : dict, optional
        Calibrated probabilities of A, for the percentages and the lesion ranking.
    site_role : {"recorded", "loudest"}
        What ``site`` is: where this recording was made, or an exam's most audible site.

    Returns
    -------
    str
        The answer; it passes ``check(answer, facts)`` (``comparison_facts`` for a comparison)
        and :func:`stethodesk.model.grounding.verify` with the prompt's facts text allowed.
    """
    if task not in RENDER:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    if not facts or (task == "comparison" and not other_facts):
        return "No findings are available for this recording, so no answer can be given."
    q = _quality(facts, quality_level)
    if site_role not in SITE_ROLES:
        raise ValueError(f"site_role must be one of {', '.join(SITE_ROLES)}, not {site_role!r}")
    text = RENDER[task](facts, findings or {}, domain, q, site=site, heart_rate_bpm=heart_rate_bpm,
                        quality_level=quality_level, other_facts=other_facts, site_b=site_b,
                        other_findings=other_findings, site_role=site_role)
    return re.sub(r" {2,}", " ", text).strip()
