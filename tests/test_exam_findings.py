"""Exam-level findings (stethodesk.model.exam) on real multi-site recordings from the share.

Per-site findings come from the shipped encoder through the app's audio path
(``training.exam_encode.site_result``: read_audio -> encode_recording -> calibrate, the same
usable rule as ``Engine.analyze_audio``), without the language model.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from stethodesk.model import exam
from stethodesk.model.analysis import AudioAnalysis
from stethodesk.paths import shared_data_dir

PATIENT = "85198"  # CirCor test-split patient: murmur Present, most audible AV, heard at AV+MV+PV+TV
LUNG = {"anterior_upper_left": "M_CC_LUA", "anterior_lower_left": "M_CC_LLA",
        "anterior_upper_right": "M_N_RUA", "anterior_middle_right": "M_N_RMA"}  # HLS-CMDS manikin


@pytest.fixture(scope="module")
def parts():
    from stethodesk.model.bundle import load_bundle
    from stethodesk.model.encoder import load_encoder
    from stethodesk.model.features import FrontendConfig

    b = load_bundle()
    return load_encoder(b.encoder_path, b.encoder_config), FrontendConfig.from_dict(b.frontend), b.heads


def analysis(parts, path, site, domain="heart") -> AudioAnalysis:
    from training.exam_encode import site_result

    r = site_result(*parts, str(path), domain=domain)
    return AudioAnalysis(domain=domain, site=site, findings=r["findings"], heart_rate_bpm=None, quality=None,
                         usable=r["usable"], unusable_reason=r["unusable_reason"], encode_ms=0.0, duration_s=0.0)


@pytest.fixture(scope="module")
def heart_sites(parts):
    folder = shared_data_dir() / "circor2022" / "training_data"
    return [analysis(parts, folder / f"{PATIENT}_{s}.flac", s) for s in ("AV", "MV", "PV", "TV")]


def test_heart_exam_pools_the_usable_sites(heart_sites):
    cal = exam.load_calibration()
    assert cal["fitted"] and cal["fitted_on"]["split"] == "val"
    ex = exam.exam_findings(heart_sites)
    probs = [a.findings["murmur"] for a in heart_sites]
    head = cal["murmur"]
    want = exam.sigmoid(head["a"] * exam.pool_logits([exam.logit(p) for p in probs], head["pool"]) + head["b"])
    assert ex.murmur == pytest.approx(want)
    assert ex.murmur_call == "present"
    loudest = heart_sites[int(np.argmax(probs))].site
    assert ex.most_audible_site == loudest == "AV"  # CirCor's most audible location for this patient
    assert ex.murmur_sites[0] == "AV" and set(ex.murmur_sites) <= {"AV", "MV", "PV", "TV"}
    assert ex.timing in ("systolic", "diastolic", "both")
    # ranked by the sound; the site pattern is evidence for the lesion best heard at the loudest site
    probs_l = [c.probability for c in ex.lesion_candidates]
    assert probs_l == sorted(probs_l, reverse=True)
    fits = [c for c in ex.lesion_candidates if c.site_pattern == "fits"]
    assert [c.code for c in fits] == ["AS"] and "loudest at the aortic area" in fits[0].evidence
    assert "bates" in fits[0].sources
    text = ex.text()
    assert "Most audible at the aortic area" in text and "Bickley 2021" in text
    assert ex.facts()["murmur"] == "present" and ex.facts()["abnormal"] is True
    d = ex.to_dict()
    assert [s["site"] for s in d["sites"]] == ["AV", "MV", "PV", "TV"] and d["unusable"] == []


def test_unusable_site_is_listed_with_its_reason_and_left_out(parts, heart_sites, tmp_path):
    flat = tmp_path / "flat.wav"
    sf.write(flat, np.zeros(4000 * 10, dtype=np.float32), 4000)
    bad = analysis(parts, flat, "PV")
    assert not bad.usable and bad.unusable_reason
    sites = [heart_sites[0], heart_sites[1], bad]
    ex = exam.exam_findings(sites)
    assert ex.unusable == [{"site": "PV", "title": "pulmonic area", "reason": bad.unusable_reason}]
    assert "PV" not in ex.murmur_sites
    ref = exam.exam_findings(heart_sites[:2])  # the same exam without the bad site
    assert ex.murmur == pytest.approx(ref.murmur) and ex.abnormal == pytest.approx(ref.abnormal)
    assert "Left out: pulmonic area" in ex.text()
    none = exam.exam_findings([bad])
    assert none.murmur_call == "unknown" and none.murmur is None and none.facts() == {}


def test_lung_exam_sites_and_side(parts):
    folder = shared_data_dir() / "hls_cmds" / "LS"
    sites = [analysis(parts, folder / f"{f}.flac", s, "lung") for s, f in LUNG.items()]
    ex = exam.exam_findings(sites)
    crackle = ex.lung["crackle"]
    assert set(crackle["sites"]) == {"anterior_upper_left", "anterior_lower_left"}
    assert crackle["side"] == "left side"
    assert crackle["probability"] == pytest.approx(max(a.findings["crackle"] for a in sites))
    assert ex.facts()["crackle"] is True and "murmur" not in ex.facts()
    assert "Crackle: called at left upper anterior chest" in ex.text()


def test_mixed_domains_and_empty_exam_are_refused(heart_sites, parts):
    lung = analysis(parts, shared_data_dir() / "hls_cmds" / "LS" / "M_N_RUA.flac", "anterior_upper_right", "lung")
    with pytest.raises(ValueError, match="one domain"):
        exam.exam_findings([heart_sites[0], lung])
    with pytest.raises(ValueError, match="at least one"):
        exam.exam_findings([])


def test_call_rule_and_pooling():
    assert exam.murmur_call(0.2, 0.19) == "present"  # 5 * 0.2 > 0.8 * 0.81
    assert exam.murmur_call(0.1, 0.19) == "absent"
    assert exam.murmur_call(0.1, 0.6) == "unknown"
    assert exam.pool_logits([0.0, 2.0], "mean") == 1.0 and exam.pool_logits([0.0, 2.0], "max") == 2.0
    assert exam.sigmoid(exam.pool_logits([0.0, 0.0], "noisy_or")) == pytest.approx(0.75)
    assert exam.side_of("Pl") == "left" and exam.side_of("lateral_right") == "right" and exam.side_of("AV") is None
    with pytest.raises(ValueError):
        exam.pool_logits([], "mean")


def test_template_answers_name_the_loudest_site_and_pass_the_exam_check(heart_sites):
    from stethodesk.model.exam_answer import EXAM_TASKS, check, template_exam_answer

    ex = exam.exam_findings(heart_sites)
    for task in EXAM_TASKS:
        text = template_exam_answer(ex, task, "Is there a murmur?" if task == "question" else None)
        assert text.startswith("Decision support") and "most audible at the aortic area" in text
        assert check(text, ex) == [], (task, text)
        # the exam's site is where the murmur is loudest, not "where this was recorded"
        assert "where this was recorded" not in text and "In this recording" not in text, (task, text)
    assert "In this exam:" in template_exam_answer(ex, "location")
    # an answer contradicting the exam (no murmur) is caught
    assert any(v.kind == "contradiction" for v in check("No murmur is heard. Normal.", ex))
    with pytest.raises(ValueError, match="not an exam task"):
        template_exam_answer(ex, "comparison")
