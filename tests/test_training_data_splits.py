"""Patient-level splits and committed manifests, on the real shared recordings.

The share grows (issue 9 item 7), so these tests hold properties, not frozen counts: the
manifests cover exactly the recordings on disk, as many as the share's README states; no patient
is in two splits; every pinned group (``training/manifests/pinned_groups.csv``: every group of
every earlier manifest) keeps its split, and so does every group of every committed version of a
manifest in git history; the split shares stay within stated tolerances.
"""

from __future__ import annotations

import csv
import io
import random
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from share_readme import stated_counts
from training import splits as splits_mod
from training.data import DATASETS, dataset_folder, load_dataset
from training.splits import (BY_SOURCE, FRACTIONS, SPLITS, assign_splits, count_table, load_split,
                             main_label, manifest_path, physionet_by_source, pins_for, read_manifest,
                             read_pins)

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = tuple(DATASETS) + (BY_SOURCE,)
DATASET_OF = {**{d: d for d in DATASETS}, BY_SOURCE: "physionet2016"}
# The share as first released (git: a0d9d25): groups pinned "share-v1".
SHARE_V1_GROUPS = {"circor2022": 147, "physionet2016": 587, BY_SOURCE: 587}
SHARE_TOLERANCE = 0.04   # |record share of a split - its target| for every set
LABEL_TOLERANCE = 0.05   # |share of a main label in a split - its share in the set| (grown sets)


@pytest.fixture(scope="module")
def records():
    return load_split(None)


@pytest.fixture(scope="module")
def on_disk():
    return {name: load_dataset(name) for name in DATASETS}


