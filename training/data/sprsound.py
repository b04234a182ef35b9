"""SPRSound 2022 (SJTU paediatric respiratory sound database) adapter.

Layout (official and shared copy alike): ``*_json/<stem>.json`` annotations
(``record_annotation`` and ``event_annotation`` [{start, end, type}]) and the audio of the same
stem in a sibling folder (``train_wav/`` officially, ``train_flac/`` here). The file name is
``<patient>_<age years>_<sex 0=M/1=F>_<p1..p4>_<recording number>``; p1..p4 are left posterior,
left lateral, right posterior, right lateral.

Labels: ``poor_quality`` = record label "Poor Quality" (then every sound label stays unknown);
``adventitious`` = record label is CAS, DAS or CAS & DAS. Per sound type, from the events:
crackle (Fine/Coarse Crackle, Wheeze+Crackle), wheeze (Wheeze, Wheeze+Crackle), rhonchi, stridor.
Pleural rub is not in SPRSound's annotation scheme: unknown.
"""

from __future__ import annotations

import json
from pathlib import Path

from .record import Record, age_group_from_years, audio_info, make_labels, parse_float

DATASET = "sprsound2022"
SITE = {"p1": "posterior_left", "p2": "lateral_left", "p3": "posterior_right", "p4": "lateral_right"}
SEX = {"0": "male", "1": "female"}


def _labels(ann: dict, age, sex, orig: dict) -> dict:
    rec_label = str(ann.get("record_annotation", "")).strip()
    events = [str(e.get("type", "")).strip() for e in ann.get("event_annotation", [])]
    lab = make_labels(age_group=age_group_from_years(age), sex=sex, source_kind="patient")
    lab["orig"] = {**orig, "record_label": rec_label, "events": events}
    if rec_label == "Poor Quality":
        lab["poor_quality"] = True
        return lab
    lab["poor_quality"] = False
    lab["adventitious"] = rec_label != "Normal"
    fine = "Fine Crackle" in events
    coarse = "Coarse Crackle" in events
    lab["crackle"] = fine or coarse or "Wheeze+Crackle" in events
    lab["crackle_type"] = "both" if fine and coarse else "fine" if fine else "coarse" if coarse else None
    lab["wheeze"] = "Wheeze" in events or "Wheeze+Crackle" in events
    lab["rhonchi"] = "Rhonchi" in events
    lab["stridor"] = "Stridor" in events
    return lab


def load_sprsound(root) -> list[Record]:
    root = Path(root)
    audio_by_stem = {p.stem: p for p in root.rglob("*") if p.suffix.lower() in (".wav", ".flac")}
    out = []
    for js in sorted(root.rglob("*.json")):
        parts = js.stem.split("_")
        if len(parts) != 5 or js.stem not in audio_by_stem:
            continue
        pid, age, sex, loc, _ = parts
        audio = audio_by_stem[js.stem]
        ann = json.loads(js.read_text())
        sr, dur = audio_info(audio)
        orig = {"split_folder": js.parent.name, "location_code": loc}
        out.append(Record(DATASET, js.stem, str(audio.resolve()), pid, "lung", SITE.get(loc),
                          sr, dur, _labels(ann, parse_float(age), SEX.get(sex), orig)))
    if not out:
        raise FileNotFoundError(f"SPRSound: no <stem>.json + audio pairs under {root}")
    return out
