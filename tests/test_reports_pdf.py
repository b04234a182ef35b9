"""PDF exam report and export folder, built from real recordings and rendered with poppler."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from stethodesk import DISCLAIMER, paths
from stethodesk.reports import build_exam_report, export_exam
from stethodesk.store import Store

SITES = ("aortic", "pulmonic", "tricuspid", "mitral")


def _exam(tmp_path: Path):
    files = sorted((paths.shared_data_dir() / "circor2022").rglob("*.flac"))[:4]
    assert len(files) == 4
    s = Store(tmp_path / "home")
    p = s.add_patient("Zelda Quux", "MRN-98765", 93, "female")
    e = s.add_exam(p.id, clinician="Dr Yarrow", notes="Ask Zelda about palpitations", protocol="cardiac4")
    recs = []
    for f, site in zip(files, SITES):
        r = s.add_recording(e.id, f, site, quality={"level": "good", "score": 0.9, "reason": "Clear."})
        s.add_analysis(r.id, "binary", f"Answer for {site}: murmur likely.",
                       findings={"murmur": 0.81, "abnormal": 0.7, "lesion_AS": 0.3},
                       model_name="stetholm-test", model_version="9.8.7", heart_rate_bpm=95.0)
        recs.append(r)
    return s, e, recs, files


def _pdftext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_pdf_report_contents_and_rendering(tmp_path):
    s, e, recs, _ = _exam(tmp_path)
    pdf = build_exam_report(s, e.id, tmp_path / "report.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    text = _pdftext(pdf)
    for needle in ("Zelda Quux", "MRN-98765", "Dr Yarrow", "Decision support, not a diagnosis",
                   "stetholm-test", "9.8.7", "Answer for mitral: murmur likely.", "Murmur 81%",
                   "Mitral", "95 bpm", e.date[:10]):
        assert needle in text, needle
    assert text.count("Decision support, not a diagnosis") >= 1 + len(recs)  # banner + every answer
    # render page 1 and check the waveform thumbnails were drawn (dark accent pixels)
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    img = np.asarray(Image.open(png).convert("RGB")).astype(int)
    accent = (abs(img[..., 0] - 0x1F) < 30) & (abs(img[..., 1] - 0x5F) < 30) & (abs(img[..., 2] - 0x8B) < 30)
    rows_with_wave = np.flatnonzero(accent.sum(axis=1) > img.shape[1] * 0.3)
    assert rows_with_wave.size > 0, "no waveform thumbnail visible on page 1"
    s.close()


def test_stripped_report_and_tampered_audio(tmp_path):
    s, e, recs, _ = _exam(tmp_path)
    path = s.recording_path(recs[1])
    data = bytearray(path.read_bytes())
    data[-50] ^= 0x55
    path.write_bytes(bytes(data))
    pdf = build_exam_report(s, e.id, tmp_path / "anon.pdf", strip=True)
    text = _pdftext(pdf)
    for secret in ("Zelda", "MRN-98765", "Yarrow", "palpitations"):
        assert secret not in text
    assert "identity removed" in text and "90+ years" in text
    assert "no longer matches its checksum" in text
    s.close()


def test_export_folder_full_and_stripped(tmp_path):
    s, e, recs, files = _exam(tmp_path)
    full = export_exam(s, e.id, tmp_path / "out")
    meta = json.loads((full.folder / "exam.json").read_text())
    assert meta["patient"]["name"] == "Zelda Quux" and meta["exam"]["clinician"] == "Dr Yarrow"
    assert meta["disclaimer"] == DISCLAIMER and meta["problems"] == []
    assert [r["audio_file"] for r in meta["recordings"]] == [f"{i:02d}-{s}.flac" for i, s in enumerate(SITES, 1)]
    for r, src in zip(meta["recordings"], files):
        a, sra = sf.read(str(full.folder / r["audio_file"]), dtype="int16")
        b, srb = sf.read(str(src), dtype="int16")
        assert sra == srb and np.array_equal(a, b)  # lossless
    assert meta["recordings"][0]["analyses"][0]["model"] == {"name": "stetholm-test", "version": "9.8.7"}

    # tamper with one file: the stripped export leaves it out and says why
    p = s.recording_path(recs[2])
    p.write_bytes(p.read_bytes()[:-10] + b"0123456789")
    anon = export_exam(s, e.id, tmp_path / "out", strip=True)
    assert anon.folder.name.startswith("exam-anon-") and anon.folder != full.folder
    meta = json.loads((anon.folder / "exam.json").read_text())
    assert meta["identity_stripped"] is True
    assert set(meta["patient"]) == {"age_years", "sex"} and meta["patient"]["age_years"] == "90+"
    assert len(anon.problems) == 1 and "checksum" in anon.problems[0]
    assert meta["recordings"][2]["audio_file"] is None
    assert not (anon.folder / "03-tricuspid.flac").exists()
    blob = b"".join(f.read_bytes() for f in anon.folder.iterdir() if f.suffix != ".pdf")
    blob += _pdftext(anon.folder / "report.pdf").encode()
    for secret in (b"Zelda", b"MRN-98765", b"Yarrow", b"palpitations"):
        assert secret not in blob
    assert not list((tmp_path / "out").glob(".*part"))
    s.close()


def test_export_of_phone_formats_is_whole(tmp_path):
    """An M4A and a VBR MP3 without Xing frame in the store export as FLAC of their full length
    (libsndfile could not open the M4A and stopped the MP3 at its header's guess; issue 11 item 1)."""
    from audio_files import encode, tone_and_noise

    sr = 22050
    x = tone_and_noise(sr, 21.3)
    m4a, mp3 = tmp_path / "phone.m4a", tmp_path / "phone.mp3"
    encode(m4a, x[:, None], sr, "aac", "mp4")
    encode(mp3, x[:, None], sr, "libmp3lame", "mp3", {"write_xing": "0"}, vbr_quality=4)
    s = Store(tmp_path / "home")
    e = s.add_exam(s.add_patient().id)
    for f, site in ((m4a, "aortic"), (mp3, "mitral")):
        s.add_recording(e.id, f, site)
    out = export_exam(s, e.id, tmp_path / "out", with_pdf=False)
    assert out.problems == []
    for name in ("01-aortic.flac", "02-mitral.flac"):
        info = sf.info(str(out.folder / name))
        assert info.samplerate == sr and 0 <= info.frames - x.size <= 576 + 529 + 1152, (name, info.frames)
    s.close()


def test_report_is_user_only_whatever_the_umask(tmp_path):
    """It holds the patient's name, MRN and notes (issue 11 item 11: every such file is 0600)."""
    import os

    s, e, _, _ = _exam(tmp_path)
    old = os.umask(0)
    try:
        pdf = build_exam_report(s, e.id, tmp_path / "report.pdf")
    finally:
        os.umask(old)
    assert pdf.stat().st_mode & 0o777 == 0o600
    s.close()


def test_export_and_store_folders_are_user_only_whatever_the_umask(tmp_path):
    """Every folder made for patient data - the store's, the export's and any parent it had to
    make - is 0700 under umask 000 (issue 11 item 11, F14: parents were drwxrwxrwx)."""
    import os

    from stethodesk.store import Store

    old = os.umask(0)
    try:
        s, e, _, _ = _exam(tmp_path)
        store2 = Store(tmp_path / "new" / "deeper" / "store")
        out = export_exam(s, e.id, tmp_path / "exports" / "new" / "dest", with_pdf=False)
    finally:
        os.umask(old)
    made = [tmp_path / "new", tmp_path / "new" / "deeper", store2.root, *[p for p in store2.root.rglob("*") if p.is_dir()],
            tmp_path / "exports", tmp_path / "exports" / "new", tmp_path / "exports" / "new" / "dest", out.folder]
    assert {str(p): oct(p.stat().st_mode & 0o777) for p in made} == {str(p): oct(0o700) for p in made}
    store2.close()
    s.close()
