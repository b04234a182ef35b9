"""Patient-level train / val / test splits, seeded and stratified, written as CSV manifests.

Every record carries a split ``group`` (the patient for CirCor, ICBHI, SPRSound and PASCAL; the
record for PhysioNet 2016 and Yaseen, which have no patient ids, so those splits may leak subjects;
the source sound for HLS-CMDS). Groups never cross splits. Within a dataset, groups are stratified
on their main labels and a group stratum (:func:`group_stratum`) and assigned greedily to the
split furthest below its target share of records.

Splits are append-only. ``training/manifests/pinned_groups.csv`` lists every group that has been
in a committed manifest, with its split and the share release it arrived with; a pinned group
keeps its split for good (so does any group of the committed manifest that is not pinned yet).
Only groups new to the share are assigned, in an order fixed by a seeded hash of the group id,
onto the counts the kept groups already hold, so the whole set stays near 70/15/15 and balanced.

    python -m training.splits                 # write training/manifests/<set>.csv, print counts
    python -m training.splits --pin share-v3  # the same, then pin the new groups (share grew)
    python -m training.splits --check         # committed manifests == the recordings on disk
                                              # split as above, and every group in them pinned

Use from code::

    from training.splits import load_split
    train = load_split("train")               # Records with .split set, all datasets
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import random
from collections import Counter, defaultdict
from pathlib import Path

from training.data import DATASETS, Record, dataset_folder, load_dataset

SPLITS = ("train", "val", "test")
FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}
DEFAULT_SEED = 20260422
MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"
PINS_PATH = MANIFEST_DIR / "pinned_groups.csv"
PIN_FIELDS = ("manifest", "group", "split", "since")
BY_SOURCE = "physionet2016_by_source"  # the second PhysioNet manifest (domain-shift split)
MANIFEST_FIELDS = ("record_id", "split", "group", "patient_id", "stratum", "main_label", "relpath",
                   "start_s", "end_s")
# Sets whose split groups are not patients (documented leak / caveat).
NO_PATIENT_IDS = {"physionet2016": "no patient ids in this subset: split by record",
                  "yaseen2018": "no patient ids: split by clip (leaks subjects)"}


def main_label(r: Record) -> str:
    """The record's main label for stratification and count tables."""
    lab = r.labels
    d = r.dataset
    if d == "circor2022":
        return f"murmur_{lab['orig'].get('patient_murmur')}".lower()
    if d in ("physionet2016",):
        return "abnormal" if lab["abnormal"] else "normal"
    if d == "yaseen2018":
        return lab["lesion"]
    if d == "pascal_chsc2011":
        return lab["orig"]["label"]
    if d == "hls_cmds":
        o = lab["orig"]
        return o.get("type") or f"mix:{o['heart_type']}"
    if d == "icbhi2017":
        return {(0, 0): "normal", (1, 0): "crackle", (0, 1): "wheeze", (1, 1): "both"}[
            (int(bool(lab["crackle"])), int(bool(lab["wheeze"])))]
    if d == "sprsound2022":
        return lab["orig"]["record_label"]
    return "?"


def group_stratum(records: list[Record]) -> str:
    """Stratum of a split group: the patient-level label where there is one."""
    r0 = records[0]
    d = r0.dataset
    if d == "icbhi2017":
        return str(r0.labels["diagnosis"])
    if d == "sprsound2022":
        labs = {main_label(r) for r in records}
        if labs & {"CAS", "DAS", "CAS & DAS"}:
            return "adventitious"
        return "normal" if "Normal" in labs else "poor"
    if d == "pascal_chsc2011":
        labs = {main_label(r) for r in records}
        return "murmur" if "murmur" in labs else "extrastole" if "extrastole" in labs else "normal"
    if d == "hls_cmds":
        return r0.record_id.split("/")[0]  # HS / LS / Mix: spread each part over the splits
    if d == "physionet2016":
        return r0.labels["orig"]["training_set"]  # balance the six sites/devices too
    if d == "yaseen2018":
        return main_label(r0)  # one record per group
    # most common record label of the group
    return Counter(main_label(r) for r in records).most_common(1)[0][0]


def _hash_order(seed, ds: str, group: str) -> str:
    """Position of a new group in the assignment order: a seeded hash of its id, so a group's
    place does not depend on which other groups the share happens to hold."""
    return hashlib.sha256(f"{seed}|{ds}|{group}".encode()).hexdigest()


