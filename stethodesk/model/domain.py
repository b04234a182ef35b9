"""Heart or lung: which findings apply to a domain, and the warning when a given domain and the
lung-sound detector disagree. No Qt here. Used by :mod:`stethodesk.model.engine`."""

from __future__ import annotations

from stethodesk.model.facts import pct

__all__ = ["DOMAIN_DOUBT", "IS_LUNG_THRESHOLD", "domain_warning"]

IS_LUNG_THRESHOLD = 0.5  # is_lung probability above which domain="auto" means lung
DOMAIN_DOUBT = 0.8  # a given domain the detector puts below 1 - 0.8 = 20 % gets a warning


def domain_warning(findings: dict[str, float], domain: str, source: str) -> str | None:
    """A plain warning when the domain was given but the lung-sound detector clearly disagrees
    (probability beyond :data:`DOMAIN_DOUBT`), else None: the findings of the other organ's heads
    are then read from a sound they were not trained on."""
    p_lung = findings.get("is_lung")
    if source != "given" or p_lung is None:
        return None
    p_this = p_lung if domain == "lung" else 1.0 - p_lung
    if p_this >= 1.0 - DOMAIN_DOUBT:
        return None
    other = "heart" if domain == "lung" else "lung"
    return (f"This sounds like a {other} recording (the {other}-sound detector gives {pct(1.0 - p_this)}), "
            f"but it was analysed as {domain} as asked: the {domain} findings may not mean anything here. "
            f"Check the exam type, or let the app detect it.")


def _for_domain(findings: dict[str, float], domain: str, heads_cfg: dict) -> dict[str, float]:
    """Keep findings whose head applies to ``domain`` ("any" heads always)."""
    from stethodesk.model.encoder import HEADS

    out = {}
    for key, p in findings.items():
        head = max((h for h in HEADS if key == h or key.startswith(h + "_")), key=len, default=None)
        dom = (heads_cfg.get(head) or {}).get("domain") or (HEADS[head].domain if head else "any")
        if dom in ("any", domain):
            out[key] = p
    return out
