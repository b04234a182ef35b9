"""HLS-CMDS adapter (Torabi et al. 2025): heart, lung and mixed sounds from a clinical manikin.

Layout: ``HS.csv`` + ``HS/<Heart Sound ID>.*``, ``LS.csv`` + ``LS/<Lung Sound ID>.*``,
``Mix.csv`` + ``Mix/{M,H,L}<n>.*`` (mixed recording and its separate heart and lung sources).
``LS.csv`` has stray spaces in some ids; they are stripped (the shared copy's
``LS_labels_fixed.csv`` does the same).

This is a manikin, not patients (``source_kind="manikin"``). Split groups: HS/LS recordings of the
same sound type and voice (gender column) share a group (the manikin plays the same source sound at
each site); a Mix row's M/H/L files share a group.

Each recording has exactly one sound type; findings other than that type are left unknown for
abnormal types and set absent for ``Normal`` (the manikin's normal programme has no added sounds).
The mixed file is labelled with both heart and lung labels, ``mixed=True``, and its domain follows
the chest site. ``LC``/``RC`` heart locations are not defined in the data description: site None,
the code is kept in ``orig``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .record import Record, audio_info, find_audio, make_labels, sex_of

DATASET = "hls_cmds"
HEART_SITE = {"RUSB": "aortic", "LUSB": "pulmonic", "LLSB": "tricuspid", "Apex": "mitral",
              "A": "mitral", "LC": None, "RC": None}
LUNG_SITE = {"RUA": "anterior_upper_right", "RMA": "anterior_middle_right",
             "RLA": "anterior_lower_right", "LUA": "anterior_upper_left",
             "LMA": "anterior_middle_left", "LLA": "anterior_lower_left"}
HEART_TYPES = {
    "Normal": dict(abnormal=False, murmur="absent", s3=False, s4=False, atrial_fibrillation=False,
                   av_block=False, tachycardia=False),
    "Early Systolic Murmur": dict(abnormal=True, murmur="present", murmur_timing="systolic",
                                  murmur_timing_detail="early-systolic"),
    "Mid Systolic Murmur": dict(abnormal=True, murmur="present", murmur_timing="systolic",
                                murmur_timing_detail="mid-systolic"),
    "Late Systolic Murmur": dict(abnormal=True, murmur="present", murmur_timing="systolic",
                                 murmur_timing_detail="late-systolic"),
    "Late Diastolic Murmur": dict(abnormal=True, murmur="present", murmur_timing="diastolic",
                                  murmur_timing_detail="late-diastolic"),
    "S3": dict(abnormal=True, s3=True),
    "S4": dict(abnormal=True, s4=True),
    "Atrial Fibrillation": dict(abnormal=True, atrial_fibrillation=True),
    "Tachycardia": dict(abnormal=True, tachycardia=True),
    "AV Block": dict(abnormal=True, av_block=True),
}
LUNG_TYPES = {
    "Normal": dict(adventitious=False, crackle=False, wheeze=False, rhonchi=False, stridor=False,
                   pleural_rub=False),
    "Fine Crackles": dict(adventitious=True, crackle=True, crackle_type="fine"),
    "Coarse Crackles": dict(adventitious=True, crackle=True, crackle_type="coarse"),
    "Wheezing": dict(adventitious=True, wheeze=True),
    "Rhonchi": dict(adventitious=True, rhonchi=True),
    "Pleural Rub": dict(adventitious=True, pleural_rub=True),
}

LUNG_CODE = {"Normal": "N", "Fine Crackles": "FC", "Coarse Crackles": "CC", "Wheezing": "W",
             "Rhonchi": "R", "Pleural Rub": "PR"}


def _site(code: str) -> tuple[str, str | None]:
    """(domain, normalised site) of an HLS location code."""
    if code in LUNG_SITE:
        return "lung", LUNG_SITE[code]
    return "heart", HEART_SITE.get(code)


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k.strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


def _lung_rows(root: Path) -> list[dict]:
    """LS rows with the audio ``stem``. The official ``LS.csv`` names 14 crackle files with old
    codes (``M_C_LUA`` for the file ``M_FC_LUA``, ``G`` for ``CC``): prefer the shared copy's
    ``LS_labels_fixed.csv``, else rebuild the stem from gender, type and location."""
    fixed = root / "LS_labels_fixed.csv"
    if fixed.exists():
        return [dict(r, stem=Path(r["file"]).stem) for r in _read(fixed)]
    if not (root / "LS.csv").exists():
        return []
    rows = []
    for r in _read(root / "LS.csv"):
        stem = r["Lung Sound ID"]
        if find_audio(root / "LS", stem) is None:
            stem = f"{r['Gender']}_{LUNG_CODE[r['Lung Sound Type']]}_{r['Location']}"
        rows.append(dict(r, stem=stem))
    return rows


def _make(root: Path, folder: str, stem: str, domain: str, site, group: str, lab: dict,
          orig: dict) -> Record | None:
    audio = find_audio(root / folder, stem)
    if audio is None:
        return None
    sr, dur = audio_info(audio)
    lab["orig"] = orig
    return Record(DATASET, f"{folder}/{stem}", str(audio.resolve()), group, domain, site, sr, dur,
                  lab)


def load_hls_cmds(root) -> list[Record]:
    root = Path(root)
    if not (root / "HS.csv").exists() and not (root / "LS.csv").exists():
        raise FileNotFoundError(f"HLS-CMDS: no HS.csv / LS.csv in {root}")
    out: list[Record | None] = []
    common = dict(source_kind="manikin")
    if (root / "HS.csv").exists():
        for row in _read(root / "HS.csv"):
            t, loc = row["Heart Sound Type"], row["Location"]
            lab = make_labels(**HEART_TYPES[t], **common, abnormal_scope="recording",
                              sex=sex_of(row["Gender"]))
            out.append(_make(root, "HS", row["Heart Sound ID"], "heart", _site(loc)[1],
                             f"HS-{row['Gender']}-{t}", lab, {"type": t, "location": loc}))
    for row in _lung_rows(root):
        t, loc = row["Lung Sound Type"], row["Location"]
        lab = make_labels(**LUNG_TYPES[t], **common, sex=sex_of(row["Gender"]))
        out.append(_make(root, "LS", row["stem"], "lung", _site(loc)[1],
                         f"LS-{row['Gender']}-{t}", lab, {"type": t, "location": loc}))
    if (root / "Mix.csv").exists():
        for row in _read(root / "Mix.csv"):
            ht, lt, loc = row["Heart Sound Type"], row["Lung Sound Type"], row["Location"]
            domain, site = _site(loc)
            group = f"Mix-{row['Mixed Sound ID']}"
            orig = {"heart_type": ht, "lung_type": lt, "location": loc}
            sex = sex_of(row["Gender"])
            heart = dict(HEART_TYPES[ht], abnormal_scope="recording")
            lung = LUNG_TYPES[lt]
            out.append(_make(root, "Mix", row["Mixed Sound ID"], domain, site, group,
                             make_labels(**heart, **lung, **common, sex=sex, mixed=True), orig))
            out.append(_make(root, "Mix", row["Heart Sound ID"], "heart", site, group,
                             make_labels(**heart, **common, sex=sex, mixed=False), orig))
            out.append(_make(root, "Mix", row["Lung Sound ID"], "lung", site, group,
                             make_labels(**lung, **common, sex=sex, mixed=False), orig))
    return [r for r in out if r is not None]
