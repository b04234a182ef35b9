"""Shared vocabulary of the instruction data: tasks, event names, the clinical knowledge file."""

from __future__ import annotations

import json
from functools import lru_cache

from stethodesk.paths import RESOURCES

from stethodesk.model.vocabulary import EVENT_NAMES as _APP_EVENT_NAMES
from stethodesk.model.vocabulary import LUNG_EVENTS  # noqa: F401 - re-exported
from training.data import HEART_SITES, LUNG_SITES

TASKS = ("binary", "detection", "report", "reasoning", "differential", "comparison", "location")
MAX_TOKENS = {"report": 120}  # rough token budget per answer (others: DEFAULT_MAX_TOKENS)
DEFAULT_MAX_TOKENS = 80
N_REJECTED = 3

HEART_EVENTS = ("extrasystole", "s3", "s4", "atrial_fibrillation", "av_block", "tachycardia")
LESIONS = ("N", "AS", "MR", "MS", "MVP")

# Display names (present form, short form) are the app's own (stethodesk.model.vocabulary), so the
# training answers and the run-time templates name every event the same way; the generator's
# order of heart events (which the texts follow) stays its own.
EVENT_NAMES = {k: v for k, v in _APP_EVENT_NAMES.items() if k != "murmur"}


@lru_cache(maxsize=1)
def knowledge() -> dict:
    """The clinical knowledge file (resources/clinical_knowledge.json)."""
    return json.loads((RESOURCES / "clinical_knowledge.json").read_text())


def site_title(site: str | None) -> str | None:
    if site is None:
        return None
    return knowledge()["sites"].get(site, {}).get("title", site.replace("_", " "))


def site_domain(site: str | None) -> str | None:
    """The domain ("heart" or "lung") a dataset site key belongs to; None when unknown."""
    return "heart" if site in HEART_SITES else "lung" if site in LUNG_SITES else None
