"""Chest sites offered by the record panel (from ``stethodesk.store.sites`` when available)."""

from __future__ import annotations

FALLBACK = {
    "heart": [
        ("aortic", "Aortic (2nd right intercostal space)"),
        ("pulmonic", "Pulmonic (2nd left intercostal space)"),
        ("erb", "Erb's point (3rd left intercostal space)"),
        ("tricuspid", "Tricuspid (4th left intercostal space)"),
        ("mitral", "Mitral / apex (5th intercostal space)"),
    ],
    "lung": [
        (f"{side}_{level}_{lr}", f"{side.capitalize()} {level} {lr}")
        for side in ("anterior", "posterior")
        for level in ("upper", "middle", "lower")
        for lr in ("right", "left")
    ],
}


def sites_for(domain: str) -> list[tuple[str, str]]:
    """``(key, title)`` pairs of the sites of ``domain`` ("heart" or "lung")."""
    try:
        from stethodesk.store.sites import SITES

        found = [(k, s.title) for k, s in SITES.items() if s.domain == domain]
        if found:
            return found
    except ImportError:
        pass
    return list(FALLBACK.get(domain, []))


def site_title(key: str | None) -> str:
    if not key:
        return "unspecified site"
    for domain in ("heart", "lung"):
        for k, title in sites_for(domain):
            if k == key:
                return title
    return key.replace("_", " ")
