"""Patient-level splits and committed manifests, on the real shared recordings."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from training.data import DATASETS, load_dataset
from training.splits import (SPLITS, assign_splits, count_table, load_split,
                             manifest_path, physionet_by_source, read_manifest)


@pytest.fixture(scope="module")
def records():
    return load_split(None)


def test_no_patient_or_group_crosses_splits(records):
    where = defaultdict(set)
    for r in records:
        assert r.split in SPLITS, r.key
        where[(r.dataset, r.group)].add(r.split)
        where[(r.dataset, "patient", r.patient_id)].add(r.split)
    crossing = [k for k, v in where.items() if len(v) > 1]
    assert crossing == []


def test_committed_manifests_cover_every_record_and_match_a_fresh_split():
    for name in DATASETS:
        recs = load_dataset(name)
        committed = read_manifest(manifest_path(name))
        assert set(committed) == {r.record_id for r in recs}, name
        fresh = assign_splits(recs)
        assert {r.record_id: fresh[r.key] for r in recs} == committed, f"{name}: manifest is stale"


def test_splits_are_seeded_and_seed_changes_them():
    recs = load_dataset("circor2022")
    assert assign_splits(recs, seed=1) == assign_splits(recs, seed=1)
    assert assign_splits(recs, seed=1) != assign_splits(recs, seed=2)
    # still no patient crossing under another seed
    m = assign_splits(recs, seed=2)
    per_patient = defaultdict(set)
    for r in recs:
        per_patient[r.patient_id].add(m[r.key])
    assert all(len(v) == 1 for v in per_patient.values())


def test_every_split_has_each_main_class_and_sane_shares(records):
    by = defaultdict(Counter)
    for r in records:
        by[r.dataset][r.split] += 1
    for ds, c in by.items():
        total = sum(c.values())
        assert 0.6 <= c["train"] / total <= 0.8, (ds, c)
        assert c["val"] > 0 and c["test"] > 0, (ds, c)
    circor = [r for r in records if r.dataset == "circor2022"]
    for s in SPLITS:
        labs = Counter(r.labels["murmur"] for r in circor if r.split == s)
        assert labs["present"] > 0 and labs["absent"] > 0, s
    icbhi = [r for r in records if r.dataset == "icbhi2017"]
    for s in SPLITS:
        assert any(r.labels["crackle"] for r in icbhi if r.split == s)
        assert any(r.labels["wheeze"] for r in icbhi if r.split == s)


def test_physionet_by_source_holds_out_whole_subsets():
    recs = load_dataset("physionet2016")
    m = physionet_by_source(recs, test_sources=("training-e",))
    for r in recs:
        in_e = r.labels["orig"]["training_set"] == "training-e"
        assert (m[r.key] == "test") == in_e
    assert {m[r.key] for r in recs if r.labels["orig"]["training_set"] != "training-e"} == {"train", "val"}


def test_count_table_lists_every_set_and_label(records):
    table = count_table(records)
    for name in DATASETS:
        assert name in table
    assert "murmur_present" in table and "Poor Quality" in table


def test_cli_check_passes_and_prints_counts(capsys, tmp_path):
    from training.splits import main

    assert main(["--check"]) == 0
    out = capsys.readouterr().out
    assert "manifest matches" in out and "DIFFERS" not in out and "groups(tr/va/te)" in out
    # writing elsewhere leaves the committed manifests alone and reproduces them
    assert main(["--manifests", str(tmp_path)]) == 0
    for name in DATASETS:
        assert (tmp_path / f"{name}.csv").read_text() == manifest_path(name).read_text()
