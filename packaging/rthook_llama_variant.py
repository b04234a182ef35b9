"""PyInstaller runtime hook: choose the llama.cpp build that suits this CPU, before it loads.

The frozen app carries two builds of llama.cpp's libraries:

- ``llama_cpp/lib`` - x86-64-v2 (SSE4.2, no AVX): runs on every x86-64 laptop since ~2009.
- ``llama_cpp/lib-x86-64-v3`` - AVX2/FMA/F16C/BMI2: several times faster on CPUs that have them
  (Intel 2013+, AMD 2015+), an "illegal instruction" crash on those that do not.

The CPU is asked through numpy's CPUID probe (``X86_V3`` is true only when the CPU *and* the OS
support every x86-64-v3 feature; numpy is in the build anyway). On a v3 CPU the fast libraries
are loaded by full path in dependency order with RTLD_GLOBAL, so that ``libllama.so`` (found
through ``LLAMA_CPP_LIB_PATH``, which llama-cpp-python honours) links against them rather than
against the baseline copies PyInstaller also links into ``_internal``. Anything unexpected leaves
the baseline in place: a slower answer, never a crash.

``STETHODESK_LLAMA_VARIANT=x86-64-v2`` forces the baseline; ``STETHODESK_REPORT_VARIANT=1``
prints the choice to stderr (used by the packaging smoke test).
"""

import os
import sys
from pathlib import Path

FAST = "x86-64-v3"
BASELINE = "x86-64-v2"
# dependency order: each library's NEEDED entries are already loaded when it is opened
PRELOAD = ("libggml-base.so.0", "libggml-cpu.so.0", "libggml.so.0")


def _cpu_has_v3() -> bool:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        return False
    return bool(__cpu_features__.get("X86_V3"))


def _choose() -> str:
    if os.environ.get("LLAMA_CPP_LIB_PATH") or os.environ.get("STETHODESK_LLAMA_VARIANT") == BASELINE:
        return BASELINE
    fast = Path(getattr(sys, "_MEIPASS", "")) / "llama_cpp" / f"lib-{FAST}"
    if not sys.platform.startswith("linux") or not fast.is_dir() or not _cpu_has_v3():
        return BASELINE
    import ctypes

    try:
        for name in PRELOAD:
            ctypes.CDLL(str(fast / name), mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return BASELINE  # a half-loaded fast set is harmless: libllama still comes from lib/
    os.environ["LLAMA_CPP_LIB_PATH"] = str(fast)
    return FAST


_variant = _choose()
os.environ["STETHODESK_LLAMA_VARIANT"] = _variant
if os.environ.get("STETHODESK_REPORT_VARIANT"):
    print(f"stethodesk: llama.cpp build {_variant}", file=sys.stderr, flush=True)
