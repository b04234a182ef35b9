"""A recording imported from a file with damaged frames keeps the reader's note (issue 11 item 1):
the store keeps it across a restart (a real SQLite file closed and opened again), the PDF report
shows it under the recording's facts (read back with poppler's pdftotext), and the export says in
exam.json that its FLAC holds what could be decoded. The damaged MP3 is made here from a real
CirCor recording; an anonymised report or export does not carry the imported file's name."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from audio_files import damaged_real_mp3
from stethodesk import paths
from stethodesk.audio.fileio import read_audio, scan
from stethodesk.reports import build_exam_report, export_exam
from stethodesk.store import Store

NAME = "Zelda_Quux_apex.mp3"  # a file name that names the patient, as phone apps write them
LEFT_OUT = re.compile(r"\d+ damaged frames? \((about )?\d+\.\d s\) could not be decoded and were left out")


@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> tuple[Path, str]:
    """The damaged MP3 and the note the reader gives for it."""
    mp3 = tmp_path_factory.mktemp("phone") / NAME
    damaged_real_mp3(mp3)
    note = scan(mp3).note
    assert LEFT_OUT.search(note) and note.startswith(NAME)  # the file really is damaged
    return mp3, note


def _exam(root: Path, mp3: Path):
    s = Store(root)
    p = s.add_patient("Zelda Quux")
    e = s.add_exam(p.id)
    whole = s.add_recording(e.id, sorted((paths.shared_data_dir() / "circor2022").rglob("*_AV.flac"))[0], "aortic")
    hit = s.add_recording(e.id, mp3, "mitral")
    return s, e, whole, hit


def _text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())  # the note wraps over lines


def test_the_note_is_stored_and_survives_a_restart(tmp_path, damaged):
    mp3, note = damaged
    s, e, whole, hit = _exam(tmp_path / "home", mp3)
    assert hit.note == note and whole.note == ""
    s.close()
    with Store(tmp_path / "home") as again:  # the same SQLite file, opened anew
        by_site = {r.site: r for r in again.list_recordings(e.id)}
        assert by_site["mitral"].note == note and by_site["aortic"].note == ""
        x, sr = again.load_audio(by_site["mitral"])  # the stored copy reads at the stored length
        assert abs(len(x) / sr - by_site["mitral"].duration_s) < 1e-6
        assert again.integrity_check() == "ok"


def test_the_pdf_report_shows_the_note_and_leaves_the_name_out_when_anonymised(tmp_path, damaged):
    mp3, note = damaged
    s, e, _, _ = _exam(tmp_path / "home", mp3)
    text = _text(build_exam_report(s, e.id, tmp_path / "report.pdf"))
    assert f"Damaged file: {note}" in text
    assert text.count("Damaged file:") == 1  # the whole recording has none
    anon = _text(build_exam_report(s, e.id, tmp_path / "anon.pdf", strip=True))
    assert "Damaged file: The imported file: " + note[len(NAME) + 2:] in anon
    assert "Zelda" not in anon
    s.close()


def test_the_export_says_its_flac_leaves_the_damage_out(tmp_path, damaged):
    mp3, note = damaged
    s, e, _, hit = _exam(tmp_path / "home", mp3)
    res = export_exam(s, e.id, tmp_path / "out", with_pdf=False)
    data = json.loads((res.folder / "exam.json").read_text())
    by_site = {r["site"]: r for r in data["recordings"]}
    assert by_site["mitral"]["note"] == note and by_site["aortic"]["note"] == ""
    said = by_site["mitral"]["audio_note"]
    assert said.startswith("02-mitral.flac was written without the damaged part of the stored file: ")
    assert LEFT_OUT.match(said, len("02-mitral.flac was written without the damaged part of the stored file: "))
    assert "audio_note" not in by_site["aortic"]
    assert data["notes"] == [said] == res.notes and data["problems"] == []
    flac = res.folder / by_site["mitral"]["audio_file"]
    x, sr = read_audio(s.recording_path(hit))
    assert sf.info(str(flac)).frames == len(x) and sf.info(str(flac)).samplerate == sr  # what was read, no more

    anon = export_exam(s, e.id, tmp_path / "anon", strip=True, with_pdf=False)
    raw = (anon.folder / "exam.json").read_text()
    assert "Zelda" not in raw
    (rec,) = [r for r in json.loads(raw)["recordings"] if r["site"] == "mitral"]
    assert rec["note"] == "The imported file: " + note[len(NAME) + 2:] and rec["audio_note"] == said
    s.close()


def test_a_teaching_sound_keeps_its_note_across_a_restart(tmp_path, damaged):
    from stethodesk.teaching import import_sound, reference_library

    mp3, note = damaged
    with Store(tmp_path / "home") as s:
        sound = import_sound(s, mp3, "Phone heart", "heart")
        assert sound.note == note
    with Store(tmp_path / "home") as again:
        (item,) = again.list_library_items()
        assert item.note == note
        (mine,) = [r for r in reference_library(again) if r.source == "user"]
        assert mine.note == note and all(r.note == "" for r in reference_library(again) if r.source == "synth")
