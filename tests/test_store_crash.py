"""A writer process killed with SIGKILL in the middle of a batch leaves a consistent database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from stethodesk import paths
from stethodesk.store import Store
from stethodesk.store.files import sha256_file

SITES = ("aortic", "pulmonic", "tricuspid", "mitral")

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from stethodesk.store import Store

    root, src = Path(sys.argv[1]), Path(sys.argv[2])
    store = Store(root)
    patient = store.add_patient("Crash Test")
    n = 0
    while True:
        n += 1
        with store.transaction():
            exam = store.add_exam(patient.id, notes=f"batch {n}")
            for i, site in enumerate(%r):
                rec = store.add_recording(exam.id, src, site)
                store.add_analysis(rec.id, "binary", "normal", findings={"murmur": 0.1},
                                   model_name="m", model_version="1")
                if n >= 4 and i == 1:
                    # half-way through exam n: tell the parent, then keep writing slowly
                    print(f"MID {n}", flush=True)
                    import time; time.sleep(30)
        print(f"COMMITTED {n}", flush=True)
    """
    % (SITES,)
)


def test_kill_9_mid_batch_leaves_consistent_db(tmp_path):
    src = sorted((paths.shared_data_dir() / "circor2022").rglob("*.flac"))[0]
    root = tmp_path / "home"
    env = dict(os.environ, PYTHONPATH=str(paths.REPO_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), str(src)], stdout=subprocess.PIPE, text=True, env=env
    )
    committed = 0
    try:
        for line in proc.stdout:
            if line.startswith("COMMITTED"):
                committed = int(line.split()[1])
            if line.startswith("MID"):
                os.kill(proc.pid, signal.SIGKILL)  # inside the open transaction of exam 4
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert committed == 3

    store = Store(root, clean=False)
    assert store.integrity_check() == "ok"
    (patient,) = store.list_patients()
    exams = store.list_exams(patient.id)
    assert sorted(e.notes for e in exams) == ["batch 1", "batch 2", "batch 3"]  # no half exam
    for exam in exams:
        recs = store.list_recordings(exam.id)
        assert [r.site for r in recs] == list(SITES)
        for r in recs:
            assert len(store.list_analyses(r.id)) == 1
            assert sha256_file(store.recording_path(r)) == r.sha256
    # the half-written exam's copied files are orphans; cleaning removes exactly those
    referenced = {store.recording_path(r) for e in exams for r in store.list_recordings(e.id)}
    on_disk = {p for p in (root / "recordings").rglob("*.flac")}
    orphans = on_disk - referenced
    assert len(orphans) == 2
    assert set(store.clean_orphans(min_age_s=0)) == orphans
    assert {p for p in (root / "recordings").rglob("*.flac")} == referenced
    # the database still takes writes after the crash
    store.add_exam(patient.id, notes="after crash")
    assert store.integrity_check() == "ok"
    store.close()


FAST_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from stethodesk.store import Store

    root, src = Path(sys.argv[1]), Path(sys.argv[2])
    store = Store(root, clean=False)
    patient = store.add_patient("Fast")
    n = 0
    while True:
        n += 1
        with store.transaction():
            exam = store.add_exam(patient.id, notes=f"batch {n}")
            for site in %r:
                rec = store.add_recording(exam.id, src, site)
                store.add_analysis(rec.id, "binary", "x", model_name="m", model_version="1")
        print(f"COMMITTED {n}", flush=True)
    """
    % (SITES,)
)


def test_kill_9_at_random_moments_never_leaves_a_partial_exam(tmp_path):
    """Full-speed writer killed at arbitrary points (3 rounds on the same database)."""
    import random

    src = sorted((paths.shared_data_dir() / "circor2022").rglob("*.flac"))[0]
    root = tmp_path / "home"
    env = dict(os.environ, PYTHONPATH=str(paths.REPO_ROOT))
    rng = random.Random(1234)
    for round_ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", FAST_WRITER, str(root), str(src)],
                                stdout=subprocess.PIPE, text=True, env=env)
        target = rng.randint(2, 5)
        for line in proc.stdout:
            if line.startswith("COMMITTED") and int(line.split()[1]) >= target:
                break
        time.sleep(rng.uniform(0.0, 0.05))  # land somewhere inside the next batch
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        store = Store(root, clean=False)
        assert store.integrity_check() == "ok"
        patients = store.list_patients()
        assert len(patients) == round_ + 1
        assert len(store.list_exams(patients[0].id)) >= target  # this round's commits all survived
        for p in patients:
            for e in store.list_exams(p.id):
                recs = store.list_recordings(e.id)
                assert [r.site for r in recs] == list(SITES), f"partial exam {e.notes}"
                assert all(len(store.list_analyses(r.id)) == 1 for r in recs)
                assert all(store.recording_path(r).exists() for r in recs)
        store.close()
