"""``check_portable.py glibc``: the newest glibc symbol version ELF files need (objdump -p).

Real ELF files compiled here with gcc against this machine's glibc (2.36): a shared library
calling only ``puts`` needs GLIBC_2.2.5 and passes a 2.31 floor; the same code as a program
needs GLIBC_2.34 (``__libc_start_main`` moved there in 2.34), which is why a build made on a
new distribution cannot run on an old one. Non-ELF files and links are passed over.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

from packaging_user import require
from stethodesk.paths import REPO_ROOT

CHECK = REPO_ROOT / "packaging" / "check_portable.py"


def _check_module():
    spec = importlib.util.spec_from_file_location("check_portable", CHECK)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _build(tmp_path):
    require("gcc", "build-essential")
    require("objdump", "binutils")
    src = tmp_path / "hello.c"
    src.write_text('#include <stdio.h>\nint hello(void){return puts("hi");}\nint main(void){return hello();}\n')
    lib, exe = tmp_path / "app" / "libhello.so", tmp_path / "app" / "hello"
    lib.parent.mkdir()
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", str(src), "-o", str(lib)], check=True)
    subprocess.run(["gcc", "-O1", str(src), "-o", str(exe)], check=True)
    (lib.parent / "README.txt").write_text("not an ELF file\n")
    (lib.parent / "libhello.so.1").symlink_to("libhello.so")
    return lib, exe


def test_a_library_using_old_symbols_passes_and_a_new_program_fails(tmp_path):
    lib, exe = _build(tmp_path)
    check = _check_module()
    assert check.elf_files([str(lib.parent)]) == sorted([exe, lib])  # no text file, no link
    assert check.glibc_needed(lib) == (2, 2, 5)
    assert check.glibc_needed(exe) >= (2, 34)
    ok = subprocess.run([sys.executable, str(CHECK), "glibc", str(lib), "--max", "2.31"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "newest reference GLIBC_2.2.5" in ok.stdout, ok.stdout + ok.stderr
    bad = subprocess.run([sys.executable, str(CHECK), "glibc", str(lib.parent), "--max", "2.31"],
                         capture_output=True, text=True)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"FAIL {exe}: needs GLIBC_2.3" in bad.stdout and "1 need more than GLIBC_2.31" in bad.stdout
    assert str(lib) + ":" not in bad.stdout
