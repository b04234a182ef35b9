"""Leave-one-dataset-out scorecard (training/lodo.py): fold logic on a tiny real subset.

Three datasets, a few recordings each, the smoke encoder recipe with a 3-second training budget
per fold, features cached in a temporary folder; the in-domain comparison uses a copy of the
shipped bundle. Checks what each fold trains and tests on, that a rerun reuses finished folds,
and that the result reaches a bundle's metrics, its model card and the gate's scorecard.
"""

from __future__ import annotations

import json
import shutil

import pytest

from stethodesk.paths import MODELS
from training import lodo
from training.scorecard import scorecard
from training.splits import load_split, subset

DATASETS = ("circor2022", "physionet2016", "sprsound2022")


@pytest.fixture(scope="module")
def records():
    return subset(load_split(None, datasets=DATASETS), {"train": 4, "val": 3, "test": 6}, 0)


def test_fold_splits_leave_the_dataset_out(records):
    for ds in DATASETS:
        sp = lodo.fold_splits(records, ds)
        assert sp["train"] and sp["val"] and sp["test"]
        assert all(r.dataset != ds and r.split == "train" for r in sp["train"])
        assert all(r.dataset != ds and r.split == "val" for r in sp["val"])
        assert all(r.dataset == ds and r.split == "test" for r in sp["test"])


def test_lodo_folds_train_test_resume_and_reach_the_bundle(records, tmp_path):
    from training.encoder_train import train_encoder

    calls = []

    def counting_train(splits, out_dir, profile, log, **kw):
        calls.append(sorted({r.dataset for r in splits["train"]}))
        return train_encoder(splits, out_dir, profile, log, **kw)

    bundle = tmp_path / "shipped"
    shutil.copytree(MODELS / "stetholm-270m-laptop", bundle)
    out, feats, logs = tmp_path / "lodo", tmp_path / "features", []
    kw = dict(profile="smoke", encoder_overrides={"epochs": 1}, feature_dir=feats, bundle=bundle,
              log=logs.append, train_fn=counting_train)
    res = lodo.run_lodo(records, out, 0.05, ["physionet2016", "sprsound2022"], **kw)
    assert calls == [["circor2022", "sprsound2022"], ["circor2022", "physionet2016"]]
    assert set(res["folds"]) == {"physionet2016", "sprsound2022"}
    for ds, fold in res["folds"].items():
        assert ds not in fold["train_records"] and fold["test_records"] == 6
        assert set(fold["held_out"]) <= set(lodo.LODO_HEADS) and set(fold["in_domain"]) == set(fold["held_out"])
        assert (out / ds / "fold.json").exists() and (out / ds / "encoder" / "encoder.safetensors").exists()
    assert "abnormal" in res["folds"]["physionet2016"]["held_out"]
    assert {"crackle", "wheeze"} <= set(res["folds"]["sprsound2022"]["held_out"])
    assert json.loads((out / "lodo.json").read_text())["folds"].keys() == res["folds"].keys()
    table = "\n".join(map(str, logs))
    assert "Leave-one-dataset-out" in table and "| sprsound2022 | 6 |" in table

    again = lodo.run_lodo(records, out, 0.05, ["physionet2016", "sprsound2022"], **kw)  # resumable per fold
    assert len(calls) == 2 and again["folds"] == res["folds"]
    lodo.run_lodo(records, out, 0.06, ["physionet2016"], **kw)  # another budget: that fold is redone
    assert len(calls) == 3

    (bundle / "metrics.json").write_text(json.dumps({"findings": {}}))
    lodo.into_bundle(res, bundle, log=logs.append)
    m = json.loads((bundle / "metrics.json").read_text())
    assert m["lodo"]["folds"].keys() == res["folds"].keys() and (bundle / "lodo.json").exists()
    assert "Leave-one-dataset-out" in (bundle / "MODEL_CARD.md").read_text()
    assert any(k.startswith("lodo/sprsound2022/") for k in scorecard(m))
    from stethodesk.model.bundle import load_bundle

    load_bundle(bundle)  # sha256s refreshed after the model card changed
