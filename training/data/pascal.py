"""PASCAL Classifying Heart Sounds Challenge 2011, set B (DigiScope, clinical trial) adapter.

Layout: ``<root>/set_b/*.wav|flac`` with ``labels.csv`` (shared copy: file, label, sublabel) or the
official ``set_b.csv`` (dataset, fname, label, sublabel); files without a label (the
``Bunlabelledtest`` files) are skipped.

The file names are ``<label>_<sublabel>_<subject>_<timestamp>_<letter>``; the 3-digit number is
taken as the subject id for patient-level splits. The trailing letter is not documented as a
chest site, so ``site`` is None.

Labels: normal -> abnormal False, murmur absent, extrasystole False; murmur -> abnormal True,
murmur present; extrastole -> extrasystole True (extrasystoles can be benign, so ``abnormal`` is
left unknown). The "noisy" sublabels mark ``poor_quality`` True; the others False.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from .record import Record, audio_info, clean, find_audio, make_labels

DATASET = "pascal_chsc2011"
SUBJECT_RE = re.compile(r"_(\d{3})_(\d{10,})")


def _labels(label: str, sub: str | None) -> dict:
    noisy = bool(sub and sub.startswith("noisy"))
    if label == "normal":
        lab = make_labels(abnormal=False, murmur="absent", extrasystole=False)
    elif label == "murmur":
        lab = make_labels(abnormal=True, murmur="present")
    elif label in ("extrastole", "extrasystole"):
        lab = make_labels(extrasystole=True)
    else:
        raise ValueError(f"PASCAL: unknown label {label!r}")
    lab["abnormal_scope"] = "recording" if lab["abnormal"] is not None else None
    lab["poor_quality"] = noisy
    lab["source_kind"] = "patient"
    lab["orig"] = {"label": label, "sublabel": sub}
    return lab


def load_pascal(root) -> list[Record]:
    root = Path(root)
    rows: list[tuple[Path, str, str | None]] = []
    if (root / "labels.csv").exists():
        with open(root / "labels.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                rows.append((root / row["file"], row["label"], clean(row.get("sublabel"))))
    elif (root / "set_b.csv").exists():
        with open(root / "set_b.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                if clean(row.get("label")) is None:
                    continue
                rows.append((root / row["fname"], row["label"], clean(row.get("sublabel"))))
    else:
        raise FileNotFoundError(f"PASCAL: no labels.csv or set_b.csv in {root}")
    out: list[Record] = []
    for path, label, sub in rows:
        audio = path if path.exists() else find_audio(path.parent, path.stem)
        if audio is None:
            continue
        m = SUBJECT_RE.search(audio.stem)
        subject = m.group(1) if m else audio.stem
        sr, dur = audio_info(audio)
        out.append(Record(DATASET, audio.stem, str(audio.resolve()), subject, "heart", None,
                          sr, dur, _labels(label.strip().lower(), sub)))
    return out
