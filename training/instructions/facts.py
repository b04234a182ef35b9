"""The checkable facts of a record, and their coherent wrong variants (DPO flips)."""

from __future__ import annotations

import random

from training.data import Record

from .vocab import HEART_EVENTS, LESIONS, LUNG_EVENTS, knowledge, site_title


# --------------------------------------------------------------------------- facts


def record_facts(r: Record) -> tuple[dict, dict]:
    """(facts, ctx): the checkable facts the labels support, and descriptive context.

    Only properties of the sound of this recording, in its own domain, become facts: an answer
    about a heart recording never states lung findings (HLS-CMDS mixed files carry both) and no
    answer states a patient property the prompt does not carry (the ICBHI diagnosis, the age
    group, a patient-level outcome). Facts use the shared label names; heart ``abnormal`` is the
    source's normal/abnormal call of the recording, lung ``abnormal`` means adventitious sounds
    present. A patient-level outcome (CirCor, the cardiologist's diagnosis with echo) is asserted
    only where the sound at this site says the same: abnormal with a murmur here, normal without
    one; otherwise the verdict is left unknown. A poor-quality recording asserts only
    ``poor_quality``. ``ctx`` holds what the renderers may say besides the facts (domain, site);
    it carries no patient data. Murmur shape, grade, pitch and quality are left out: the findings
    card (and so the prompt's findings text) cannot show them.
    """
    lab = r.labels
    f: dict = {}
    ctx: dict = {"domain": r.domain, "site": r.site, "site_title": site_title(r.site),
                 "dataset": r.dataset, "mixed": bool(lab.get("mixed")),
                 "murmur_unknown": r.domain == "heart" and lab.get("murmur") == "unknown"}
    if lab.get("poor_quality") and lab.get("abnormal") is None and lab.get("murmur") is None \
            and lab.get("extrasystole") is None and lab.get("crackle") is None:
        f["poor_quality"] = True
        return f, ctx
    heart = r.domain == "heart" and (
        lab.get("abnormal") is not None or lab.get("murmur") is not None or bool(lab.get("lesion"))
        or any(lab.get(k) is not None for k in HEART_EVENTS))
    lung = r.domain == "lung" and any(lab.get(k) is not None for k in LUNG_EVENTS)
    if heart:
        if lab.get("murmur") in ("present", "absent"):
            f["murmur"] = lab["murmur"]
        if lab.get("murmur") == "present" and lab.get("murmur_timing"):
            # Only what the findings card can show: systolic / diastolic. Shape, grade, pitch,
            # quality and the finer timing (CirCor's labels) are not on the card, and an answer
            # must say nothing the card does not (issue 9): the prompt's findings text is the card.
            f["murmur_timing"] = lab["murmur_timing"]
        if lab.get("lesion"):
            f["lesion"] = lab["lesion"]
        for k in HEART_EVENTS:
            if lab.get(k) is not None:
                f[k] = bool(lab[k])
    if lung:
        for k in LUNG_EVENTS:
            if lab.get(k) is not None:
                f[k] = bool(lab[k])
        if lab.get("crackle") and lab.get("crackle_type"):
            f["crackle_type"] = lab["crackle_type"]
    verdict = _verdict(lab, heart, lung)
    if verdict is not None:
        f["abnormal"] = verdict
    if lab.get("poor_quality") is not None:
        f["poor_quality"] = bool(lab["poor_quality"])  # e.g. PASCAL "noisy" recordings keep labels
    return f, ctx


def _verdict(lab: dict, heart: bool, lung: bool) -> bool | None:
    """Normal/abnormal of the recording in its own domain, or None when the sound does not show it."""
    ab = lab.get("abnormal") if heart else lab.get("adventitious") if lung else None
    if ab is None:
        return None
    other = lab.get("adventitious") if heart else lab.get("abnormal")
    if not ab and other:  # mixed recording: this side normal, the other abnormal
        return None
    if lab.get("abnormal_scope") == "patient" and heart:
        here = lab.get("murmur")
        if not ((ab and here == "present") or (not ab and here == "absent")):
            return None  # the outcome is the patient's, and this site's sound does not show it
    return bool(ab)


def only_poor(f: dict) -> bool:
    """True when the recording is too poor to carry any other label (SPRSound "Poor Quality")."""
    return bool(f.get("poor_quality")) and len(f) == 1


