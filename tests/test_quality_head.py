"""The poor_quality head refit (training/quality_head.py) on synthetic embeddings."""

import numpy as np
import pytest

from training.quality_head import (ARTIFACT_GROUP, CLEAN_GROUP, artifact_separation, balanced_weights, choose,
                                   fit_bias, fit_head, labelled_aurocs, quality_groups)


def _rows():
    """Labelled set "pascal": 3 negative recordings (1, 2, 3 windows) and 1 positive (4 windows);
    curated clean "icbhi" 6 recordings and "yaseen" 2 (1 window each); 3 artifact windows; one
    row of an unlabelled set (NaN target)."""
    ds, y, rec, lab, art = [], [], [], [], []

    def add(d, target, r, n, labelled=False, artifact=False):
        for _ in range(n):
            ds.append(d), y.append(target), rec.append(r), lab.append(labelled), art.append(artifact)

    for r, n in enumerate((1, 2, 3)):
        add("pascal", 0.0, r, n, labelled=True)
    add("pascal", 1.0, 3, 4, labelled=True)
    for r in range(6):
        add("icbhi", 0.0, 10 + r, 1)
    for r in range(2):
        add("yaseen", 0.0, 20 + r, 1)
    for r in range(3):
        add(ARTIFACT_GROUP, 1.0, 30 + r, 1, artifact=True)
    add("physionet", float("nan"), 40, 1)
    return np.array(ds, object), np.array(y), np.array(rec), np.array(lab), np.array(art)


def test_groups_and_balanced_weights():
    ds, y, rec, lab, art = _rows()
    g = quality_groups(ds, lab, art)
    assert set(g) == {"pascal", CLEAN_GROUP, ARTIFACT_GROUP}
    assert (g[ds == "icbhi"] == CLEAN_GROUP).all() and (g[ds == "yaseen"] == CLEAN_GROUP).all()
    w = balanced_weights(g, ds, y, rec, {ARTIFACT_GROUP: 2.0})
    assert w[np.isnan(y)].sum() == 0.0
    # every group the same total (artifacts at their own weight), whatever its size
    assert w[g == "pascal"].sum() == pytest.approx(1.0)
    assert w[g == CLEAN_GROUP].sum() == pytest.approx(1.0)
    assert w[g == ARTIFACT_GROUP].sum() == pytest.approx(2.0)
    # within the labelled set: one positive recording weighs as much as the three negatives together
    assert w[(ds == "pascal") & (y == 1)].sum() == pytest.approx(0.5)
    # within the clean group each set an equal share: 2 yaseen recordings = 6 icbhi recordings
    assert w[ds == "yaseen"].sum() == pytest.approx(w[ds == "icbhi"].sum()) == pytest.approx(0.5)
    # each recording counts the same however many windows it has
    per_rec = [w[(ds == "pascal") & (rec == r)].sum() for r in range(3)]
    assert per_rec == pytest.approx([1 / 6] * 3)
    assert w[(ds == "pascal") & (rec == 2)] == pytest.approx([1 / 18] * 3)


def test_refit_learns_within_set_quality_direction_not_set_identity():
    rng = np.random.default_rng(0)
    d = 8

    def sample(n_lab_neg, n_lab_pos, n_clean):
        # dim 0: quality (positives +1.5); dim 1: which set (labelled set +2, clean sets -2)
        x = rng.normal(0, 1, (n_lab_neg + n_lab_pos + n_clean, d))
        x[:n_lab_neg + n_lab_pos, 1] += 2.0
        x[n_lab_neg + n_lab_pos:, 1] -= 2.0
        x[n_lab_neg:n_lab_neg + n_lab_pos, 0] += 1.5
        y = np.r_[np.zeros(n_lab_neg), np.ones(n_lab_pos), np.zeros(n_clean)]
        ds = np.array(["pascal"] * (n_lab_neg + n_lab_pos) + ["icbhi"] * n_clean, object)
        lab = ds == "pascal"
        return x, y, ds, lab

    x, y, ds, lab = sample(60, 20, 3000)
    g = quality_groups(ds, lab, np.zeros(len(y), bool))
    w = balanced_weights(g, ds, y, np.arange(len(y)))
    v, b = fit_head(x, y, w, l2=1e-3)
    assert v[0] > 0.5 and abs(v[0]) > 3 * np.abs(v[2:]).max()
    assert v[0] > 1.5 * abs(v[1])  # quality outweighs set identity
    # the failure it fixes: every row weighted alike, the many clean negatives make set identity win
    vu, _ = fit_head(x, y, np.ones(len(y)), l2=1e-3)
    assert vu[1] > vu[0]
    xt, yt, dst, labt = sample(300, 100, 10)
    auc = labelled_aurocs(xt @ v + b, yt, dst, labt)
    assert auc["pascal"] > 0.8
    # a strong pull toward the current head keeps it
    w0 = rng.normal(0, 1, d)
    v2, _ = fit_head(x, y, w, l2=1e3, w0=w0)
    assert np.abs(v2 - w0).max() < 0.01


def test_artifact_separation_and_choice():
    real = np.arange(100.0)  # 3 % budget: the point sits at the 4th highest real score, 96
    got = artifact_separation(real, np.array([97.0, 98.0, 50.0, 10.0]))
    assert got["refused"] == 0.5
    assert 0.5 < got["auroc"] < 1.0
    cands = [{"l2": 1e-3, "mean_labelled_auroc": 0.95, "artifacts": {"refused": 0.80}},
             {"l2": 1e-2, "mean_labelled_auroc": 0.90, "artifacts": {"refused": 0.97}},
             {"l2": 1e-1, "mean_labelled_auroc": 0.90, "artifacts": {"refused": 0.99}}]
    assert choose(cands, baseline_refused=0.98)["l2"] == 1e-1  # best AUROC that keeps the refusal; tie -> larger L2
    with pytest.raises(ValueError, match="keep the current head"):
        choose(cands[:1], baseline_refused=0.98)


def test_fit_bias_restores_the_recordings_own_mix():
    # a head whose logits are all 0 (balanced prior) on a mix with 20 % positives: the bias is logit(0.2)
    y = np.r_[np.ones(20), np.zeros(80)]
    assert fit_bias(np.zeros(100), y, np.ones(100)) == pytest.approx(np.log(0.2 / 0.8), abs=1e-4)
    # weights count: the 20 positives weighted 4x make the mix 50 %
    assert fit_bias(np.zeros(100), y, np.r_[np.full(20, 4.0), np.ones(80)]) == pytest.approx(0.0, abs=1e-4)
