"""The deterministic clinical-accuracy checker: generated pairs and hand-written answers."""

from __future__ import annotations

import pytest

from training.checker import check, parse_fact, split_ab
from training.instructions import generate
from training.splits import load_split


@pytest.fixture(scope="module")
def pairs():
    recs = load_split("test")
    return generate(recs, "test", seed=7, per_record=3)


def test_generated_answers_pass_and_flipped_ones_fail(pairs):
    chosen = [check(e["answer"], e["facts"]).correct for e in pairs]
    rejected = [check(t, e["facts"]).correct for e in pairs for t in e["rejected"]]
    assert len(chosen) > 2000 and len(rejected) > 4000
    assert sum(chosen) / len(chosen) >= 0.99
    assert 1 - sum(rejected) / len(rejected) >= 0.99


@pytest.mark.parametrize("text,facts,ok", [
    ("There is a harsh systolic murmur at the aortic area, suggesting aortic stenosis.",
     {"murmur": "present", "murmur_timing": "systolic", "lesion": "AS"}, True),
    ("No murmurs are heard. Normal heart sounds.", {"murmur": "absent", "abnormal": False}, True),
    ("Normal heart sounds with a soft systolic murmur.", {"murmur": "absent"}, False),
    ("The lungs are clear without wheezes or crackles.", {"crackle": False, "wheeze": False}, True),
    ("Crackles are present but no wheeze.", {"crackle": True, "wheeze": False}, True),
    ("Crackles are present but no wheeze.", {"crackle": False}, False),
    ("A low-pitched diastolic rumble at the apex, typical of mitral stenosis.",
     {"murmur": "present", "murmur_timing": "diastolic", "lesion": "MS"}, True),
    ("Whether a murmur is present cannot be determined.", {"murmur": "absent"}, False),
    ("Abnormal: a holosystolic murmur, grade 3/6, plateau shape.",
     {"abnormal": True, "murmur_grade": "III/VI", "murmur_shape": "plateau", "murmur_timing": "systolic"}, True),
    ("This sounds normal, but there is a murmur.", {"abnormal": False, "murmur": "absent"}, False),
    ("Murmur: absent. S3: present.", {"murmur": "absent", "s3": True}, True),
    ("Not detected: crackles and wheezes.", {"crackle": False, "wheeze": False}, True),
    ("No abnormal sounds: this is a normal recording.", {"abnormal": False}, True),
    ("Normal: no crackles or wheezes.", {"abnormal": False, "crackle": False}, True),
    ("The recording is too noisy to interpret.", {"poor_quality": True}, True),
    ("Not aortic stenosis; more likely mitral regurgitation.", {"lesion": "MR"}, True),
    ("Fine crackles at both bases.", {"crackle": True, "crackle_type": "fine"}, True),
    ("Coarse crackles.", {"crackle_type": "fine"}, False),
    ("The patient's recorded diagnosis is COPD.", {"diagnosis": "COPD"}, True),
    ("Differential: asthma, COPD. Recorded diagnosis: pneumonia.", {"diagnosis": "COPD"}, False),
    ("", {"murmur": "absent"}, False),
    ("Heart sounds without murmurs, normal rhythm.", {"murmur": "absent", "abnormal": False}, True),
    ("I cannot hear any murmur, and S2 doesn't split abnormally.", {"murmur": "absent"}, True),
    ("A murmur is not heard.", {"murmur": "absent"}, True),
    ("No adventitious sounds.", {"crackle": False, "wheeze": False, "stridor": False}, True),
    ("No arrhythmia; a fast heart rate (tachycardia).",
     {"atrial_fibrillation": False, "av_block": False, "tachycardia": True}, True),
])
def test_hand_written_answers(text, facts, ok):
    assert check(text, facts).correct is ok, check(text, facts).parsed


def test_comparison_answers_are_read_per_recording():
    text = ("Recording A (mitral area): abnormal; a holosystolic murmur. Recording B (aortic area): "
            "normal; no murmur. Overall, only A is abnormal.")
    a, b = split_ab(text)
    assert "holosystolic" in a and "holosystolic" not in b and "Overall" not in b
    facts = {"a.murmur": "present", "b.murmur": "absent", "a.abnormal": True, "b.abnormal": False}
    assert check(text, facts).correct
    swapped = {"a.murmur": "absent", "b.murmur": "present"}
    res = check(text, swapped)
    assert not res.correct and res.per_fact == {"a.murmur": False, "b.murmur": False}


def test_site_knowledge_before_the_findings_marker_is_not_read_as_a_finding():
    text = ("The mitral area listens to the mitral valve; typically heard here: holosystolic murmur "
            "of mitral regurgitation. In this recording: no murmur is heard.")
    assert check(text, {"murmur": "absent"}).correct
    assert not check(text.replace("no murmur is heard", "a murmur is heard"), {"murmur": "absent"}).correct


def test_conflicting_statements_fail():
    assert parse_fact("wheeze", "Wheezes are heard. No wheezes.") == "conflict"
    assert not check("Wheezes are heard. No wheezes.", {"wheeze": True}).correct