def _has_heart(f: dict) -> bool:
    return "murmur" in f or "lesion" in f or any(k in f for k in HEART_EVENTS)


def _has_lung(f: dict) -> bool:
    return any(k in f for k in LUNG_EVENTS)


# --------------------------------------------------------------------------- flips (DPO)


def flips(f: dict, ctx: dict, rng: random.Random) -> list[tuple[str, dict, dict]]:
    """Coherent wrong variants of the facts: [(flipped fact, new facts, new ctx)]."""
    out = []

    def add(name, nf, nctx=None):
        out.append((name, nf, nctx or ctx))

    if "abnormal" in f:
        nf = dict(f)
        if f["abnormal"]:  # wrong "normal" answer: every present finding becomes absent
            nf["abnormal"] = False
            for k in list(nf):
                if nf[k] is True and k != "poor_quality":
                    nf[k] = False
            if nf.get("murmur") == "present":
                nf["murmur"] = "absent"
            for k in ("murmur_timing", "murmur_shape", "murmur_grade", "crackle_type"):
                nf.pop(k, None)
            if nf.get("lesion") not in (None, "N"):
                nf["lesion"] = "N"
        else:  # wrong "abnormal" answer: invent the most typical finding of the domain
            nf["abnormal"] = True
            if "murmur" in nf:
                nf["murmur"], nf["murmur_timing"] = "present", "systolic"
            elif "crackle" in nf:
                nf["crackle"] = True
            elif "wheeze" in nf:
                nf["wheeze"] = True
            if nf.get("lesion") == "N":
                nf["lesion"] = "AS"
                nf["murmur"], nf["murmur_timing"] = "present", "systolic"
        add("abnormal", nf, dict(ctx, timing_detail=None))
    if "murmur" in f:
        nf = dict(f)
        if f["murmur"] == "present":
            nf["murmur"] = "absent"
            for k in ("murmur_timing", "murmur_shape", "murmur_grade"):
                nf.pop(k, None)
        else:
            nf["murmur"], nf["murmur_timing"] = "present", rng.choice(["systolic", "diastolic"])
        add("murmur", nf, dict(ctx, timing_detail=None))
    if "murmur_timing" in f:
        other = {"systolic": "diastolic", "diastolic": "systolic", "both": "systolic"}
        add("murmur_timing", dict(f, murmur_timing=other[f["murmur_timing"]]),
            dict(ctx, timing_detail=None))
    if "lesion" in f:
        choices = [x for x in LESIONS if x != f["lesion"]]
        new = rng.choice(choices)
        nf = dict(f, lesion=new)
        if new == "N":
            nf.update(murmur="absent", abnormal=False)
            nf.pop("murmur_timing", None)
        else:
            les = knowledge()["lesions"][new]
            nf["abnormal"] = True
            if les["timing"] and new != "MVP":
                nf.update(murmur="present", murmur_timing=les["timing"])
            else:
                nf.pop("murmur_timing", None)
                nf.pop("murmur", None)
        nf = {k: v for k, v in nf.items() if k in f or k in ("murmur", "murmur_timing")}
        add("lesion", nf, dict(ctx, timing_detail=None))
    for k in HEART_EVENTS + LUNG_EVENTS:
        if k in f:
            nf = dict(f)
            nf[k] = not f[k]
            if k == "crackle" and not nf[k]:
                nf.pop("crackle_type", None)
            add(k, nf)
    if "crackle_type" in f:
        other = {"fine": "coarse", "coarse": "fine", "both": "fine"}
        add("crackle_type", dict(f, crackle_type=other[f["crackle_type"]]))
    if "murmur_shape" in f:
        add("murmur_shape", dict(f, murmur_shape=rng.choice(
            [s for s in ("plateau", "diamond", "crescendo", "decrescendo") if s != f["murmur_shape"]])))
    if "murmur_grade" in f:
        grades = ["I/VI", "II/VI", "III/VI", "IV/VI"]
        add("murmur_grade", dict(f, murmur_grade=rng.choice([g for g in grades if g != f["murmur_grade"]])))
    if "poor_quality" in f:
        if only_poor(f):
            nf = {"poor_quality": False, "abnormal": False}
        elif f["poor_quality"]:
            nf = dict(f, poor_quality=False)
        else:
            nf = {"poor_quality": True}
        add("poor_quality", nf)
    return out

