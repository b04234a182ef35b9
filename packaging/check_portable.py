"""Prove the frozen build runs on CPUs older than the build machine.

Two independent checks:

``scan DIR_OR_FILES...``
    Disassemble shared libraries with ``objdump -d`` and list every instruction beyond
    x86-64-v2 (SSE4.2 and older): AVX/AVX2/AVX-512/FMA/F16C (VEX/EVEX-encoded ``v...``
    mnemonics, ymm/zmm/mask registers), BMI1/BMI2, LZCNT, MOVBE, AMX. Exit 1 when any is found,
    naming the library, the count and the first functions that contain them. Used on the
    llama.cpp libraries we compile ourselves; torch is *not* scanned this way because it
    carries AVX2/AVX-512 kernels that it only calls after checking the CPU (ATen's
    CPU-capability dispatch), so the emulation check below covers it.

``glibc DIR_OR_FILES... [--max 2.31]``
    Read the version references of every ELF file (``objdump -p``, recursively, links skipped)
    and print the newest ``GLIBC_x.y`` each needs: the oldest glibc the build starts on is the
    newest of them. Exit 1 when a file needs more than ``--max``, naming it. A program linked
    against glibc >= 2.34 always needs ``GLIBC_2.34`` (``__libc_start_main`` moved there), so
    building on an old distribution is the only way down; the bundled system libraries
    (libstdc++, libssl, ...) come from the build OS as well.

``qemu --cpu MODEL [--frozen APP_DIR] -- COMMAND...``
    Run COMMAND under ``qemu-x86_64 -cpu MODEL`` (Debian ``qemu-user``). With ``Nehalem``
    (2008, SSE4.2, no AVX) the emulated CPU raises SIGILL on any AVX instruction, exactly like
    an old laptop. Exit status is the command's.

    Trap: PyInstaller's Linux bootloader sets ``LD_LIBRARY_PATH`` and then *re-executes itself*;
    qemu-user passes that ``execve`` to the host kernel, so without care everything after the
    bootloader runs natively and proves nothing. ``--frozen APP_DIR`` sets the variables the
    bootloader gives its second stage (:func:`frozen_stage2_env`), so the one emulated process
    is the one that runs Python, torch and llama.cpp.

Examples::

    python packaging/check_portable.py scan packaging/dist/stethodesk/_internal/llama_cpp/lib
    python packaging/check_portable.py glibc packaging/dist/stethodesk --max 2.31
    python packaging/check_portable.py qemu --cpu Nehalem --frozen packaging/dist/stethodesk \\
        -- packaging/dist/stethodesk/stethodesk --version
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

QEMU = "qemu-x86_64"
# Mnemonics of x86-64-v3/v4 and later extensions that are not VEX "v..." forms.
NON_VEX_BEYOND_V2 = {
    # BMI1 / BMI2
    "andn", "bextr", "blsi", "blsmsk", "blsr", "bzhi", "mulx", "pdep", "pext", "rorx",
    "sarx", "shlx", "shrx",
    # LZCNT (ABM/BMI), MOVBE (x86-64-v3). TZCNT is *not* listed: GCC emits it for
    # __builtin_ctz on plain x86-64 on purpose, because its encoding (F3 0F BC) runs as BSF on
    # CPUs without BMI1 with the same result for the non-zero inputs it is used on.
    "lzcnt", "movbe",
    # AMX
    "ldtilecfg", "sttilecfg", "tileloadd", "tileloaddt1", "tilestored", "tilezero", "tilerelease",
    "tdpbf16ps", "tdpbssd", "tdpbsud", "tdpbusd", "tdpbuud",
    # AVX-512 mask ops
    "kmovw", "kmovb", "kmovd", "kmovq", "kandw", "korw", "kxorw", "knotw", "kortestw",
}
# VEX/EVEX mnemonics all start with "v"; these legacy ones do too and are fine.
LEGACY_V = {"verr", "verw"}
WIDE_REG = re.compile(r"%(ymm|zmm)\d+|%k[0-7]\b|\{%k[0-7]\}")
FUNC_RE = re.compile(r"^[0-9a-f]+ <(.+)>:$")
INSN_RE = re.compile(r"^\s*[0-9a-f]+:\s+(\S+)\s*(.*)$")


def beyond_v2(mnemonic: str, operands: str) -> bool:
    """True when the instruction needs more than x86-64-v2."""
    m = mnemonic.split(".")[0]
    if m in NON_VEX_BEYOND_V2:
        return True
    if m.startswith("v") and m not in LEGACY_V:
        return True
    return bool(WIDE_REG.search(operands))


def scan_library(path: Path) -> tuple[Counter, dict[str, int]]:
    """Count instructions beyond x86-64-v2 in one library.

    Returns
    -------
    (Counter, dict)
        mnemonic -> count, and function name -> count of such instructions.
    """
    out = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", "-M", "att", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout
    by_insn: Counter = Counter()
    by_func: dict[str, int] = defaultdict(int)
    func = "?"
    for line in out.splitlines():
        fm = FUNC_RE.match(line)
        if fm:
            func = fm.group(1)
            continue
        im = INSN_RE.match(line)
        if not im:
            continue
        mnemonic, operands = im.group(1), im.group(2)
        if beyond_v2(mnemonic, operands):
            by_insn[mnemonic] += 1
            by_func[func] += 1
    return by_insn, dict(by_func)


def libraries(targets: list[str]) -> list[Path]:
    """Library files under ``targets``; copies with identical bytes (``libx.so``, ``libx.so.0``
    as wheels store them) are scanned once."""
    libs: list[Path] = []
    for t in targets:
        p = Path(t)
        if p.is_dir():
            libs += sorted(q for q in p.iterdir() if q.is_file() and not q.is_symlink() and ".so" in q.name)
        elif p.is_file():
            libs.append(p)
        else:
            raise SystemExit(f"check_portable: {p} does not exist")
    if not libs:
        raise SystemExit(f"check_portable: no shared libraries in {', '.join(targets)}")
    seen: dict[str, Path] = {}
    for lib in libs:
        seen.setdefault(hashlib.sha256(lib.read_bytes()).hexdigest(), lib)
    return list(seen.values())


def cmd_scan(args: argparse.Namespace) -> int:
    if shutil.which("objdump") is None:
        print("check_portable: objdump not found; install Debian binutils", file=sys.stderr)
        return 2
    bad = 0
    for lib in libraries(args.targets):
        by_insn, by_func = scan_library(lib)
        total = sum(by_insn.values())
        if total == 0:
            print(f"OK   {lib.name}: no instruction beyond x86-64-v2")
            continue
        bad += 1
        top = ", ".join(f"{k} x{v}" for k, v in by_insn.most_common(6))
        funcs = ", ".join(f for f, _ in sorted(by_func.items(), key=lambda kv: -kv[1])[:4])
        print(f"FAIL {lib.name}: {total} instructions beyond x86-64-v2 in {len(by_func)} functions "
              f"({top}); e.g. in {funcs}")
    return 1 if bad else 0


GLIBC_REF = re.compile(r"\bGLIBC_(\d+(?:\.\d+)+)\b")


def elf_files(targets: list[str]) -> list[Path]:
    """Every ELF file (by its magic bytes) under ``targets``; symbolic links are skipped."""
    found: list[Path] = []
    for t in targets:
        p = Path(t)
        if not p.exists():
            raise SystemExit(f"check_portable: {p} does not exist")
        for f in ([p] if p.is_file() else sorted(p.rglob("*"))):
            if f.is_file() and not f.is_symlink():
                with open(f, "rb") as fh:
                    if fh.read(4) == b"\x7fELF":
                        found.append(f)
    return found


def glibc_needed(path: Path) -> tuple[int, ...] | None:
    """Newest GLIBC_x.y version ``path`` references (``objdump -p`` Version References), or None."""
    out = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True).stdout
    refs = out.split("Version References:", 1)[1] if "Version References:" in out else ""
    versions = [tuple(int(x) for x in v.split(".")) for v in GLIBC_REF.findall(refs)]
    return max(versions) if versions else None


def cmd_glibc(args: argparse.Namespace) -> int:
    if shutil.which("objdump") is None:
        print("check_portable: objdump not found; install Debian binutils", file=sys.stderr)
        return 2
    limit = tuple(int(x) for x in args.max.split("."))
    files = elf_files(args.targets)
    needs = {f: glibc_needed(f) for f in files}
    over = sorted((v, str(f)) for f, v in needs.items() if v is not None and v > limit)
    for v, f in over:
        print(f"FAIL {f}: needs GLIBC_{'.'.join(map(str, v))}")
    newest = max((v for v in needs.values() if v is not None), default=None)
    floor = "GLIBC_" + ".".join(map(str, newest)) if newest else "no glibc reference"
    print(f"{len(files)} ELF files, newest reference {floor}; "
          f"{len(over)} need more than GLIBC_{args.max}")
    return 1 if over else 0


def frozen_stage2_env(app_dir: Path) -> dict[str, str]:
    """Environment that makes the PyInstaller (6.x, Linux) bootloader run Python at once.

    These are the variables the bootloader sets before re-executing itself (read from
    ``/proc/PID/environ`` of a running build): with them present it does not re-exec.
    """
    app_dir = Path(app_dir).resolve()
    return {
        "_PYI_ARCHIVE_FILE": str(app_dir / "stethodesk"),
        "_PYI_PARENT_PROCESS_LEVEL": "-1",
        "_PYI_LINUX_PROCESS_NAME": "stethodesk",
        "LD_LIBRARY_PATH": str(app_dir / "_internal"),
    }


def cmd_qemu(args: argparse.Namespace) -> int:
    if shutil.which(QEMU) is None:
        print(f"check_portable: {QEMU} not found; install Debian qemu-user", file=sys.stderr)
        return 2
    command = [c for c in args.command if c != "--"]
    env = dict(os.environ)
    if args.frozen:
        env.update(frozen_stage2_env(Path(args.frozen)))
    return subprocess.run([QEMU, "-cpu", args.cpu, *command], env=env).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scan", help="objdump scan of shared libraries")
    s.add_argument("targets", nargs="+", help="library files or folders holding them")
    g = sub.add_parser("glibc", help="newest glibc symbol version the ELF files need")
    g.add_argument("targets", nargs="+", help="ELF files or folders holding them (searched recursively)")
    g.add_argument("--max", default="2.31", help="newest glibc allowed (default 2.31: Debian 11, Ubuntu 20.04)")
    q = sub.add_parser("qemu", help="run a command on an emulated older CPU")
    q.add_argument("--cpu", default="Nehalem", help="qemu CPU model (default Nehalem: SSE4.2, no AVX)")
    q.add_argument("--frozen", metavar="APP_DIR", help="COMMAND is this PyInstaller build: keep it emulated")
    q.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    return {"scan": cmd_scan, "glibc": cmd_glibc, "qemu": cmd_qemu}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
