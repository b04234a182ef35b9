"""Export an exam as a folder of FLAC files plus one JSON file. No Qt here.

The folder is written under a temporary name and renamed when complete, so a
half-written export is never mistaken for a finished one. With
``strip=True`` the identifying fields are removed (see :func:`strip_identity`);
the audio is always re-encoded, so no metadata tags of the original files
(which may hold notes or names) travel with it.

A stored file with damaged frames (the reader decodes around them) is exported
as what can be decoded, and ``exam.json`` says so: each recording carries its
stored ``note`` (from the import) and, for the FLAC just written, ``audio_note``;
the top-level ``notes`` lists every ``audio_note`` (also in
:attr:`ExportResult.notes`).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import soundfile as sf

from .. import DISCLAIMER, __version__
from ..paths import private_dir
from ..store import Store, StoreError, site_title
from ..store.files import sha256_file
from ..store.records import note_without_file_name
from ..store.summary import main_finding

EXPORT_FORMAT = "stethodesk-export/1"
AGE_CAP_YEARS = 90  # ages at or above are shown as "90+" when stripping (HIPAA safe harbour)
IDENTIFYING = ("name", "mrn", "clinician", "notes")  # free-text notes may name people


@dataclass
class ExportResult:
    folder: Path
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # recordings that could not be exported
    notes: list[str] = field(default_factory=list)  # exported without damaged frames of the stored file


def exam_record(store: Store, exam_id: int) -> dict:
    """Everything the store knows about one exam, as JSON-ready data."""
    exam = store.get_exam(exam_id)
    patient = store.get_patient(exam.patient_id)
    recs = []
    for r in store.list_recordings(exam_id):
        analyses = store.list_analyses(r.id)
        findings = store.latest_findings(r.id)
        mf = main_finding(findings, r.domain, store.latest_points(r.id))
        recs.append({
            "id": r.id, "site": r.site, "site_title": site_title(r.site), "domain": r.domain,
            "duration_s": round(r.duration_s, 3), "samplerate": r.samplerate, "device": r.device,
            "filter": r.filter, "sha256": r.sha256, "file": r.file, "note": r.note,
            "quality": {"level": r.quality_level, "score": r.quality_score, "reason": r.quality_reason},
            "main_finding": {"label": mf.label, "probability": mf.probability},
            "analyses": [{
                "task": a.task, "question": a.question, "answer": a.answer, "findings": a.findings,
                "operating_points": a.points,
                "heart_rate_bpm": a.heart_rate_bpm, "other_recording_id": a.other_recording_id,
                "model": {"name": a.model_name, "version": a.model_version}, "timing": a.timings,
                "created": a.created, "disclaimer": DISCLAIMER,
            } for a in analyses],
        })
    return {
        "format": EXPORT_FORMAT,
        "app_version": __version__,
        "exported": datetime.now().astimezone().isoformat(timespec="seconds"),
        "disclaimer": DISCLAIMER,
        "identity_stripped": False,
        "patient": {"id": patient.id, "name": patient.name, "mrn": patient.mrn,
                    "age_years": patient.age_years, "sex": patient.sex},
        "exam": {"id": exam.id, "date": exam.date, "clinician": exam.clinician,
                 "notes": exam.notes, "protocol": exam.protocol},
        "recordings": recs,
    }


def strip_identity(record: dict) -> dict:
    """A copy of an exam record without identifying fields.

    Removes name, MRN, clinician, free-text notes, database ids and exact
    timestamps; keeps sex, age (capped at 90+) and the exam's year only.
    """
    out = json.loads(json.dumps(record))
    age = out["patient"].get("age_years")
    out["patient"] = {
        "age_years": (f"{AGE_CAP_YEARS}+" if age is not None and age >= AGE_CAP_YEARS else age),
        "sex": out["patient"].get("sex"),
    }
    out["exam"] = {"year": str(out["exam"].get("date", ""))[:4], "protocol": out["exam"].get("protocol")}
    out["exported"] = out["exported"][:4]
    for i, r in enumerate(out["recordings"], 1):
        r.pop("id", None)
        r.pop("file", None)
        if r.get("note"):  # the imported file's name may name the patient
            r["note"] = note_without_file_name(r["note"])
        for a in r["analyses"]:
            a.pop("created", None)
            a.pop("other_recording_id", None)
        r["index"] = i
    out["identity_stripped"] = True
    return out


def _write_flac(src: Path, dst: Path) -> str:
    """Re-encode ``src`` as FLAC, block by block, dropping every metadata tag; returns the reader's
    note on damaged frames of ``src`` that could not be decoded and are not in ``dst``, without
    ``src``'s name ("12 damaged frames (1.0 s) could not be ..."; "" when there were none).

    What libsndfile reads goes over losslessly as integers (16- or 24-bit); an MP3 or M4A in the
    store (FFmpeg's decode, to the end of the stream, not to an MP3 header's guess) as 24-bit.
    Files are opened as file objects, so paths of any length work. Raises RuntimeError (and
    OSError) when the audio cannot be decoded or written.
    """
    from stethodesk.audio.damage import Damage
    from stethodesk.audio.decode import DecodeError, UnreadableError, iter_blocks, open_source
    from stethodesk.audio.fileio import AudioInfo, damage_note, display_name

    try:
        s = open_source(src)
    except UnreadableError as exc:
        raise RuntimeError(f"{src.name}: not a readable audio file: {exc}") from None
    subtype = "PCM_16" if s.format.endswith(" PCM_16") else "PCM_24"
    with open(dst, "wb") as fo, sf.SoundFile(fo, "w", samplerate=s.samplerate, channels=s.channels,
                                             format="FLAC", subtype=subtype) as out:
        if s.decoder == "libsndfile":
            dtype = "int16" if subtype == "PCM_16" else "int32"
            with open(src, "rb") as fi, sf.SoundFile(fi) as f:
                for block in f.blocks(blocksize=65536, dtype=dtype, always_2d=True):
                    out.write(block)
        else:
            damage, frames = Damage(), 0
            try:
                for block in iter_blocks(s, damage=damage):
                    out.write(block)
                    frames += block.shape[0]
            except DecodeError as exc:
                raise RuntimeError(f"{src.name}: damaged after {exc.frames_read / s.samplerate:.1f} s "
                                   f"({exc.cause})") from None
            info = AudioInfo(src, s.samplerate, s.channels, frames, s.format, True, s.decoder)
            return damage_note(info, damage, frames).removeprefix(f"{display_name(src)}: ")
    return ""


def export_exam(
    store: Store, exam_id: int, dest: Path, *, strip: bool = False, with_pdf: bool = True,
) -> ExportResult:
    """Write ``dest/<name>/`` with ``NN-<site>.flac``, ``exam.json`` and ``report.pdf``.

    Each recording is checked against its sha256 first; a missing or altered
    file is left out and named in ``problems`` (and in exam.json), never
    exported as if it were the original.
    """
    record = exam_record(store, exam_id)
    exam = store.get_exam(exam_id)
    name = f"exam-anon-{exam.date[:4]}" if strip else f"exam-{exam.id}-{exam.date[:10]}"
    dest = Path(dest)
    private_dir(dest)  # folders it makes are user-only, whatever the umask
    final = dest / name
    n = 2
    while final.exists():
        final = dest / f"{name}-{n}"
        n += 1
    tmp = dest / f".{final.name}.part"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o700)
    result = ExportResult(final)
    try:
        for i, (rec, rrec) in enumerate(zip(store.list_recordings(exam_id), record["recordings"]), 1):
            fname = f"{i:02d}-{rec.site}.flac"
            try:
                src = store.verify_recording(rec)
                note = _write_flac(src, tmp / fname)
            except (StoreError, RuntimeError) as exc:
                result.problems.append(str(exc))
                rrec["audio_file"] = None
                rrec["audio_error"] = str(exc)
                continue
            if note:  # the FLAC holds what could be decoded: said in exam.json, not left silent
                rrec["audio_note"] = f"{fname} was written without the damaged part of the stored file: {note}"
            rrec["audio_file"] = fname
            rrec["audio_sha256"] = sha256_file(tmp / fname)
            result.files.append(final / fname)
        out = strip_identity(record) if strip else record
        out["problems"] = result.problems
        result.notes = [r["audio_note"] for r in out["recordings"] if r.get("audio_note")]
        out["notes"] = result.notes
        (tmp / "exam.json").write_text(json.dumps(out, indent=2, ensure_ascii=False))
        result.files.append(final / "exam.json")
        if with_pdf:
            from .pdf import build_exam_report

            build_exam_report(store, exam_id, tmp / "report.pdf", strip=strip)
            result.files.append(final / "report.pdf")
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result
