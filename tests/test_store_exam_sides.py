"""A stored lung exam keeps the side of its sites (real SQLite store, real ICBHI cycle files).

The engine's lung word for a site ("posterior") has no side, so exam findings built from it said
"side not known" for every stored lung exam; the exam reads the stored site name instead.
"""

from __future__ import annotations

from stethodesk.paths import shared_data_dir
from stethodesk.store import Store
from stethodesk.store.exam_analyse import exam_site, stored_exam_findings


def _cycles(n: int):
    files = sorted((shared_data_dir() / "icbhi2017_cycles" / "audio" / "crackle_or_both").glob("*"))
    assert len(files) >= n, "the shared ICBHI cycles are missing"
    return files[:n]


def test_exam_sites_keep_the_lung_side_and_the_heart_code():
    assert exam_site("posterior_lower_left") == "posterior_lower_left"
    assert exam_site("mitral") == "MV" and exam_site("aortic") == "AV"


def test_stored_lung_exam_says_which_side_the_crackles_are_on(tmp_path):
    s = Store(tmp_path / "records")
    p = s.add_patient("Lung Side", "MRN-SIDE-1", 60, "male")
    e = s.add_exam(p.id, clinician="Dr Side", protocol="lung")
    left = [s.add_recording(e.id, f, site) for f, site in zip(_cycles(2), ("posterior_lower_left", "lateral_lower_left"))]
    right = s.add_recording(e.id, _cycles(3)[2], "posterior_lower_right")
    for r in left:
        s.add_analysis(r.id, "binary", "Crackles.", findings={"crackle": 0.93, "wheeze": 0.08, "is_lung": 0.99})
    s.add_analysis(right.id, "binary", "Normal.", findings={"crackle": 0.04, "wheeze": 0.05, "is_lung": 0.99})
    ex = stored_exam_findings(s, e.id, "lung")
    crackle = ex.lung["crackle"]
    assert crackle["side"] == "left side", crackle
    assert sorted(crackle["sites"]) == ["lateral_lower_left", "posterior_lower_left"], crackle
    assert ex.lung["wheeze"]["sites"] == []
