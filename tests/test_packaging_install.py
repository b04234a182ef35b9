"""The desktop build's installer habits, without building: archive, checksum, install, uninstall.

The frozen app takes 15+ minutes of both cores to build (tests/test_packaging_smoke.py does
that, and repeats these checks on the real build). Here a small folder tree stands in for it -
an ``sh`` script named ``stethodesk`` that answers ``--version`` like the frozen executable, and an
``_internal/`` with a file and a relative symlink - and the real scripts run on it:
``packaging/pack.sh`` (one tar.gz + its ``.sha256``), then ``install.sh`` and ``uninstall.sh`` from
the unpacked archive with ``HOME`` pointed at a temporary folder. The user's records are real: a
patient, an exam and a real CirCor recording in the real SQLite store.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

from packaging_user import assert_records_kept, fill_user_records, require, run_script, user_env
from stethodesk import __version__
from stethodesk.paths import REPO_ROOT

PACK = REPO_ROOT / "packaging" / "pack.sh"
LAUNCHER_MARK = "StethoDesk launcher written by install.sh"


def _fake_build(dist: Path, version: str = __version__, starts: bool = True) -> Path:
    """A folder shaped like PyInstaller's output: dist/stethodesk/{stethodesk, _internal/}."""
    app = dist / "stethodesk"
    (app / "_internal" / "lib").mkdir(parents=True)
    (app / "_internal" / "lib" / "libfake.so").write_bytes(os.urandom(4096))
    (app / "_internal" / "libfake.so.0").symlink_to("lib/libfake.so")
    exe = app / "stethodesk"
    if starts:
        exe.write_text(f'#!/bin/sh\n[ "${{1:-}}" = --version ] && {{ echo "stethodesk {version}"; exit 0; }}\n'
                       'echo "started $*" >> "$HOME/fake-app.log"\n')
    else:  # what an old system says to a build that needs a newer glibc
        exe.write_text('#!/bin/sh\necho "stethodesk: /lib/x86_64-linux-gnu/libc.so.6: version '
                       '\'GLIBC_2.36\' not found" >&2\nexit 1\n')
    exe.chmod(0o755)
    return app


def _pack(app: Path, version: str = __version__) -> Path:
    proc = subprocess.run(["sh", str(PACK), str(app), version], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    archive = Path(proc.stdout.strip().splitlines()[-1])
    assert archive.name == f"stethodesk-{version}-linux-{platform.machine()}.tar.gz", archive
    return archive


def _unpack(archive: Path, where: Path) -> Path:
    where.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(where)], check=True)
    return where / "stethodesk"


def _installed(home: Path) -> dict[str, Path]:
    share = home / ".local" / "share"
    return {"app": share / "stethodesk-app",
            "entry": share / "applications" / "stethodesk.desktop",
            "icon": share / "icons" / "hicolor" / "256x256" / "apps" / "stethodesk.png",
            "launcher": home / ".local" / "bin" / "stethodesk"}


