"""Print what the adapters read: records, patients and label values per dataset.

    python -m training.data                   # shared data folder
    python -m training.data --root /data      # another folder with the same set folder names
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from training.data import DATASETS, LABEL_KEYS, dataset_folder, load_dataset


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=None)
    args = ap.parse_args(argv)
    for name in DATASETS:
        folder = dataset_folder(name, args.root)
        if not folder.exists():
            print(f"{name}: {folder} missing, skipped")
            continue
        recs = load_dataset(name, folder)
        hours = sum(r.duration_s for r in recs) / 3600
        print(f"== {name}: {len(recs)} records, {len({r.patient_id for r in recs})} patients/groups, "
              f"{hours:.2f} h, domains {dict(Counter(r.domain for r in recs))}")
        print(f"   sites {dict(Counter(r.site for r in recs).most_common())}")
        for k in LABEL_KEYS:
            if k == "orig":
                continue
            c = Counter(r.labels[k] for r in recs)
            if set(c) != {None}:
                print(f"   {k:22s} {dict(c.most_common())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
