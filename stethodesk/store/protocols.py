"""Guided exam protocols from ``resources/protocols.json``. No Qt here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..paths import RESOURCES
from .db import StoreError
from .sites import SITES

PROTOCOLS_FILE = RESOURCES / "protocols.json"
DEFAULT_SECONDS = 15.0  # s per site when a step does not say


@dataclass(frozen=True)
class Step:
    site: str
    domain: str
    seconds: float
    filter: str
    hint: str


@dataclass(frozen=True)
class Protocol:
    key: str
    title: str
    description: str
    domain: str
    steps: tuple[Step, ...]


def protocol_title(key: str | None) -> str:
    """What a person reads for a stored protocol key ("cardiac4" -> its title); "" for None.
    A key no longer in the protocols file is shown tidied up, never raises."""
    if not key:
        return ""
    try:
        found = load_protocols().get(key)
    except StoreError:
        found = None
    return found.title if found is not None else key.replace("_", " ").capitalize()


def load_protocols(path: Path = PROTOCOLS_FILE) -> dict[str, Protocol]:
    """Every protocol, in file order; unknown sites are an error naming the site."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"Cannot read the exam protocols ({path}): {exc}") from None
    out = {}
    for key, p in data.get("protocols", {}).items():
        steps = []
        for s in p["steps"]:
            if s["site"] not in SITES:
                raise StoreError(f"Protocol {key!r} names an unknown site {s['site']!r}.")
            steps.append(Step(s["site"], SITES[s["site"]].domain, float(s.get("seconds", DEFAULT_SECONDS)),
                              s.get("filter", ""), s.get("hint", "")))
        out[key] = Protocol(key, p["title"], p.get("description", ""), p.get("domain", steps[0].domain), tuple(steps))
    return out
