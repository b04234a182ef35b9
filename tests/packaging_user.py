"""A user's side of the desktop build's installer, shared by the install tests.

``run_script`` runs packaging's ``install.sh`` / ``uninstall.sh`` as a user whose home is a
temporary folder (nothing of this machine's XDG settings leaks in); ``fill_user_records``
writes what a clinic keeps (a patient, an exam and a real recording in the real SQLite store)
where the app keeps it, and ``assert_records_kept`` proves all of it is still there, byte for
byte and sha256-checked by the store, after an uninstall.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from stethodesk.paths import shared_data_dir

RECORDING = "circor2022/training_data/13918_MV.flac"  # a real paediatric mitral-site recording


def user_env(home: Path) -> dict[str, str]:
    """Environment of a desktop user whose home is ``home`` (XDG folders at their defaults)."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


def run_script(script: Path, home: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run an installer script with ``sh`` as that user; stdout and stderr as text."""
    return subprocess.run(["sh", str(script)], capture_output=True, text=True, env=user_env(home),
                          cwd=home, timeout=timeout)


def user_data(home: Path) -> Path:
    """Where the app keeps recordings, the database and settings (stethodesk.paths.user_home)."""
    return home / ".local" / "share" / "stethodesk"


def fill_user_records(home: Path) -> dict[str, str]:
    """One patient, exam and real recording in the store at ``user_data(home)``.

    Returns the sha256 of every file under that folder (relative path -> hex digest).
    """
    from stethodesk.store.store import Store

    src = shared_data_dir() / RECORDING
    assert src.is_file(), f"real recording {src} missing: the shared data folder is incomplete"
    store = Store(user_data(home))
    try:
        patient = store.add_patient(name="Install test")
        exam = store.add_exam(patient.id, clinician="tester")
        store.add_recording(exam.id, src, "MV", domain="heart")
    finally:
        store.close()
    (user_data(home) / "settings.json").write_text('{"source": "synth"}\n')
    return _fingerprint(user_data(home))


def assert_records_kept(home: Path, before: dict[str, str]) -> None:
    """Every file is still there unchanged and the store still opens and verifies its audio."""
    from stethodesk.store.store import Store

    root = user_data(home)
    assert root.is_dir(), f"{root} was removed"
    now = _fingerprint(root)
    lost = sorted(k for k in before if k not in now)
    assert not lost, f"files lost: {lost}"
    changed = sorted(k for k in before if now[k] != before[k])
    assert not changed, f"files changed: {changed}"
    store = Store(root, clean=False)
    try:
        patients = store.list_patients()
        assert [p.name for p in patients] == ["Install test"], patients
        exams = store.list_exams(patients[0].id)
        recs = store.list_recordings(exams[0].id)
        assert len(recs) == 1
        assert store.verify_recording(recs[0]).is_file()  # raises if the audio was touched
    finally:
        store.close()


def _fingerprint(root: Path) -> dict[str, str]:
    # SQLite's -wal/-shm files come and go with connections; the database itself must not change
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def require(tool: str, apt: str) -> None:
    """Fail (never skip) with the install command when a tool the test needs is missing."""
    import pytest

    if shutil.which(tool) is None:
        pytest.fail(f"{tool} not found: this test needs it. Install: apt-get install -y {apt}")
