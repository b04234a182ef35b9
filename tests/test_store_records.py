"""The SQLite store on a real file with real recordings: round trips, permissions,
migration from schema v1, tamper detection, deletion of files."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from stethodesk import paths
from stethodesk.store import MissingAudioError, Store, StoreError, TamperedAudioError
from stethodesk.store import db as store_db


def real_recordings(n: int = 3) -> list[Path]:
    """The first ``n`` CirCor recordings of the shared data (real heart sounds, 4 kHz)."""
    files = sorted((paths.shared_data_dir() / "circor2022").rglob("*.flac"))[:n]
    assert len(files) == n, "the shared CirCor recordings are required for these tests"
    return files


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "home")
    yield s
    s.close()


def test_database_file_and_folder_are_user_only(store):
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.db_path.stat().st_mode) == 0o600
    # WAL side files inherit the database's mode
    for side in ("-wal", "-shm"):
        p = Path(str(store.db_path) + side)
        assert p.exists()
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0
    con = sqlite3.connect(store.db_path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_round_trip_patient_exam_recording_analysis(store):
    src = real_recordings(1)[0]
    p = store.add_patient("Ada Example", "MRN-77", 34.5, "female")
    e = store.add_exam(p.id, clinician="Dr Who", notes="routine", protocol="cardiac4")
    r = store.add_recording(e.id, src, "mitral", device="pulse", filter="bell",
                            quality={"level": "fair", "score": 0.6, "reason": "some noise"})
    a = store.add_analysis(r.id, "report", "Systolic murmur likely.",
                           findings={"murmur": 0.81, "abnormal": 0.7}, model_name="stetholm",
                           model_version="0.1.0", timings={"encode_ms": 12.5, "total_ms": 300.0, "tokens": 20},
                           heart_rate_bpm=88.0)
    # reopen from disk: everything comes back as written
    store.close()
    s2 = Store(store.root)
    assert s2.get_patient(p.id) == p
    upd = s2.update_patient(p.id, age_years=0, name="", mrn="MRN-78")
    assert (upd.age_years, upd.name, upd.mrn) == (0, None, "MRN-78")  # a newborn keeps age 0
    assert s2.list_exams(p.id) == [e]
    assert s2.get_exam(e.id).protocol == "cardiac4"
    (r2,) = s2.list_recordings(e.id)
    assert r2 == r and r2.domain == "heart" and r2.samplerate == 4000
    assert r2.quality_level == "fair" and r2.quality_reason == "some noise"
    info = sf.info(str(src))
    assert r2.duration_s == pytest.approx(info.frames / info.samplerate)
    (a2,) = s2.list_analyses(r.id)
    assert a2 == a and a2.findings == {"abnormal": 0.7, "murmur": 0.81}
    assert a2.timings == {"encode_ms": 12.5, "total_ms": 300.0, "tokens": 20}
    x, sr = s2.load_audio(r.id)
    y, sr0 = sf.read(str(src), dtype="float32")
    assert sr == sr0 and np.array_equal(x, y)
    assert src.exists(), "adding a recording must never move or delete the source file"
    assert s2.integrity_check() == "ok"
    s2.close()


def test_bad_input_gives_readable_errors(store, tmp_path):
    with pytest.raises(StoreError, match="Sex must be"):
        store.add_patient(sex="yes")
    p = store.add_patient()
    assert p.display == f"Patient #{p.id}"
    e = store.add_exam(p.id)
    junk = tmp_path / "notes.flac"
    junk.write_text("this is not audio")
    with pytest.raises(StoreError, match="not a readable audio file"):
        store.add_recording(e.id, junk, "aortic")
    with pytest.raises(StoreError, match="does not exist"):
        store.add_exam(p.id + 100)
    assert store.list_recordings(e.id) == []


def test_tampered_and_missing_audio_are_detected(store):
    src = real_recordings(1)[0]
    e = store.add_exam(store.add_patient("T").id)
    r = store.add_recording(e.id, src, "aortic")
    path = store.recording_path(r)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # flip one byte of audio data
    path.write_bytes(bytes(data))
    with pytest.raises(TamperedAudioError, match="no longer matches its checksum"):
        store.load_audio(r.id)
    path.unlink()
    with pytest.raises(MissingAudioError, match="missing"):
        store.load_audio(r.id)


def test_deleting_a_patient_removes_their_files_only(store):
    a, b = real_recordings(2)
    p1, p2 = store.add_patient("One"), store.add_patient("Two")
    e1, e2 = store.add_exam(p1.id), store.add_exam(p2.id)
    r1 = store.add_recording(e1.id, a, "aortic")
    store.add_analysis(r1.id, "binary", "normal", model_name="m", model_version="1")
    sidecar = store.recording_path(r1).with_suffix(".json")
    sidecar.write_text("{}")
    r2 = store.add_recording(e2.id, b, "mitral")
    f1, f2 = store.recording_path(r1), store.recording_path(r2)
    removed = store.delete_patient(p1.id)
    assert f1 in removed and sidecar in removed
    assert not f1.exists() and not sidecar.exists() and not f1.parent.exists()
    assert f2.exists()
    with pytest.raises(StoreError):
        store.get_patient(p1.id)
    assert store._query("SELECT COUNT(*) FROM analyses")[0][0] == 0  # cascaded
    assert [r.id for r in store.recordings_of_patient(p2.id)] == [r2.id]


def test_orphans_are_cleaned_but_recorder_output_is_not(store):
    src = real_recordings(1)[0]
    e = store.add_exam(store.add_patient("O").id)
    r = store.add_recording(e.id, src, "erb")
    orphan = store.recording_path(r).with_name("leftover.flac")
    orphan.write_bytes(src.read_bytes())
    gone_patient = store.root / "recordings" / "patient-999" / "exam-5"
    gone_patient.mkdir(parents=True)
    (gone_patient / "x.flac").write_bytes(b"x")
    recorder_file = store.root / "recordings" / "live-001.flac"  # not store-managed
    recorder_file.write_bytes(src.read_bytes())
    assert store.clean_orphans(min_age_s=3600) == []  # too young to touch
    removed = set(store.clean_orphans(min_age_s=0))
    assert removed == {orphan, gone_patient / "x.flac"}
    assert store.recording_path(r).exists() and recorder_file.exists()
    assert not (store.root / "recordings" / "patient-999").exists()


def test_migration_from_schema_v1_keeps_data(tmp_path):
    root = tmp_path / "old"
    con = store_db.connect(root / store_db.DB_NAME)
    assert store_db.migrate(con, target=1) == [1]
    assert store_db.schema_version(con) == 1
    # rows written by a v1 app
    con.execute("INSERT INTO patients(id, name, mrn, age_years, sex, created) VALUES (1,'Old','M9',70,'male','2025-01-01')")
    con.execute("INSERT INTO exams(id, patient_id, date, clinician, notes) VALUES (1,1,'2025-01-01T10:00','Dr A','n')")
    con.execute(
        "INSERT INTO recordings(id, exam_id, site, domain, file, sha256, duration_s, created)"
        " VALUES (1,1,'mitral','heart','recordings/patient-1/exam-1/a.flac','00',5.0,'2025-01-01')")
    con.execute(
        "INSERT INTO analyses(recording_id, task, answer, findings, model_name, model_version, encode_ms, total_ms, created)"
        " VALUES (1,'binary','normal','{\"murmur\": 0.1}','m','0.0.1',5,50,'2025-01-01')")
    cols_v1 = {r[1] for r in con.execute("PRAGMA table_info(recordings)")}
    assert "samplerate" not in cols_v1
    con.close()
    s = Store(root, clean=False)
    assert s.schema_version == 7
    assert s.get_patient(1).name == "Old"
    exam = s.get_exam(1)
    assert exam.protocol is None and exam.clinician == "Dr A"
    rec = s.get_recording(1)
    assert rec.samplerate is None and rec.quality_reason == "" and rec.note == ""  # v6: no damage reported
    (an,) = s.list_analyses(1)
    assert an.findings == {"murmur": 0.1} and an.timings == {"encode_ms": 5.0, "total_ms": 50.0}
    assert an.grounding is None  # a v1 answer was never checked: said so, not invented
    assert an.points == {} and s.latest_points(1) == {}  # stored before operating points: each called at 0.5
    # v2 tables work on the migrated file
    s.add_quiz_attempt("stud", "s1", "synth:normal", "Normal", "Normal", True)
    assert s.quiz_history("stud")[0]["correct"] == 1
    versions = [r[0] for r in s._query("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [1, 2, 3, 4, 5, 6, 7]
    assert s.integrity_check() == "ok"
    s.close()


def test_newer_schema_is_refused_with_a_clear_message(tmp_path):
    s = Store(tmp_path / "h")
    s._con.execute("INSERT INTO schema_version VALUES (99, 'future', 'now')")
    s.close()
    with pytest.raises(StoreError, match="newer StethoDesk"):
        Store(tmp_path / "h")


def test_not_a_database_gives_a_clear_message(tmp_path):
    root = tmp_path / "h"
    root.mkdir()
    (root / store_db.DB_NAME).write_bytes(b"garbage" * 200)
    with pytest.raises(StoreError, match="not a StethoDesk database or is damaged"):
        Store(root)


def test_failed_transaction_rolls_back_everything(store):
    src = real_recordings(1)[0]
    p = store.add_patient("R")
    with pytest.raises(RuntimeError):
        with store.transaction():
            e = store.add_exam(p.id)
            store.add_recording(e.id, src, "aortic")
            raise RuntimeError("power cut simulation")
    assert store.list_exams(p.id) == []
    assert store._query("SELECT COUNT(*) FROM recordings")[0][0] == 0


def test_full_disk_leaves_no_partial_copy_and_a_clear_message(store, monkeypatch):
    import errno
    import shutil as _shutil

    src = real_recordings(1)[0]
    e = store.add_exam(store.add_patient("Disk").id)

    def full(fin, fout, length=0):
        fout.write(fin.read(1000))  # some bytes land, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_shutil, "copyfileobj", full)
    with pytest.raises(StoreError, match="Not enough disk space"):
        store.add_recording(e.id, src, "aortic")
    assert store.list_recordings(e.id) == []
    assert [p for p in (store.root / "recordings").rglob("*") if p.is_file()] == []
    assert src.exists()


def test_store_refuses_what_its_own_reader_refuses(store, tmp_path):
    """Issue 11 item 10: NaN samples, a header without samples, a cut FLAC and a 1 Hz file were
    stored and then refused on reading; the store checks with the reader first and keeps nothing."""
    e = store.add_exam(store.add_patient().id)
    nan = tmp_path / "nan.wav"
    x = np.zeros(8000, np.float32)
    x[4000] = np.nan
    sf.write(nan, x, 4000, subtype="FLOAT")
    empty = tmp_path / "header.wav"
    sf.write(empty, np.zeros(4, np.float32), 4000)
    cut = tmp_path / "cut.flac"
    data = real_recordings(1)[0].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    slow = tmp_path / "slow.wav"
    sf.write(slow, np.zeros(100, np.float32), 1, subtype="FLOAT")
    for bad, why in ((nan, "NaN"), (empty, "no audio samples"), (cut, "cut short"), (slow, "sample rate 1 Hz")):
        with pytest.raises(StoreError, match=f"Cannot add the recording: {bad.name}: .*{why}"):
            store.add_recording(e.id, bad, "aortic")
    assert store.list_recordings(e.id) == []
    assert not [f for f in store.root.rglob("*") if f.is_file() and f.suffix in (".wav", ".flac")]
