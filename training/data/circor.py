"""CirCor DigiScope 2022 (PhysioNet Challenge 2022) adapter.

Reads the official layout: ``<root>/training_data/<patient>.txt`` (header: recording list +
``#Key: value`` lines), ``<patient>_<site>[_<n>].hea/.wav/.tsv``. The shared copy stores FLAC
while the ``.txt``/``.hea`` still name ``.wav``: the audio is looked up by stem with any extension.

Labels (Oliveira et al. 2022):
- ``Murmur`` is per patient (Present / Absent / Unknown). For a murmur-present patient the
  murmur is *present* at the sites listed in ``Murmur locations`` and *absent* at the other
  recorded sites. Unknown patients are ``murmur="unknown"`` at every site.
- Timing / shape / grade / pitch / quality describe the patient's murmur; they are attached to
  the sites where the murmur is present only.
- ``Outcome`` (cardiologist's normal/abnormal after echo) is per patient: ``abnormal`` carries it
  with ``abnormal_scope="patient"``.
"""

from __future__ import annotations

from pathlib import Path

from .record import Record, audio_info, clean, find_audio, make_labels, sex_of

DATASET = "circor2022"
SITE_MAP = {"AV": "aortic", "PV": "pulmonic", "TV": "tricuspid", "MV": "mitral", "Phc": "other_heart"}
AGE_GROUP = {"Neonate": "neonate", "Infant": "infant", "Child": "child", "Adolescent": "adolescent",
             "Young Adult": "adult"}
SYS_TIMING = {"Early-systolic": "early-systolic", "Mid-systolic": "mid-systolic",
              "Late-systolic": "late-systolic", "Holosystolic": "holosystolic"}
DIA_TIMING = {"Early-diastolic": "early-diastolic", "Mid-diastolic": "mid-diastolic",
              "Holodiastolic": "holodiastolic"}


def _data_dir(root: Path) -> Path:
    root = Path(root)
    return root / "training_data" if (root / "training_data").is_dir() else root


def parse_patient_txt(path: Path) -> tuple[str, list[tuple[str, str]], dict]:
    """(patient_id, [(site_code, wav_name)], {header key: value}) of one patient file."""
    lines = Path(path).read_text().splitlines()
    first = lines[0].split()
    pid, n_rec = first[0], int(first[1])
    recs = []
    for line in lines[1 : 1 + n_rec]:
        parts = line.split()
        recs.append((parts[0], parts[2]))
    meta = {}
    for line in lines[1 + n_rec :]:
        if line.startswith("#") and ":" in line:
            k, v = line[1:].split(":", 1)
            meta[k.strip()] = v.strip()
    return pid, recs, meta


def _lower(v: str | None) -> str | None:
    return v.lower() if v else None


def load_circor(root) -> list[Record]:
    """All CirCor recordings under ``root`` (official layout), one :class:`Record` each."""
    folder = _data_dir(Path(root))
    txts = sorted(folder.glob("*.txt"))
    if not txts:
        raise FileNotFoundError(f"CirCor: no patient .txt files in {folder}")
    out: list[Record] = []
    for txt in txts:
        pid, recs, meta = parse_patient_txt(txt)
        murmur = clean(meta.get("Murmur"))
        locs = set((clean(meta.get("Murmur locations")) or "").split("+")) - {""}
        outcome = clean(meta.get("Outcome"))
        sys_t = SYS_TIMING.get(clean(meta.get("Systolic murmur timing")) or "")
        dia_t = DIA_TIMING.get(clean(meta.get("Diastolic murmur timing")) or "")
        if sys_t and dia_t:
            timing = "both"
        elif sys_t:
            timing = "systolic"
        elif dia_t:
            timing = "diastolic"
        else:
            timing = None
        # Shape/grade/pitch/quality: systolic murmur if any, else the diastolic one.
        pref = "Systolic" if sys_t else "Diastolic"
        shape = _lower(clean(meta.get(f"{pref} murmur shape")))
        grade = clean(meta.get(f"{pref} murmur grading"))
        pitch = _lower(clean(meta.get(f"{pref} murmur pitch")))
        quality = _lower(clean(meta.get(f"{pref} murmur quality")))
        age = AGE_GROUP.get(clean(meta.get("Age")) or "")
        for code, wav in recs:
            stem = Path(wav).stem
            audio = find_audio(folder, stem)
            if audio is None:
                continue  # subset copies may omit recordings listed in the header
            site_code = code.split("_")[0]
            if murmur == "Present":
                here = site_code in locs
                m = "present" if here else "absent"
            elif murmur == "Absent":
                m, here = "absent", False
            elif murmur == "Unknown":
                m, here = "unknown", False
            else:
                m, here = None, False
            sr, dur = audio_info(audio)
            labels = make_labels(
                abnormal=None if outcome is None else outcome == "Abnormal",
                abnormal_scope="patient" if outcome else None,
                murmur=m,
                murmur_timing=timing if here else None,
                murmur_timing_detail=(
                    "+".join(x for x in (sys_t, dia_t) if x) if here and timing else None),
                murmur_shape=shape if here else None,
                murmur_grade=grade if here else None,
                murmur_pitch=pitch if here else None,
                murmur_quality=quality if here else None,
                age_group=age,
                sex=sex_of(meta.get("Sex")),
                source_kind="patient",
            )
            labels["orig"] = {"site_code": code, "patient_murmur": murmur,
                              "murmur_locations": sorted(locs),
                              "most_audible": clean(meta.get("Most audible location")),
                              "outcome": outcome, "campaign": clean(meta.get("Campaign")),
                              "pregnant": clean(meta.get("Pregnancy status"))}
            out.append(Record(DATASET, stem, str(audio.resolve()), pid, "heart",
                              SITE_MAP.get(site_code), sr, dur, labels))
    return out
