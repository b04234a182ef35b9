"""The whole-exam findings in words for the Patients tab, and where they sit on the chest map.

Input is an exam findings snapshot: the dict of :meth:`stethodesk.model.exam.ExamFindings.to_dict`
as stored with a whole-exam answer (``exam_analyses.exam_findings``) or pooled from the stored
analyses (:func:`stethodesk.store.exam_analyse.stored_exam_findings`). Its sites are named the way
the engine names them ("AV", "Erb's point", "anterior"); :func:`site_keys` finds the map's keys
("aortic", "anterior_upper_left") for them. Probabilities are calibrated, in [0, 1].
"""

from __future__ import annotations

import html

from stethodesk.model.exam import sidedness
from stethodesk.model.exam_answer import TEMPLATE
from stethodesk.model.facts import called, pct
from stethodesk.store import SITES, site_title
from stethodesk.store.analyse import engine_site


def _engine_name(key: str) -> str:
    return engine_site(key) or key


def site_keys(store, exam_id: int, snap: dict) -> list[str | None]:
    """The map key of each of ``snap["sites"]`` (same order), None where it cannot be told.

    When the exam's recordings of the snapshot's domain still line up with its sites one to one
    (as :func:`stethodesk.store.exam_analyse.analyse_exam` listed them), each site is its
    recording's key, which keeps the lung sites' level and side; otherwise a heart code is looked
    up on the map (AV -> aortic) and an ambiguous name ("anterior") gives None.
    """
    sites = snap.get("sites") or []
    domain = snap.get("domain")
    recs = [r for r in store.list_recordings(exam_id) if r.domain == domain] if exam_id is not None else []
    if len(recs) == len(sites) and all(_engine_name(r.site) == s.get("site") for r, s in zip(recs, sites)):
        return [r.site for r in recs]
    return [key_of(s.get("site"), domain) for s in sites]


def key_of(site: str | None, domain: str | None = "heart") -> str | None:
    """The one map key the engine calls ``site`` ("AV" -> "aortic"), else None."""
    if site in SITES:
        return site
    hits = [k for k, v in SITES.items() if (domain is None or v.domain == domain) and _engine_name(k) == site]
    return hits[0] if len(hits) == 1 else None


def loudest_key(snap: dict) -> str | None:
    """The map key of the snapshot's most audible (murmur) site, else None."""
    return key_of(snap.get("most_audible_site"), "heart") if snap else None


def _pct(p) -> str:
    return "not assessable" if p is None else pct(p)  # the card's rounding: ">99%", never "100%"


def _title(site: str | None, key: str | None, fallback: str | None = None) -> str:
    return site_title(key).split(" (")[0] if key else (fallback or site or "a site")


def findings_html(snap: dict, keys: list[str | None]) -> str:
    """The exam findings as rich text: murmur call with probabilities, most audible site and the
    sites it is heard at (heart); crackles and wheezes with sites and side (lung); each usable
    site's own figures; the unusable sites with their reason. ``keys`` from :func:`site_keys`."""
    sites = snap.get("sites") or []
    title = {s.get("site"): _title(s.get("site"), k, s.get("title")) for s, k in zip(sites, keys)}
    usable = [(s, k) for s, k in zip(sites, keys) if s.get("usable") and s.get("findings")]
    esc = html.escape
    out = [f"<b>Whole {esc(snap.get('domain', ''))} exam</b>: {len(usable)} of {len(sites)} sites usable."]
    if snap.get("domain") == "heart":
        call = snap.get("murmur_call") or "unknown"
        words = {"present": "present", "absent": "absent", "unknown": "unknown (cannot be called)"}[call]
        out.append(f"<b>Murmur: {words}</b> &middot; patient-level probability {_pct(snap.get('murmur'))}"
                   f" &middot; abnormal {_pct(snap.get('abnormal'))}")
        if call != "absent":
            # a call of present or unknown below 50 % reads as a contradiction unless the rule is said
            out.append("<i>The call weighs a missed murmur 5 times a false alarm (PhysioNet 2022 "
                       "weights), so it can be present or unknown below 50 %.</i>")
        loud = snap.get("most_audible_site")
        if loud:
            out.append(f"Most audible: <b>{esc(title.get(loud, loud))}</b>")
        heard = snap.get("murmur_sites") or []
        if heard and call == "present":
            out.append("Heard at: " + esc(", ".join(title.get(s, s) for s in heard)))
        if call == "present" and snap.get("timing"):
            out.append(f"Timing: {esc(snap['timing'])}")
        for c in (snap.get("lesion_candidates") or [])[:2]:
            out.append(f"Candidate {esc(c['name'])} {_pct(c.get('probability'))}: site pattern {esc(c['site_pattern'])}")
        fitted = (snap.get("calibration") or {}).get("fitted")
        out.append("<i>" + ("Calibrated at patient level on CirCor validation patients." if fitted else
                            "Not recalibrated at patient level (no fitted calibration file).") + "</i>")
    else:
        for name, v in (snap.get("lung") or {}).items():
            # the sites exam_findings called (own probability at that recording's operating point; a
            # snapshot stored before points has none: 0.5), by their map keys
            at = [(s, k) for s, k in usable if called(s["findings"], name, s.get("points"))]
            side = sidedness([k for _, k in at if k]) or v.get("side") or "side not known"
            where = ", ".join(_title(s.get("site"), k, s.get("title")) for s, k in at)
            out.append(f"<b>{esc(name.capitalize())}s</b>: " + (f"called at {esc(where)} ({esc(side)})" if at
                                                             else "not called at any site")
                       + f" &middot; highest site {_pct(v.get('probability'))}")
        out.append("<i>Lung findings are the highest site's, not recalibrated per patient.</i>")
    for s, k in usable:
        f = s["findings"]
        figs = ", ".join(f"{n} {_pct(f[n])}" for n in ("murmur", "abnormal", "crackle", "wheeze") if n in f)
        out.append(f"&nbsp;&nbsp;{esc(_title(s.get('site'), k, s.get('title')))}: {figs}")
    for (s, k) in zip(sites, keys):
        if not (s.get("usable") and s.get("findings")):
            reason = next((u["reason"] for u in snap.get("unusable", []) if u.get("site") == s.get("site")),
                          s.get("unusable_reason") or "no findings")
            out.append(f"<span style='color:#8a4b00'>Left out: {esc(_title(s.get('site'), k, s.get('title')))}"
                       f" &mdash; {esc(reason)}</span>")
    return "<br>".join(out)


def source_note(grounding: dict | None, answer_source: str, model: str, why: bool = True) -> str:
    """One line saying which path produced a stored exam answer (``answer_source`` as the CLI's)
    and, with ``why``, why the model's own answer was withheld; then the model's name and version."""
    g = grounding or {}
    if answer_source == TEMPLATE:
        found = g.get("violations") or []
        first = found[0].get("message") if found and isinstance(found[0], dict) else None
        if not g.get("withheld"):
            how = "exam template (the model was not asked)"
        elif why:
            how = ("exam template (the model's answer disagreed with the exam findings and was withheld"
                   + (f": {first})" if first else ")"))
        else:
            how = "exam template, model answer withheld"
    else:
        how = answer_source or "model"
    return f"Answered by: {how} \u00b7 {model}"