def assign_splits(records: list[Record], seed: int = DEFAULT_SEED,
                  fractions: dict[str, float] = FRACTIONS,
                  pinned: dict[tuple[str, str], str] | None = None) -> dict[str, str]:
    """``{record.key: split}`` for one or more datasets; groups never cross splits.

    Greedy balanced group assignment, per dataset: each group is a count vector over the record
    main labels plus its group stratum (e.g. ICBHI diagnosis). ``pinned`` maps ``(dataset,
    group)`` to the split the group keeps (groups of earlier manifests); their counts are taken
    as already placed. The other groups are ordered largest first (a big patient placed last would
    wreck the balance), ties by a seeded hash of the group id, and each goes to the split where it
    most reduces the squared distance of every label count of the whole set from its target
    share (counts normalised by the label's total, so rare labels weigh as much as common ones).
    """
    pinned = pinned or {}
    by_group: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in records:
        by_group[(r.dataset, r.group)].append(r)
    out: dict[str, str] = {}
    for ds in sorted({g[0] for g in by_group}):
        groups = sorted(g for g in by_group if g[0] == ds)
        vec = {}
        for g in groups:
            v = Counter("label:" + main_label(r) for r in by_group[g])
            v["stratum:" + group_stratum(by_group[g])] += len(by_group[g])
            v["n"] += len(by_group[g])
            vec[g] = v
        total: Counter = Counter()
        for v in vec.values():
            total.update(v)
        have = {s: Counter() for s in fractions}
        new = []
        for g in groups:
            split = pinned.get(g)
            if split is None:
                new.append(g)
                continue
            if split not in fractions:
                raise ValueError(f"{ds}: group {g[1]!r} is pinned to {split!r}, not one of {list(fractions)}")
            have[split].update(vec[g])
            for r in by_group[g]:
                out[r.key] = split
        new.sort(key=lambda g: (-len(by_group[g]), _hash_order(seed, ds, g[1])))

        def cost_delta(s: str, v: Counter) -> float:
            d = 0.0
            for k, n in v.items():
                target = fractions[s] * total[k]
                before = have[s][k] - target
                d += ((before + n) ** 2 - before**2) / total[k]
            return d

        for g in new:
            split = min(fractions, key=lambda s: (cost_delta(s, vec[g]), list(fractions).index(s)))
            have[split].update(vec[g])
            for r in by_group[g]:
                out[r.key] = split
    return out


def apply_splits(records: list[Record], mapping: dict[str, str]) -> list[Record]:
    return [r.with_split(mapping.get(r.key)) for r in records]


def physionet_by_source(records: list[Record], test_sources=("training-e",),
                        val_fraction: float = 0.15, seed: int = DEFAULT_SEED,
                        pinned: dict[tuple[str, str], str] | None = None) -> dict[str, str]:
    """Domain-shift split of PhysioNet 2016: every record of ``test_sources`` (the challenge's
    subsets, each a different site/device) is test; the others are train/val by record
    (``pinned`` as in :func:`assign_splits`; pins of held-out records are ignored)."""
    held_out = {r.key for r in records if r.labels["orig"]["training_set"] in test_sources}
    rest = [r for r in records if r.key not in held_out]
    keep = {g: s for g, s in (pinned or {}).items() if s in ("train", "val")}
    out = assign_splits(rest, seed, {"train": 1 - val_fraction, "val": val_fraction}, keep)
    for r in records:
        if r.key in held_out:
            out[r.key] = "test"
    return out


