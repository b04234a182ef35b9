"""Patient-level train / val / test splits, seeded and stratified, written as CSV manifests.

Every record carries a split ``group`` (the patient for CirCor, ICBHI, SPRSound and PASCAL; the
record for PhysioNet 2016 and Yaseen, which have no patient ids, so those splits may leak subjects;
the source sound for HLS-CMDS). Groups never cross splits. Within a dataset, groups are stratified
on a group-level main label (:data:`STRATA`) and assigned greedily to the split furthest below its
target share of records.

    python -m training.splits                 # write training/manifests/<set>.csv, print counts
    python -m training.splits --check         # compare the committed manifests with a fresh split

Use from code::

    from training.splits import load_split
    train = load_split("train")               # Records with .split set, all datasets
"""

from __future__ import annotations

import argparse
import csv
import random
from collections import Counter, defaultdict
from pathlib import Path

from training.data import DATASETS, Record, dataset_folder, load_dataset

SPLITS = ("train", "val", "test")
FRACTIONS = {"train": 0.70, "val": 0.15, "test": 0.15}
DEFAULT_SEED = 20260422
MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"
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


def assign_splits(records: list[Record], seed: int = DEFAULT_SEED,
                  fractions: dict[str, float] = FRACTIONS) -> dict[str, str]:
    """``{record.key: split}`` for one or more datasets; groups never cross splits.

    Greedy balanced group assignment, per dataset: each group is a count vector over the record
    main labels plus its group stratum (e.g. ICBHI diagnosis). Groups are shuffled with ``seed``,
    ordered largest first (a big patient placed last would wreck the balance), and each goes to
    the split where it most reduces the squared distance of every label count from its target
    share (counts normalised by the label's total, so rare labels weigh as much as common ones).
    """
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
        rng = random.Random(f"{seed}|{ds}")
        rng.shuffle(groups)
        groups.sort(key=lambda g: -len(by_group[g]))  # stable: shuffled order within equal sizes
        have = {s: Counter() for s in fractions}

        def cost_delta(s: str, v: Counter) -> float:
            d = 0.0
            for k, n in v.items():
                target = fractions[s] * total[k]
                before = have[s][k] - target
                d += ((before + n) ** 2 - before**2) / total[k]
            return d

        for g in groups:
            split = min(fractions, key=lambda s: (cost_delta(s, vec[g]), list(fractions).index(s)))
            have[split].update(vec[g])
            for r in by_group[g]:
                out[r.key] = split
    return out


def apply_splits(records: list[Record], mapping: dict[str, str]) -> list[Record]:
    return [r.with_split(mapping.get(r.key)) for r in records]


def physionet_by_source(records: list[Record], test_sources=("training-e",),
                        val_fraction: float = 0.15, seed: int = DEFAULT_SEED) -> dict[str, str]:
    """Domain-shift split of PhysioNet 2016: every record of ``test_sources`` (the challenge's
    subsets, each a different site/device) is test; the others are train/val by record."""
    rest = [r for r in records if r.labels["orig"]["training_set"] not in test_sources]
    out = assign_splits(rest, seed, {"train": 1 - val_fraction, "val": val_fraction})
    for r in records:
        if r.labels["orig"]["training_set"] in test_sources:
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


def manifest_path(name: str) -> Path:
    return MANIFEST_DIR / f"{name}.csv"


def load_split(split: str | None = None, datasets=DATASETS, root=None,
               roots: dict | None = None) -> list[Record]:
    """Records with ``.split`` set from the committed manifests; a set whose records are not all
    in its manifest (e.g. a user's full official release, see ``roots`` in
    :func:`training.data.dataset_folder`) gets a fresh seeded patient-level split.
    ``split=None`` returns all splits."""
    out = []
    for name in datasets:
        folder = dataset_folder(name, root, roots)
        if not folder.exists():
            continue
        recs = load_dataset(name, folder)
        mp = manifest_path(name)
        if mp.exists():
            by_id = read_manifest(mp)
            mapping = {r.key: by_id.get(r.record_id) for r in recs}
            if any(v is None for v in mapping.values()):  # different release: split afresh
                mapping = assign_splits(recs)
        else:
            mapping = assign_splits(recs)
        out.extend(r for r in apply_splits(recs, mapping) if split is None or r.split == split)
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="data folder (default: shared data)")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--check", action="store_true", help="only compare with committed manifests")
    ap.add_argument("--manifests", type=Path, default=MANIFEST_DIR,
                    help="where to write the manifests (default: the committed training/manifests)")
    args = ap.parse_args(argv)
    everything: list[Record] = []
    status = 0
    for name in DATASETS:
        folder = dataset_folder(name, args.root)
        if not folder.exists():
            print(f"{name}: {folder} missing, skipped")
            continue
        recs = load_dataset(name, folder)
        mapping = assign_splits(recs, args.seed)
        if args.check:
            mp = args.manifests / f"{name}.csv"
            old = read_manifest(mp) if mp.exists() else {}
            same = all(old.get(r.record_id) == mapping[r.key] for r in recs)
            print(f"{name}: manifest {'matches' if same else 'DIFFERS'}")
            status |= not same
        else:
            write_manifest(recs, mapping, args.manifests / f"{name}.csv", folder)
        everything.extend(apply_splits(recs, mapping))
        if name == "physionet2016" and not args.check:
            by_src = physionet_by_source(recs, seed=args.seed)
            write_manifest(recs, by_src, args.manifests / "physionet2016_by_source.csv", folder)
    print(count_table(everything))
    for name, why in NO_PATIENT_IDS.items():
        print(f"note: {name}: {why}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
