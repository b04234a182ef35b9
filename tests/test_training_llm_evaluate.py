"""Evaluation metrics: AUROC, challenge scores on hand-checked cases, per-task sampling, and the
finding targets read from real records."""

from __future__ import annotations

import numpy as np
import pytest

from training.data import load_dataset
from training.data.record import Record, make_labels
from training.evaluate import (auroc, circor_weighted_accuracy, finding_targets, icbhi_score, physionet_macc,
                               sample_per_task, score_answers, sprsound_score)


def _rec(ds, rid, domain="heart", patient=None, **labels):
    orig = labels.pop("orig", {})
    lab = make_labels(**labels)
    lab["orig"] = orig
    return Record(ds, rid, f"/x/{rid}.flac", patient or rid, domain, None, 4000, 10.0, lab)


def test_auroc_matches_pair_counting():
    y = np.array([1, 0, 1, 0, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.7, 0.3, 0.2, 0.1])
    pairs = [(a, b) for a in p[y == 1] for b in p[y == 0]]
    expect = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])
    assert auroc(y, p) == pytest.approx(expect)
    assert auroc(np.ones(3), np.arange(3)) is None


def test_physionet_macc_and_icbhi():
    recs = [_rec("physionet2016", f"a{i}", abnormal=bool(i % 2)) for i in range(4)]
    f = {r.key: {"abnormal": 0.9 if i in (1, 2) else 0.1} for i, r in enumerate(recs)}
    m = physionet_macc(recs, f)  # Se 1/2 (a1 right, a3 missed), Sp 1/2 (a0 right, a2 false alarm)
    assert m["se"] == 0.5 and m["sp"] == 0.5 and m["value"] == 0.5
    cyc = [_rec("icbhi2017", "c0", "lung", crackle=False, wheeze=False),
           _rec("icbhi2017", "c1", "lung", crackle=True, wheeze=False),
           _rec("icbhi2017", "c2", "lung", crackle=True, wheeze=True)]
    f = {cyc[0].key: {"crackle": 0.1, "wheeze": 0.1}, cyc[1].key: {"crackle": 0.8, "wheeze": 0.1},
         cyc[2].key: {"crackle": 0.8, "wheeze": 0.1}}  # "both" predicted as crackle only: wrong class
    s = icbhi_score(cyc, f)
    assert s["sp"] == 1.0 and s["se"] == 0.5 and s["value"] == 0.75


def test_circor_weighted_accuracy_is_per_patient():
    recs = [_rec("circor2022", "p1_AV", patient="p1", murmur="present", orig={"patient_murmur": "Present"}),
            _rec("circor2022", "p1_MV", patient="p1", murmur="present", orig={"patient_murmur": "Present"}),
            _rec("circor2022", "p2_AV", patient="p2", murmur="absent", orig={"patient_murmur": "Absent"}),
            _rec("circor2022", "p3_AV", patient="p3", murmur="unknown", orig={"patient_murmur": "Unknown"})]
    f = {recs[0].key: {"murmur": 0.2}, recs[1].key: {"murmur": 0.7},  # p1 present via one site
         recs[2].key: {"murmur": 0.6}, recs[3].key: {"murmur": 0.1}}
    m = circor_weighted_accuracy(recs, f)
    assert m["patients"] == 3
    assert m["value"] == pytest.approx(5 / (5 + 1 + 3))  # only p1 right; weights 5/1/3


def test_sprsound_score_formula():
    labs = ["Normal", "Normal", "CAS", "DAS", "Poor Quality"]
    recs = [_rec("sprsound2022", f"s{i}", "lung", orig={"record_label": lab}) for i, lab in enumerate(labs)]
    f = {recs[0].key: {"crackle": 0.1, "wheeze": 0.1, "poor_quality": 0.1},
         recs[1].key: {"crackle": 0.9, "wheeze": 0.1, "poor_quality": 0.1},
         recs[2].key: {"crackle": 0.1, "wheeze": 0.9, "poor_quality": 0.1},
         recs[3].key: {"crackle": 0.1, "wheeze": 0.9, "poor_quality": 0.1},
         recs[4].key: {"crackle": 0.1, "wheeze": 0.1, "poor_quality": 0.9}}
    s = sprsound_score(recs, f)
    se, sp = 2 / 3, 1 / 2
    assert s["value"] == pytest.approx(((se + sp) / 2 + 2 * se * sp / (se + sp)) / 2)


def test_targets_from_real_records():
    yaseen = load_dataset("yaseen2018")
    ms = next(r for r in yaseen if r.labels["lesion"] == "MS")
    t = finding_targets(ms)
    assert t["lesion_MS"] is True and t["lesion_N"] is False and t["is_lung"] is False
    icbhi = load_dataset("icbhi2017")
    cr = next(r for r in icbhi if r.labels["crackle"])
    assert finding_targets(cr)["crackle"] is True and finding_targets(cr)["is_lung"] is True


def test_sampling_and_scoring():
    exs = [{"task": t, "dataset": d, "id": f"{t}{d}{i}"} for t in ("binary", "report") for d in "abc"
           for i in range(5)]
    s = sample_per_task(exs, 4, seed=0)
    assert len(s) == 8 and {e["dataset"] for e in s if e["task"] == "binary"} == set("abc")
    assert s == sample_per_task(exs, 4, seed=0)
    res = score_answers(
        [{"task": "binary", "facts": {"murmur": "present"}}, {"task": "binary", "facts": {"murmur": "absent"}}],
        ["A murmur is heard.", "A murmur is heard."])
    assert res["by_task"]["binary"] == {"acc": 0.5, "n": 2}
