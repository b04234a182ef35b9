"""Sites, protocols and the body map agree with each other."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from stethodesk.paths import RESOURCES
from stethodesk.store import SITES
from stethodesk.store.protocols import load_protocols
from stethodesk.store.summary import main_finding, shown_findings


def test_every_site_has_a_hotspot_at_its_coordinates():
    root = ET.parse(RESOURCES / "bodymap.svg").getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    spots = {c.get("id"): c for c in root.iterfind(".//s:circle[@class='hotspot']", ns)}
    assert set(spots) == {f"site-{k}" for k in SITES}
    for key, site in SITES.items():
        c = spots[f"site-{key}"]
        assert float(c.get("cx")) == pytest.approx(site.x) and float(c.get("cy")) == pytest.approx(site.y)
    # the lung grid: anterior/posterior/lateral x upper/middle/lower x left/right
    for side in ("anterior", "posterior", "lateral"):
        for level in ("upper", "middle", "lower"):
            for lr in ("left", "right"):
                assert SITES[f"{side}_{level}_{lr}"].domain == "lung"
    assert {k for k, s in SITES.items() if s.domain == "heart"} == {"aortic", "pulmonic", "erb", "tricuspid", "mitral"}
    # front view: patient's right on the viewer's left; back view: the opposite
    assert SITES["anterior_upper_right"].x < SITES["anterior_upper_left"].x
    assert SITES["posterior_upper_right"].x > SITES["posterior_upper_left"].x


def test_protocols_load_and_cover_cardiac_and_lung():
    protos = load_protocols()
    assert [s.site for s in protos["cardiac4"].steps] == ["aortic", "pulmonic", "tricuspid", "mitral"]
    assert all(s.domain == "lung" for s in protos["lung_posterior"].steps)
    assert all(s.seconds > 0 for p in protos.values() for s in p.steps)


def test_main_finding_headline():
    assert main_finding({}, "heart").level == "none"
    mf = main_finding({"murmur": 0.9, "abnormal": 0.95}, "heart")
    assert (mf.label, mf.level) == ("Murmur", "strong")
    mf = main_finding({"crackle": 0.2, "wheeze": 0.6}, "lung")
    assert (mf.label, mf.level) == ("Wheeze", "finding")
    mf = main_finding({"crackle": 0.2, "wheeze": 0.3}, "lung")
    assert (mf.label, mf.level, mf.probability) == ("No abnormal finding", "normal", 0.3)
    assert mf.text == "No abnormal finding"
    assert main_finding({"murmur": 0.834}, "heart").text == "Murmur 83%"


def test_shown_findings_leave_out_classifiers_and_unsupported_murmur_details():
    f = {"murmur": 0.3, "murmur_timing_systolic": 1.0, "abnormal": 0.8, "site_MV": 0.4, "is_lung": 0.1,
         "lesion_N": 0.5, "lesion_AS": 0.2}
    # lesions are the murmur's cause: listed (and ranked by the answers) only when a murmur is called
    assert shown_findings(f) == [("abnormal", 0.8), ("murmur", 0.3)]
    f["murmur"] = 0.7
    assert shown_findings(f, 2) == [("murmur_timing_systolic", 1.0), ("abnormal", 0.8)]
    assert ("lesion_AS", 0.2) in shown_findings(f)