def write_manifest(records: list[Record], mapping: dict[str, str], path: Path, root: Path) -> None:
    """CSV manifest with paths relative to the set's folder (portable between machines)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    members: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        members[r.group].append(r)
    strata = {g: group_stratum(m) for g, m in members.items()}
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(MANIFEST_FIELDS)
        for r in sorted(records, key=lambda r: r.record_id):
            rel = Path(r.path).resolve().relative_to(Path(root).resolve()).as_posix()
            w.writerow([r.record_id, mapping[r.key], r.group, r.patient_id,
                        strata[r.group], main_label(r), rel,
                        "" if r.start_s is None else f"{r.start_s:.3f}",
                        "" if r.end_s is None else f"{r.end_s:.3f}"])


def read_manifest(path: Path) -> dict[str, str]:
    """``{record_id: split}`` of a manifest CSV."""
    with open(path, newline="") as fh:
        return {row["record_id"]: row["split"] for row in csv.DictReader(fh)}


def read_manifest_groups(path: Path) -> dict[str, str]:
    """``{group: split}`` of a manifest CSV (empty when there is none)."""
    if not Path(path).exists():
        return {}
    with open(path, newline="") as fh:
        return {row["group"]: row["split"] for row in csv.DictReader(fh)}


def manifest_path(name: str) -> Path:
    return MANIFEST_DIR / f"{name}.csv"


def read_pins(path: Path | None = None) -> list[dict]:
    """Rows of the pin file: ``{"manifest", "group", "split", "since"}`` (empty without a file)."""
    path = PINS_PATH if path is None else path
    if not Path(path).exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def pins_for(manifest: str, path: Path | None = None) -> dict[str, str]:
    """``{group: split}`` pinned for one manifest (``"circor2022"``, ``"physionet2016_by_source"``)."""
    return {row["group"]: row["split"] for row in read_pins(path) if row["manifest"] == manifest}


def kept_splits(manifest: str, dataset: str, pins: Path | None = None,
                manifests: Path | None = None) -> dict[tuple[str, str], str]:
    """The splits that must not move: the manifest's groups (default: the committed one),
    overridden by the pin file."""
    keep = read_manifest_groups(Path(MANIFEST_DIR if manifests is None else manifests) / f"{manifest}.csv")
    keep.update(pins_for(manifest, pins))
    return {(dataset, g): s for g, s in keep.items()}


def pin_new_groups(manifest: str, mapping_by_group: dict[str, str], since: str,
                   path: Path | None = None) -> int:
    """Append the groups of ``mapping_by_group`` that are not pinned yet, tagged ``since``; the
    number added. A group already pinned to another split is an error (splits never move)."""
    path = PINS_PATH if path is None else path
    rows = read_pins(path)
    have = {(r["manifest"], r["group"]): r["split"] for r in rows}
    added = []
    for g, split in sorted(mapping_by_group.items()):
        old = have.get((manifest, g))
        if old is None:
            added.append({"manifest": manifest, "group": g, "split": split, "since": since})
        elif old != split:
            raise ValueError(f"{manifest}: group {g!r} is pinned to {old}, would move to {split}")
    if added:
        rows += added
        rows.sort(key=lambda r: (r["manifest"], r["group"]))
        tmp = Path(path).with_suffix(".tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, PIN_FIELDS, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
        tmp.replace(path)
    return len(added)


def load_split(split: str | None = None, datasets=DATASETS, root=None,
               roots: dict | None = None) -> list[Record]:
    """Records with ``.split`` set from the committed manifests; a set whose records are not all
    in its manifest (a grown share, or a user's full official release, see ``roots`` in
    :func:`training.data.dataset_folder`) keeps the split of every pinned or manifest group and
    gets the seeded patient-level assignment for the rest. ``split=None`` returns all splits."""
    out = []
    for name in datasets:
        folder = dataset_folder(name, root, roots)
        if not folder.exists():
            continue
        recs = load_dataset(name, folder)
        mp = manifest_path(name)
        by_id = read_manifest(mp) if mp.exists() else {}
        mapping = {r.key: by_id.get(r.record_id) for r in recs}
        if any(v is None for v in mapping.values()):
            # recordings the manifest lacks (the share grew, or another release): known groups
            # keep their split, the others are assigned as `python -m training.splits` would
            mapping = assign_splits(recs, pinned=kept_splits(name, name))
        out.extend(r for r in apply_splits(recs, mapping) if split is None or r.split == split)
    return out


def subset(records: list[Record], per_dataset: dict, seed: int) -> list[Record]:
    """Records limited to ``per_dataset[split]`` per (dataset, split), whole groups only where the
    group is small (deterministic, seeded). Used by quick builds and evaluations."""
    if not per_dataset:
        return list(records)
    by = defaultdict(list)
    for r in records:
        by[(r.dataset, r.split)].append(r)
    out = []
    for (ds, split), recs in sorted(by.items()):
        cap = per_dataset.get(split)
        recs = sorted(recs, key=lambda r: r.key)
        if cap is not None and len(recs) > cap:
            recs = random.Random(f"{seed}/{ds}/{split}").sample(recs, cap)
        out += recs
    return out


def count_table(records: list[Record]) -> str:
    """Text table: records (and groups) per dataset x split, then per main label."""
    lines = [f"{'dataset':16s} {'label':22s} " + " ".join(f"{s:>6s}" for s in SPLITS) + "  groups(tr/va/te)"]
    by_ds: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        by_ds[r.dataset].append(r)
    for ds in sorted(by_ds):
        recs = by_ds[ds]
        c = Counter(r.split for r in recs)
        g = {s: len({r.group for r in recs if r.split == s}) for s in SPLITS}
        lines.append(f"{ds:16s} {'ALL':22s} " + " ".join(f"{c[s]:6d}" for s in SPLITS)
                     + f"  {g['train']}/{g['val']}/{g['test']}")
        labs = Counter((main_label(r), r.split) for r in recs)
        for lab in sorted({k[0] for k in labs}):
            lines.append(f"{'':16s} {lab[:22]:22s} " + " ".join(f"{labs[(lab, s)]:6d}" for s in SPLITS))
    return "\n".join(lines)


def _check_manifest(name: str, recs: list[Record], mapping: dict[str, str], manifests: Path,
                    pins: Path) -> list[str]:
    """What is wrong with a committed manifest (empty list: it is right)."""
    mp = Path(manifests) / f"{name}.csv"
    if not mp.exists():
        return [f"{mp} missing"]
    old = read_manifest(mp)
    want = {r.record_id: mapping[r.key] for r in recs}
    problems = []
    if set(old) - set(want):
        problems.append(f"{len(set(old) - set(want))} rows for recordings not on disk")
    if set(want) - set(old):
        problems.append(f"{len(set(want) - set(old))} recordings on disk missing")
    moved = sum(old[k] != want[k] for k in set(old) & set(want))
    if moved:
        problems.append(f"{moved} rows differ from the split")
    unpinned = set(read_manifest_groups(mp)) - set(pins_for(name, pins))
    if unpinned:
        problems.append(f"{len(unpinned)} groups not pinned (run python -m training.splits --pin <release>)")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="data folder (default: shared data)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--check", action="store_true", help="only compare with committed manifests")
    ap.add_argument("--manifests", type=Path, default=MANIFEST_DIR,
                    help="where the previous manifests are read (their groups keep their split) and the "
                         "new ones written (default: the committed training/manifests)")
    ap.add_argument("--pins", type=Path, default=PINS_PATH,
                    help="pin file: groups whose split never moves (default: training/manifests/pinned_groups.csv)")
    ap.add_argument("--pin", metavar="RELEASE", default=None,
                    help="after writing, pin every group not pinned yet, tagged RELEASE (e.g. share-v3)")
    args = ap.parse_args(argv)
    if args.check and args.pin:
        ap.error("--pin writes; it cannot go with --check")
    everything: list[Record] = []
    status = 0
    for name in DATASETS:
        folder = dataset_folder(name, args.root)
        if not folder.exists():
            print(f"{name}: {folder} missing, skipped")
            continue
        recs = load_dataset(name, folder)
        jobs = [(name, lambda keep, recs=recs: assign_splits(recs, args.seed, pinned=keep))]
        if name == "physionet2016":
            jobs.append((BY_SOURCE, lambda keep, recs=recs: physionet_by_source(recs, seed=args.seed, pinned=keep)))
        for manifest, split_fn in jobs:
            keep = kept_splits(manifest, name, args.pins, args.manifests)
            mapping = split_fn(keep)
            if manifest == name:
                everything.extend(apply_splits(recs, mapping))
            groups = {r.group: mapping[r.key] for r in recs}
            n_kept = sum((name, g) in keep for g in groups)
            new = Counter(s for g, s in groups.items() if (name, g) not in keep)
            line = (f"{manifest}: {n_kept} groups kept, {sum(new.values())} new"
                    + (" (" + "/".join(f"{new[s]}" for s in SPLITS) + " train/val/test)" if new else ""))
            if args.check:
                problems = _check_manifest(manifest, recs, mapping, args.manifests, args.pins)
                print(f"{line}; manifest " + ("matches" if not problems else "DIFFERS: " + "; ".join(problems)))
                status |= bool(problems)
                continue
            write_manifest(recs, mapping, args.manifests / f"{manifest}.csv", folder)
            if args.pin:
                line += f"; {pin_new_groups(manifest, groups, args.pin, args.pins)} pinned as {args.pin}"
            print(line)
    print(count_table(everything))
    for name, why in NO_PATIENT_IDS.items():
        print(f"note: {name}: {why}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
