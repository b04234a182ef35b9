"""ICBHI 2017 Respiratory Sound Database adapter (breathing cycles).

Layouts read:
- the shared subset: ``<root>/labels.csv`` with one pre-cut cycle file per row (columns file,
  crackles, wheezes, patient_id, diagnosis, age, sex, chest_location, device, ...);
- the official release: ``<root>/<pid>_<idx>_<loc>_<mode>_<device>.wav`` + ``.txt`` cycle
  annotations (start, end, crackles, wheezes), ``ICBHI_Challenge_diagnosis.txt`` and
  ``ICBHI_Challenge_demographic_information.txt`` (searched anywhere under ``root``). Each cycle
  becomes one Record with ``start_s``/``end_s`` inside the recording.

Labels: per cycle ``crackle``/``wheeze`` (ICBHI's "wheeze" annotation does not separate rhonchi,
so ``rhonchi`` stays unknown; crackle type is not annotated). ``diagnosis`` is per patient.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .record import Record, age_group_from_years, audio_info, clean, make_labels, parse_float, sex_of

DATASET = "icbhi2017"
LOC = {"Tc": "trachea", "Al": "anterior_left", "Ar": "anterior_right", "Pl": "posterior_left",
       "Pr": "posterior_right", "Ll": "lateral_left", "Lr": "lateral_right"}


def _labels(crackle: bool, wheeze: bool, diagnosis, age, sex, orig: dict) -> dict:
    lab = make_labels(crackle=crackle, wheeze=wheeze, adventitious=crackle or wheeze,
                      diagnosis=clean(diagnosis), age_group=age_group_from_years(age),
                      sex=sex_of(sex), source_kind="patient")
    lab["orig"] = orig
    return lab


def _load_table(root: Path) -> list[Record]:
    out = []
    with open(root / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            audio = root / row["file"]
            if not audio.exists():
                continue
            sr, dur = audio_info(audio)
            site = row["chest_location"] if row["chest_location"] in LOC.values() else None
            orig = {k: row[k] for k in ("recording", "cycle_index", "start_s", "end_s", "device",
                                        "label")}
            lab = _labels(row["crackles"] == "1", row["wheezes"] == "1", row["diagnosis"],
                          parse_float(row["age"]), row["sex"], orig)
            out.append(Record(DATASET, audio.stem, str(audio.resolve()), str(row["patient_id"]),
                              "lung", site, sr, dur, lab))
    return out


def _find(root: Path, name: str) -> Path | None:
    hits = sorted(root.rglob(name))
    return hits[0] if hits else None


def _load_official(root: Path) -> list[Record]:
    diag: dict[str, str] = {}
    p = _find(root, "ICBHI_Challenge_diagnosis.txt")
    if p:
        for line in p.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                diag[parts[0]] = parts[1]
    demo: dict[str, tuple] = {}
    p = _find(root, "ICBHI_Challenge_demographic_information.txt")
    if p:
        for line in p.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                demo[parts[0]] = (parse_float(parts[1]), parts[2])
    out = []
    for txt in sorted(root.rglob("*.txt")):
        parts = txt.stem.split("_")
        if len(parts) != 5 or not parts[0].isdigit():
            continue
        wav = txt.with_suffix(".wav")
        if not wav.exists():
            wav = txt.with_suffix(".flac")
            if not wav.exists():
                continue
        pid, _, loc, _, device = parts
        sr, _ = audio_info(wav)
        age, sex = demo.get(pid, (None, None))
        for i, line in enumerate(txt.read_text().split("\n")):
            f = line.split()
            if len(f) < 4:
                continue
            start, end = float(f[0]), float(f[1])
            orig = {"recording": txt.stem, "cycle_index": i + 1, "device": device}
            lab = _labels(f[2] == "1", f[3] == "1", diag.get(pid), age, sex, orig)
            out.append(Record(DATASET, f"{txt.stem}_c{i + 1:02d}", str(wav.resolve()), pid, "lung",
                              LOC.get(loc), sr, end - start, lab, start_s=start, end_s=end))
    return out


def load_icbhi(root) -> list[Record]:
    root = Path(root)
    if (root / "labels.csv").exists():
        return _load_table(root)
    out = _load_official(root)
    if not out:
        raise FileNotFoundError(f"ICBHI: no labels.csv or <pid>_..._<device>.txt/.wav pairs in {root}")
    return out
