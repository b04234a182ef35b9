"""Yaseen, Son, Kwon 2018 adapter (five classes: N, AS, MR, MS, MVP; 200 clips each).

Layout: one folder per class (``N/``, ``AS/``, ...) with ``labels.csv`` (file, label) where the
shared copy has it; otherwise the class is the folder name. There are **no patient ids**: each clip
is its own split group, so clips cut from one subject may sit in different splits (the split
leaks; scores on this set are optimistic, as the data README warns).

Labels: ``lesion`` is the class. ``abnormal`` = class != N. Murmur: N clips are murmur-absent;
AS, MR and MS are defined by their murmurs (AS and MR systolic, MS diastolic, standard textbook
definitions, see resources/clinical_knowledge.json), so murmur presence and timing are set from
the class; MVP is defined by a mid-systolic click with or without a late-systolic murmur, so its
murmur stays unknown.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .record import Record, audio_info, make_labels

DATASET = "yaseen2018"
CLASSES = ("N", "AS", "MR", "MS", "MVP")
CLASS_MURMUR = {"N": ("absent", None), "AS": ("present", "systolic"), "MR": ("present", "systolic"),
                "MS": ("present", "diastolic"), "MVP": (None, None)}
AUDIO_EXT = (".flac", ".wav")


def _rec(audio: Path, cls: str, root: Path) -> Record:
    sr, dur = audio_info(audio)
    murmur, timing = CLASS_MURMUR[cls]
    labels = make_labels(abnormal=cls != "N", abnormal_scope="recording", lesion=cls,
                         murmur=murmur, murmur_timing=timing, source_kind="patient")
    labels["orig"] = {"class": cls}
    rid = audio.relative_to(root).with_suffix("").as_posix()
    return Record(DATASET, rid, str(audio.resolve()), rid, "heart", None, sr, dur, labels)


def _class_of_folder(name: str) -> str | None:
    # official folders are e.g. "N_New_3주기"; the shared copy uses "N"
    head = name.split("_")[0].upper()
    return head if head in CLASSES else None


def load_yaseen(root) -> list[Record]:
    root = Path(root)
    out: list[Record] = []
    table = root / "labels.csv"
    if table.exists():
        with open(table, newline="") as fh:
            for row in csv.DictReader(fh):
                audio = root / row["file"]
                if audio.exists():
                    out.append(_rec(audio, row["label"].strip().upper(), root))
        return out
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        cls = _class_of_folder(folder.name)
        if cls is None:
            continue
        for audio in sorted(folder.iterdir()):
            if audio.suffix.lower() in AUDIO_EXT:
                out.append(_rec(audio, cls, root))
    if not out:
        raise FileNotFoundError(f"Yaseen: no labels.csv or class folders (N, AS, ...) in {root}")
    return out
