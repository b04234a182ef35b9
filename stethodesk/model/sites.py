"""Chest sites in the words the prompts and answers use. No Qt, no torch.

Training builds its prompts with :func:`site_words` too, so the two never disagree about how a
site is said.
"""

from __future__ import annotations

import functools
import json

from stethodesk import paths

# Encoder site codes (encoder.SITES) in the words the prompts use, for sites the clinical
# knowledge file does not name (the site head's coarse lung regions).
SITE_WORDS = {
    "AV": "aortic area",
    "PV": "pulmonic area",
    "TV": "tricuspid area",
    "MV": "mitral area",
    "trachea": "trachea",
    "anterior": "anterior chest",
    "posterior": "posterior chest",
    "lateral": "lateral chest",
}
SITE_DOMAIN = {"AV": "heart", "PV": "heart", "TV": "heart", "MV": "heart"}  # others: lung
# Codes and words people type -> keys of resources/clinical_knowledge.json "sites".
SITE_ALIASES = {
    "av": "aortic", "pv": "pulmonic", "pulmonary": "pulmonic", "tv": "tricuspid", "mv": "mitral",
    "apex": "mitral", "mitral_/_apex": "mitral", "erb": "erb", "erbs_point": "erb", "erbs": "erb", "phc": "other_heart",
    "tc": "trachea", "tracheal": "trachea",
    "al": "anterior_left", "ar": "anterior_right", "pl": "posterior_left", "pr": "posterior_right",
    "ll": "lateral_left", "lr": "lateral_right",
}
KNOWLEDGE_FILE = paths.RESOURCES / "clinical_knowledge.json"


@functools.lru_cache(maxsize=1)
def _site_titles() -> dict[str, str]:
    """clinical_knowledge.json site key -> title ("posterior_left" -> "left posterior chest")."""
    sites = knowledge_sites()
    return {k: str(v.get("title", k.replace("_", " "))) for k, v in sites.items()}


def site_words(site: str | None) -> str | None:
    """A site as the prompts say it (training uses this very function for its prompts).

    Accepts the dataset keys of ``resources/clinical_knowledge.json`` ("mitral",
    "posterior_left"), their titles, valve codes ("MV", "apex"), ICBHI codes ("Pl") and
    plain words ("left posterior"). Returns the knowledge title ("mitral area", "left posterior
    chest"), else the site head's words, else the text as given; None for no site.
    """
    if site is None or not str(site).strip():
        return None
    text = str(site).strip()
    titles = _site_titles()
    key = text.lower().replace("-", "_").replace(" ", "_").replace("'", "")
    key = SITE_ALIASES.get(key, key)
    if key in titles:
        return titles[key]
    for title in titles.values():
        if title.lower() == text.lower():
            return title
    parts = key.split("_")
    if len(parts) >= 2 and parts[0] in ("left", "right"):  # "left_posterior" -> "posterior_left"
        swapped = "_".join(parts[1:] + parts[:1])
        if swapped in titles:
            return titles[swapped]
    from stethodesk.model.encoder import normalise_site

    code = normalise_site(text)
    return SITE_WORDS.get(code, text) if code else text


@functools.lru_cache(maxsize=1)
def knowledge_sites() -> dict:
    """clinical_knowledge.json "sites": key -> entry (title, what it listens to, sources)."""
    try:
        return json.loads(KNOWLEDGE_FILE.read_text(encoding="utf-8")).get("sites", {})
    except (OSError, ValueError):
        return {}


def predicted_site(analysis) -> str | None:
    """The most probable site from the site head, among sites of the analysis's domain."""
    best, best_p = None, 0.0
    for key, p in analysis.findings.items():
        if key.startswith("site_"):
            code = key[len("site_"):]
            if SITE_DOMAIN.get(code, "lung") == analysis.domain and p > best_p:
                best, best_p = code, p
    return best
