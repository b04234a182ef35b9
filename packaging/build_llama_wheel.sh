#!/usr/bin/env bash
# Build the portable llama-cpp-python wheel the desktop build ships.
#
# Why: the default llama-cpp-python build compiles llama.cpp with -march=native, and even
# GGML_NATIVE=OFF keeps AVX/AVX2/FMA/F16C/BMI2 on (x86-64-v3). A laptop older than ~2013 (or a
# low-end Atom/Celeron/Pentium without AVX) then dies with "illegal instruction". This wheel is a
# baseline x86-64-v2 build: SSE4.2 and below, every AVX-family extension off.
#
# The runtime CPU-variant dispatch (GGML_BACKEND_DL=ON + GGML_CPU_ALL_VARIANTS=ON) was not used:
# llama.cpp 0.3.36's vendored ggml builds 14 x86 variants of the CPU backend (~4x the compile
# time on this 2-core machine), llama-cpp-python's CMake only installs a target called
# `ggml-cpu` (not `ggml-cpu-<variant>`), and ggml looks for the variant libraries next to the
# executable or in the working directory, not next to libllama.so - all three need patches.
#
# The wheel goes to a project-controlled folder and is never installed over the shared venv.
# Usage: packaging/build_llama_wheel.sh [x86-64-v2|x86-64-v3]   (idempotent: reuses a built wheel)
#        STETHODESK_WHEELS=/some/dir packaging/build_llama_wheel.sh
# x86-64-v2 (default) is the baseline every x86-64 laptop since 2009 runs. x86-64-v3 (AVX2, FMA,
# F16C, BMI2; Intel 2013+, AMD 2015+) is the fast variant the app picks at start-up when the CPU
# has it: the baseline alone was ~12x slower to the first token here (packaging/README.md).
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
VARIANT="${1:-x86-64-v2}"
WHEEL_DIR="${STETHODESK_WHEELS:-$HOME/.cache/stethodesk/wheels}/$VARIANT"
PY="${PYTHON:-/work/main/.venv/bin/python}"

mkdir -p "$WHEEL_DIR"
if ls "$WHEEL_DIR"/llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}-*.whl >/dev/null 2>&1; then
    echo "portable wheel already built: $(ls "$WHEEL_DIR"/llama_cpp_python-${LLAMA_CPP_PYTHON_VERSION}-*.whl)"
    exit 0
fi

COMMON="-DGGML_NATIVE=OFF -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF \
-DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
-DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF -DLLAVA_BUILD=OFF -DLLAMA_CURL=OFF"
case "$VARIANT" in
  # x86-64-v2 = SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CX16. Everything newer is switched off by
  # name because llama.cpp turns AVX..BMI2 on by default even without GGML_NATIVE.
  x86-64-v2) ISA="-DGGML_SSE42=ON -DGGML_AVX=OFF -DGGML_AVX2=OFF -DGGML_FMA=OFF -DGGML_F16C=OFF -DGGML_BMI2=OFF" ;;
  x86-64-v3) ISA="-DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" ;;
  *) echo "build_llama_wheel.sh: unknown variant $VARIANT (x86-64-v2 or x86-64-v3)" >&2; exit 2 ;;
esac
export CMAKE_ARGS="$COMMON $ISA -DCMAKE_C_FLAGS=-march=$VARIANT -DCMAKE_CXX_FLAGS=-march=$VARIANT"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
echo "CMAKE_ARGS=$CMAKE_ARGS"
t0=$(date +%s)
"$PY" -m pip wheel --no-cache-dir --no-deps --no-binary llama-cpp-python \
    -w "$WHEEL_DIR" "llama-cpp-python==${LLAMA_CPP_PYTHON_VERSION}"
ls -la "$WHEEL_DIR"
echo "portable wheel built in $(( $(date +%s) - t0 )) s (machine load $(cut -d' ' -f1 /proc/loadavg))"
