"""Auscultation sites and where they sit on ``resources/bodymap.svg``. No Qt here.

Coordinates are in the SVG's user units (viewBox 0 -24 800 504): the front view
of the torso is centred on x=200, the back view on x=600. In the front view the
patient's right is on the viewer's left (as when facing the patient); in the
back view the patient's left is on the viewer's left.
"""

from __future__ import annotations

from dataclasses import dataclass

FRONT_X = 200.0  # SVG units: midline of the front view
BACK_X = 600.0  # SVG units: midline of the back view
LUNG_DX = 62.0  # SVG units: lung sites' distance from the midline (midclavicular / scapular line)
LATERAL_DX = 104.0  # SVG units: mid-axillary line, drawn at the torso's edge in the front view
LUNG_Y = {"upper": 135.0, "middle": 195.0, "lower": 255.0}  # SVG units, anterior/posterior
LATERAL_Y = {"upper": 170.0, "middle": 220.0, "lower": 270.0}  # SVG units


@dataclass(frozen=True)
class Site:
    """One place the stethoscope goes.

    key: stable identifier stored in the database; title: what the clinician reads;
    domain: "heart" or "lung"; view: "front" or "back"; x, y: SVG units;
    code: the short code used by public datasets (CirCor AV/PV/TV/MV), or "".
    """

    key: str
    title: str
    domain: str
    view: str
    x: float
    y: float
    code: str = ""


def _heart_sites() -> list[Site]:
    return [
        Site("aortic", "Aortic (2nd right intercostal space)", "heart", "front", FRONT_X - 16, 150, "AV"),
        Site("pulmonic", "Pulmonic (2nd left intercostal space)", "heart", "front", FRONT_X + 16, 150, "PV"),
        Site("erb", "Erb's point (3rd left intercostal space)", "heart", "front", FRONT_X + 20, 178, ""),
        Site("tricuspid", "Tricuspid (4th left intercostal space)", "heart", "front", FRONT_X + 14, 208, "TV"),
        Site("mitral", "Mitral / apex (5th intercostal space)", "heart", "front", FRONT_X + 50, 232, "MV"),
    ]


def _lung_sites() -> list[Site]:
    sites = []
    for level, y in LUNG_Y.items():
        for side in ("right", "left"):
            # front view: patient's right on the viewer's left
            x = FRONT_X + (-LUNG_DX if side == "right" else LUNG_DX)
            sites.append(Site(f"anterior_{level}_{side}", f"Anterior {level} {side}", "lung", "front", x, y))
    for level, y in LATERAL_Y.items():
        for side in ("right", "left"):
            x = FRONT_X + (-LATERAL_DX if side == "right" else LATERAL_DX)
            sites.append(Site(f"lateral_{level}_{side}", f"Lateral {level} {side}", "lung", "front", x, y))
    for level, y in LUNG_Y.items():
        for side in ("left", "right"):
            # back view: patient's left on the viewer's left
            x = BACK_X + (-LUNG_DX if side == "left" else LUNG_DX)
            sites.append(Site(f"posterior_{level}_{side}", f"Posterior {level} {side}", "lung", "back", x, y + 10))
    return sites


SITES: dict[str, Site] = {s.key: s for s in _heart_sites() + _lung_sites()}
HEART_SITES = tuple(k for k, s in SITES.items() if s.domain == "heart")
LUNG_SITES = tuple(k for k, s in SITES.items() if s.domain == "lung")
OTHER_SITE = "other"  # a recording made somewhere not on the map (imports, teaching files)


def site_title(key: str) -> str:
    """Readable title of a site key; unknown keys are shown as they are."""
    site = SITES.get(key)
    return site.title if site else key.replace("_", " ")


def domain_of(key: str, default: str = "heart") -> str:
    site = SITES.get(key)
    return site.domain if site else default
