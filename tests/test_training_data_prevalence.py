"""Prevalence weights for calibrating on the enriched CirCor / PhysioNet subsets (issue 9 item 7)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from share_readme import stated_enrichment
from stethodesk.model import calibration as cal
from training import prevalence as pv
from training.splits import load_split


@pytest.fixture(scope="module")
def val():
    return load_split("val")


def test_reference_prevalence_is_what_the_share_readme_states():
    for ds, (_here, release) in stated_enrichment().items():
        assert pv.REFERENCE_PREVALENCE[ds]["release"] == pytest.approx(release), ds


def test_weights_give_the_release_mix_per_dataset_and_leave_the_rest(val):
    w = pv.prevalence_weights(val)
    assert w.shape == (len(val),) and np.all(w > 0)
    by = defaultdict(list)
    for i, r in enumerate(val):
        by[r.dataset].append(i)
    for ds, idx in by.items():
        # the mix between datasets is unchanged: each set's weights sum to its row count
        assert w[idx].sum() == pytest.approx(len(idx)), ds
        if ds not in pv.REFERENCE_PREVALENCE:
            assert np.all(w[idx] == 1.0), ds
    # the share is enriched, so reweighting is not a no-op here
    for ds, ref in pv.REFERENCE_PREVALENCE.items():
        assert pv.sample_prevalence(val, ds) > ref["release"] + 0.15, ds
    # CirCor: counted over patients (each recording carries its patient's weight)
    pat_w, pat_pos = {}, {}
    for i in by["circor2022"]:
        r = val[i]
        assert pat_w.setdefault(r.patient_id, w[i]) == pytest.approx(w[i])
        pat_pos[r.patient_id] = pv.is_positive(r)
    pos = sum(pat_w[p] for p in pat_w if pat_pos[p]) / sum(pat_w.values())
    assert pos == pytest.approx(0.19)
    # PhysioNet: counted over records
    idx = by["physionet2016"]
    ab = np.array([bool(val[i].labels["abnormal"]) for i in idx])
    assert np.sum(w[idx][ab]) / np.sum(w[idx]) == pytest.approx(0.21)


def test_one_class_only_is_left_unweighted(val):
    only_pos = [r for r in val if r.dataset == "physionet2016" and r.labels["abnormal"]]
    assert np.all(pv.prevalence_weights(only_pos) == 1.0)


def _data(kind, n=300, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "multiclass":
        y = rng.integers(0, 4, n)
        z = rng.normal(size=(n, 4)) + 3.0 * np.eye(4)[y]
        return z, y.astype(np.int64)
    c = 1 if kind == "binary" else 3
    truth = rng.normal(scale=1.5, size=(n, c))
    y = (rng.random((n, c)) < 1 / (1 + np.exp(-truth))).astype(float)
    y[rng.random((n, c)) < 0.1] = np.nan
    return 2.5 * truth, y


@pytest.mark.parametrize("kind", ["binary", "multilabel", "multiclass"])
def test_unit_weights_reproduce_the_calibration_module(kind):
    z, y = _data(kind)
    t0 = cal.fit_temperature(z, y, kind)
    assert pv.fit_temperature(z, y, kind) == pytest.approx(t0, rel=1e-4)
    assert pv.fit_temperature(z, y, kind, np.full(len(z), 3.0)) == pytest.approx(t0, rel=1e-4)
    for t in (1.0, t0):
        a, b = cal.head_metrics(z, y, kind, t), pv.head_metrics(z, y, kind, t, np.ones(len(z)))
        assert b["ece"] == pytest.approx(a["ece"], abs=1e-12) and b["auroc"] == a["auroc"] and b["n"] == a["n"]


def test_integer_weights_equal_repeated_rows():
    z, y = _data("binary", n=200, seed=1)
    k = np.random.default_rng(2).integers(1, 4, len(z))
    rep_z, rep_y = np.repeat(z, k, axis=0), np.repeat(y, k, axis=0)
    assert pv.fit_temperature(z, y, "binary", k) == pytest.approx(cal.fit_temperature(rep_z, rep_y, "binary"), rel=1e-4)
    p = cal.probabilities(z, "binary")[:, 0]
    assert pv.ece_binary(p, y[:, 0], k) == pytest.approx(cal.ece_binary(np.repeat(p, k), rep_y[:, 0]))


def test_weighted_ece_sees_the_prior_shift_and_platt_corrects_it():
    # a head calibrated on a 50% sample, used where the prevalence is 21%
    rng = np.random.default_rng(3)
    n = 4000
    y = (rng.random(n) < 0.5).astype(float)
    s = rng.normal(np.where(y == 1, 1.0, -1.0), 1.0)
    z = (2.0 * s)[:, None]  # exact log-odds at the 50% mix
    w = np.where(y == 1, 0.21 / y.mean(), 0.79 / (1 - y.mean()))
    assert cal.ece_binary(cal.probabilities(z, "binary")[:, 0], y) < 0.03
    assert pv.ece_binary(cal.probabilities(z, "binary")[:, 0], y, w) > 0.08
    a, b = pv.fit_platt(z, y, w)
    p = 1 / (1 + np.exp(-(a * z[:, 0] + b)))
    assert np.sum(w * p) / np.sum(w) == pytest.approx(0.21, abs=0.01)
    assert b == pytest.approx(np.log(0.21 / 0.79), abs=0.15) and a == pytest.approx(1.0, abs=0.1)
    assert pv.ece_binary(p, y, w) < 0.03
    assert pv.fit_platt(z, np.ones(n)) == (1.0, 0.0)  # one class: identity


def test_calibrate_heads_uses_the_weights():
    from training.encoder_calibration import calibrate_heads

    z, y = _data("binary", n=400, seed=4)
    quiet = {"log": lambda *_: None}
    _, plain = calibrate_heads({"abnormal": z}, {"abnormal": y}, **quiet)
    heads, m = calibrate_heads({"abnormal": z}, {"abnormal": y}, weights=np.ones(len(z)), **quiet)
    assert m["abnormal"]["T"] == pytest.approx(plain["abnormal"]["T"], rel=1e-3)
    assert m["abnormal"]["ece_after_unweighted"] == pytest.approx(plain["abnormal"]["ece_after"], abs=1e-4)
    w = np.where(np.nan_to_num(y[:, 0]) == 1, 0.3, 1.7)
    _, mw = calibrate_heads({"abnormal": z}, {"abnormal": y}, weights=w, **quiet)
    assert mw["abnormal"]["ece_before"] != plain["abnormal"]["ece_before"]
    assert heads["abnormal"]["calibration"]["method"] == "temperature"