def _rows(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_no_patient_or_group_crosses_splits(records):
    where = defaultdict(set)
    for r in records:
        assert r.split in SPLITS, r.key
        where[(r.dataset, r.group)].add(r.split)
        where[(r.dataset, "patient", r.patient_id)].add(r.split)
    crossing = [k for k, v in where.items() if len(v) > 1]
    assert crossing == []
    for name in MANIFESTS:  # the same in the files themselves
        per_group = defaultdict(set)
        for row in _rows(manifest_path(name)):
            per_group[row["group"]].add(row["split"])
            per_group[("patient", row["patient_id"])].add(row["split"])
        assert [g for g, v in per_group.items() if len(v) > 1] == [], name


def test_manifests_cover_exactly_the_recordings_on_disk_and_the_readme_counts(on_disk):
    stated = stated_counts()
    for name in MANIFESTS:
        ds = DATASET_OF[name]
        recs = on_disk[ds]
        rows = _rows(manifest_path(name))
        ids = [row["record_id"] for row in rows]
        assert len(ids) == len(set(ids)), f"{name}: duplicate rows"
        assert set(ids) == {r.record_id for r in recs}, f"{name}: manifest and disk differ"
        assert len(ids) == stated[ds]["records"], f"{name}: not the share README's count"
        folder = dataset_folder(ds)
        by_id = {r.record_id: r for r in recs}
        for row in rows:
            assert (folder / row["relpath"]).exists(), row["relpath"]
            r = by_id[row["record_id"]]
            assert (row["group"], row["patient_id"], row["main_label"]) == (r.group, r.patient_id, main_label(r))
    for ds in ("circor2022", "icbhi2017"):
        assert len({row["patient_id"] for row in _rows(manifest_path(ds))}) == stated[ds]["patients"]


def test_every_pinned_group_keeps_its_split_and_every_manifest_group_is_pinned():
    pins = read_pins()
    assert pins and {row["manifest"] for row in pins} == set(MANIFESTS)
    assert len({(row["manifest"], row["group"]) for row in pins}) == len(pins), "a group pinned twice"
    # the groups of the first release are all there, under its tag
    v1 = Counter(row["manifest"] for row in pins if row["since"] == "share-v1")
    for name, n in SHARE_V1_GROUPS.items():
        assert v1[name] == n, name
    for name in MANIFESTS:
        pinned = pins_for(name)
        in_manifest = defaultdict(set)
        for row in _rows(manifest_path(name)):
            in_manifest[row["group"]].add(row["split"])
        moved = {g: (s, in_manifest[g]) for g, s in pinned.items() if g in in_manifest and in_manifest[g] != {s}}
        assert moved == {}, f"{name}: pinned groups moved"
        assert set(in_manifest) <= set(pinned), f"{name}: groups not pinned (python -m training.splits --pin ...)"


def _git(*args) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def test_no_group_of_any_committed_manifest_version_has_moved():
    """Independent of the pin file: every version of every manifest in git history."""
    if _git("rev-parse", "--is-inside-work-tree") is None:
        pytest.skip("not a git checkout")
    if (_git("rev-parse", "--is-shallow-repository") or "").strip() == "true":
        pytest.skip("shallow clone: the manifests' history is incomplete")
    checked = 0
    for name in MANIFESTS:
        rel = f"training/manifests/{name}.csv"
        now = defaultdict(set)
        for row in _rows(manifest_path(name)):
            now[row["group"]].add(row["split"])
        for commit in (_git("log", "--format=%H", "--", rel) or "").split():
            old = _git("show", f"{commit}:{rel}")
            if old is None:  # deleted in that commit
                continue
            for row in csv.DictReader(io.StringIO(old)):
                assert now.get(row["group"]) == {row["split"]}, (name, commit[:8], row["group"])
                checked += 1
    assert checked >= sum(SHARE_V1_GROUPS.values())


def test_split_shares_stay_within_the_stated_tolerance(records):
    by = defaultdict(list)
    for r in records:
        by[r.dataset].append(r)
    for ds, recs in by.items():
        c = Counter(r.split for r in recs)
        for s in SPLITS:
            assert abs(c[s] / len(recs) - FRACTIONS[s]) <= SHARE_TOLERANCE, (ds, s, c)
    # the sets that grew (with a different label mix) stay balanced on their main label too
    for ds in ("circor2022", "physionet2016"):
        recs = by[ds]
        overall = Counter(main_label(r) for r in recs)
        for s in SPLITS:
            part = [r for r in recs if r.split == s]
            here = Counter(main_label(r) for r in part)
            for lab, n in overall.items():
                assert abs(here[lab] / len(part) - n / len(recs)) <= LABEL_TOLERANCE, (ds, s, lab)
    # the domain-shift manifest: training-e is test, the rest 85/15 train/val
    rows = _rows(manifest_path(BY_SOURCE))
    rest = Counter(row["split"] for row in rows if row["stratum"] != "training-e")
    assert {row["split"] for row in rows if row["stratum"] == "training-e"} == {"test"}
    assert abs(rest["val"] / (rest["train"] + rest["val"]) - 0.15) <= SHARE_TOLERANCE, rest


def test_new_groups_are_assigned_deterministically_onto_the_kept_ones(on_disk):
    recs = on_disk["circor2022"]
    keep = {("circor2022", g): s for g, s in pins_for("circor2022").items()}
    a = assign_splits(recs, pinned=keep)
    shuffled = list(recs)
    random.Random(7).shuffle(shuffled)
    assert assign_splits(shuffled, pinned=keep) == a  # no dependence on the order records come in
    for r in recs:
        if (r.dataset, r.group) in keep:
            assert a[r.key] == keep[(r.dataset, r.group)]
    # pinning everything reproduces the mapping; pinning nothing is a different (fresh) split
    assert assign_splits(recs, pinned={(r.dataset, r.group): a[r.key] for r in recs}) == a
    with pytest.raises(ValueError, match="pinned"):
        assign_splits(recs, pinned={next(iter(keep)): "holdout"})


def test_stale_manifests_give_the_regenerated_split(tmp_path, monkeypatch, on_disk):
    """A checkout whose manifests predate the share's growth (only the share-v1 groups in the
    manifest and pin file): load_split keeps those groups and assigns the new ones exactly as the
    committed manifests do."""
    recs = on_disk["circor2022"]
    v1 = {row["group"]: row["split"] for row in read_pins() if row["manifest"] == "circor2022"
          and row["since"] == "share-v1"}
    mdir = tmp_path / "manifests"
    mdir.mkdir()
    with open(mdir / "circor2022.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["record_id", "split", "group"])
        for r in recs:
            if r.group in v1:
                w.writerow([r.record_id, v1[r.group], r.group])
    with open(tmp_path / "pins.csv", "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["manifest", "group", "split", "since"])
        for g, s in sorted(v1.items()):
            w.writerow(["circor2022", g, s, "share-v1"])
    monkeypatch.setattr(splits_mod, "MANIFEST_DIR", mdir)
    monkeypatch.setattr(splits_mod, "PINS_PATH", tmp_path / "pins.csv")
    got = {r.record_id: r.split for r in load_split(None, datasets=("circor2022",))}
    monkeypatch.undo()
    assert got == read_manifest(manifest_path("circor2022"))


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


def test_every_split_has_each_main_class(records):
    circor = [r for r in records if r.dataset == "circor2022"]
    for s in SPLITS:
        labs = Counter(r.labels["murmur"] for r in circor if r.split == s)
        assert labs["present"] > 0 and labs["absent"] > 0, s
    physionet = [r for r in records if r.dataset == "physionet2016"]
    for s in SPLITS:
        assert Counter(bool(r.labels["abnormal"]) for r in physionet if r.split == s).keys() == {True, False}
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
    assert out.count("manifest matches") == len(MANIFESTS) and "DIFFERS" not in out and "groups(tr/va/te)" in out
    # writing elsewhere leaves the committed manifests alone and reproduces them
    assert main(["--manifests", str(tmp_path)]) == 0
    for name in MANIFESTS:
        assert (tmp_path / f"{name}.csv").read_text() == manifest_path(name).read_text()


def test_cli_takes_a_grown_share_in_from_the_previous_pins(capsys, tmp_path):
    """The documented command, replayed from the pins of the releases before the latest (no
    manifests), gives the committed manifests and pin file: the latest groups' splits are
    reproducible, not hand-made."""
    from training.splits import main

    all_pins = read_pins()
    tags = sorted({row["since"] for row in all_pins}, key=lambda t: int(t.rsplit("v", 1)[1]))
    assert tags[:2] == ["share-v1", "share-v2"]
    latest = tags[-1]
    pins = tmp_path / "pins.csv"
    with open(pins, "w", newline="") as fh:
        w = csv.DictWriter(fh, ["manifest", "group", "split", "since"], lineterminator="\n")
        w.writeheader()
        w.writerows(row for row in all_pins if row["since"] != latest)
    out_dir = tmp_path / "manifests"
    out_dir.mkdir()
    assert main(["--manifests", str(out_dir), "--pins", str(pins), "--pin", latest]) == 0
    out = capsys.readouterr().out
    n = Counter(row["since"] == latest for row in all_pins if row["manifest"] == "circor2022")
    assert f"circor2022: {n[False]} groups kept, {n[True]} new" in out
    for name in MANIFESTS:
        assert (out_dir / f"{name}.csv").read_text() == manifest_path(name).read_text(), name
    assert pins.read_text() == splits_mod.PINS_PATH.read_text()
    # and --check on that folder now passes; a moved group is reported
    assert main(["--check", "--manifests", str(out_dir), "--pins", str(pins)]) == 0
    capsys.readouterr()
    text = (out_dir / "circor2022.csv").read_text().splitlines()
    i = next(k for k, line in enumerate(text) if ",test," in line)
    text[i] = text[i].replace(",test,", ",train,", 1)
    (out_dir / "circor2022.csv").write_text("\n".join(text) + "\n")
    assert main(["--check", "--manifests", str(out_dir), "--pins", str(pins)]) == 1
    assert "circor2022: " in capsys.readouterr().out