@pytest.fixture
def home(tmp_path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def test_version_has_one_source_the_package_version():
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and "version" in meta["project"]["dynamic"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "stethodesk.__version__"}
    proc = subprocess.run([sys.executable, "-m", "stethodesk", "--version"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"stethodesk {__version__}"


def test_pack_writes_one_archive_and_a_checksum_that_catches_damage(tmp_path):
    app = _fake_build(tmp_path / "dist")
    archive = _pack(app)
    check = subprocess.run(["sha256sum", "-c", archive.name + ".sha256"], cwd=archive.parent,
                           capture_output=True, text=True)
    assert check.returncode == 0 and ": OK" in check.stdout, check.stdout + check.stderr
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    for name in ("stethodesk/stethodesk", "stethodesk/install.sh", "stethodesk/uninstall.sh",
                 "stethodesk/stethodesk.desktop", "stethodesk/stethodesk.png",
                 "stethodesk/_internal/lib/libfake.so"):
        assert name in members, f"{name} not in the archive"
    assert members["stethodesk/stethodesk"].mode & 0o111, "the executable lost its x bit"
    assert members["stethodesk/_internal/libfake.so.0"].issym(), "the library link became a copy"
    assert not any(n.split("/")[0] != "stethodesk" for n in members), "one top folder only"
    # the control: one changed byte and the checksum says so
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    bad = subprocess.run(["sha256sum", "-c", archive.name + ".sha256"], cwd=archive.parent,
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "FAILED" in bad.stdout, bad.stdout


def test_pack_refuses_a_folder_that_is_not_a_build(tmp_path):
    folder = tmp_path / "stethodesk"
    folder.mkdir()
    proc = subprocess.run(["sh", str(PACK), str(folder), __version__], capture_output=True, text=True)
    assert proc.returncode == 1 and "is not a StethoDesk build" in proc.stderr, proc.stderr
    assert not list(tmp_path.glob("*.tar.gz"))


def test_install_upgrade_uninstall_keeps_the_users_records(tmp_path, home):
    require("desktop-file-validate", "desktop-file-utils")
    unpacked = _unpack(_pack(_fake_build(tmp_path / "dist")), tmp_path / "unpacked")
    proc = run_script(unpacked / "install.sh", home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"stethodesk {__version__}" in proc.stdout, proc.stdout
    inst = _installed(home)
    assert (inst["app"] / "stethodesk").is_file() and (inst["app"] / "_internal" / "libfake.so.0").is_symlink()
    valid = subprocess.run(["desktop-file-validate", str(inst["entry"])], capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    entry = inst["entry"].read_text()
    assert f'Exec="{inst["app"]}/stethodesk"' in entry and f"Icon={inst['icon']}" in entry, entry
    assert inst["icon"].read_bytes() == (REPO_ROOT / "packaging" / "icons" / "stethodesk.png").read_bytes()
    # the terminal command starts the installed app
    ran = subprocess.run([str(inst["launcher"]), "--version"], capture_output=True, text=True, env=user_env(home))
    assert ran.stdout.strip() == f"stethodesk {__version__}", ran.stdout + ran.stderr

    # the clinic works with it, then installs a newer build over it
    before = fill_user_records(home)
    newer = _unpack(_pack(_fake_build(tmp_path / "dist2", "9.9.9"), "9.9.9"), tmp_path / "unpacked2")
    proc = run_script(newer / "install.sh", home)
    assert proc.returncode == 0 and "stethodesk 9.9.9" in proc.stdout, proc.stdout + proc.stderr
    assert not (home / ".local" / "share" / "stethodesk-app.old").exists()
    assert_records_kept(home, before)

    # uninstall from the installed copy (the script removes its own folder)
    proc = run_script(inst["app"] / "uninstall.sh", home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for what, path in inst.items():
        assert not path.exists(), f"{what} {path} is still there after uninstall"
    assert "kept your recordings" in proc.stdout, proc.stdout
    assert_records_kept(home, before)
    # and a second uninstall has nothing to do and says so
    again = run_script(unpacked / "uninstall.sh", home)
    assert again.returncode == 0 and "was not installed" in again.stdout, again.stdout + again.stderr


def test_someone_elses_stethodesk_command_is_left_alone(tmp_path, home):
    unpacked = _unpack(_pack(_fake_build(tmp_path / "dist")), tmp_path / "unpacked")
    theirs = home / ".local" / "bin" / "stethodesk"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("#!/bin/sh\n# pip's console script\n")
    proc = run_script(unpacked / "install.sh", home)
    assert proc.returncode == 0 and "was not made here: left alone" in proc.stdout, proc.stdout + proc.stderr
    assert LAUNCHER_MARK not in theirs.read_text()
    proc = run_script(unpacked / "uninstall.sh", home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert theirs.read_text() == "#!/bin/sh\n# pip's console script\n"
    assert not _installed(home)["app"].exists()


def test_install_says_when_the_app_cannot_start_here(tmp_path, home):
    unpacked = _unpack(_pack(_fake_build(tmp_path / "dist", starts=False)), tmp_path / "unpacked")
    proc = run_script(unpacked / "install.sh", home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "does not start on this system" in proc.stderr and "GLIBC_2.36" in proc.stderr, proc.stderr
    assert "uninstall.sh" in proc.stderr


def test_install_from_a_folder_that_is_not_the_build_fails_clearly(tmp_path, home):
    loose = tmp_path / "loose"
    loose.mkdir()
    script = loose / "install.sh"
    script.write_bytes((REPO_ROOT / "packaging" / "install.sh").read_bytes())
    proc = run_script(script, home)
    assert proc.returncode == 1 and "run me from the unpacked StethoDesk folder" in proc.stderr, proc.stderr
    assert not _installed(home)["app"].exists()
