"""PhysioNet/CinC Challenge 2016 adapter.

Layouts read:
- the shared subset: ``<root>/labels.csv`` (file, record, training_set, label, label_code);
- the official release: ``<root>/training-a..f/REFERENCE.csv`` (``record,-1|1``) beside the
  ``.wav`` files (and ``validation/`` if present).

No patient ids exist in this subset (the official release mixes several recordings per subject
without saying which), so ``patient_id`` is the record name and a record-level split may leak
subjects; ``training_set`` (a-f, each a different site/device) is kept in ``orig`` for the
by-source split (:func:`training.splits.physionet_by_source`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from .record import Record, audio_info, find_audio, make_labels

DATASET = "physionet2016"


def _rec(root: Path, audio: Path, name: str, tset: str, code: int, sqi: int | None = None) -> Record:
    sr, dur = audio_info(audio)
    labels = make_labels(abnormal=code == 1, abnormal_scope="recording", source_kind="patient",
                         poor_quality=None if sqi is None else sqi == 0)
    labels["orig"] = {"training_set": tset, "label_code": code, "sqi": sqi}
    return Record(DATASET, name, str(audio.resolve()), name, "heart", None, sr, dur, labels)


def load_physionet2016(root) -> list[Record]:
    root = Path(root)
    out: list[Record] = []
    table = root / "labels.csv"
    if table.exists():
        with open(table, newline="") as fh:
            for row in csv.DictReader(fh):
                audio = root / row["file"]
                if not audio.exists():
                    audio = find_audio(audio.parent, audio.stem) or audio
                if not audio.exists():
                    continue
                out.append(_rec(root, audio, row["record"], row["training_set"],
                                int(row["label_code"])))
        return out
    # the official annotations also give a signal quality index (1 good, 0 unusable) in
    # REFERENCE_withSQI.csv files; use it where present
    sqi: dict[str, int] = {}
    for p in root.rglob("REFERENCE_withSQI.csv"):
        with open(p, newline="") as fh:
            for row in csv.reader(fh):
                if len(row) >= 3 and row[2].strip().lstrip("-").isdigit():
                    sqi[row[0].strip()] = int(row[2])
    refs = sorted(root.glob("training-*/REFERENCE.csv")) + sorted(root.glob("validation/REFERENCE.csv"))
    if not refs:
        raise FileNotFoundError(f"PhysioNet 2016: neither labels.csv nor training-*/REFERENCE.csv in {root}")
    for ref in refs:
        with open(ref, newline="") as fh:
            for row in csv.reader(fh):
                if len(row) < 2:
                    continue
                audio = find_audio(ref.parent, row[0].strip())
                if audio is None:
                    continue
                out.append(_rec(root, audio, row[0].strip(), ref.parent.name, int(row[1]),
                                sqi.get(row[0].strip())))
    return out
