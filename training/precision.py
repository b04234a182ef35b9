"""Which floating-point type the training stages compute in, chosen from the hardware.

bf16 autocast is fast only where the CPU has bf16 instructions (AVX-512 BF16 or AMX). Elsewhere
PyTorch emulates it: on a 2-core AMD EPYC with AVX2 only, a 640->2048->640 MLP forward+backward
on 400 tokens took 2,350 ms under bf16 autocast against 88 ms in fp32 (guide section 1, issue 14).
So the rule is: bf16 autocast on a CPU with native bf16, fp32 otherwise; on CUDA, bf16 where the
GPU supports it, else fp16. Weights and optimizer state stay fp32 in every case (autocast only).

    from training.precision import choose_precision
    prec = choose_precision("cpu")        # Precision(name="fp32", reason="CPU capability AVX2 ...")
    with prec.autocast():
        out = model(batch)

``STETHODESK_TRAIN_DTYPE=fp32|bf16|fp16|auto`` overrides the choice (the reason says so).
``benchmarks/precision.py`` prints the fp32 vs bf16 step time on the machine it runs on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

ENV_OVERRIDE = "STETHODESK_TRAIN_DTYPE"
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}
# ONEDNN_MAX_CPU_ISA values that still allow oneDNN's bf16 kernels (oneDNN docs, "CPU ISA hints")
ONEDNN_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "ALL")


@dataclass(frozen=True)
class CpuInfo:
    """What PyTorch reports about the CPU.

    ``capability``: ``torch.backends.cpu.get_cpu_capability()`` ("AVX2", "AVX512", ...; follows
    ``ATEN_CPU_CAPABILITY``); ``avx512_bf16`` / ``amx``: CPUID flags as PyTorch reads them;
    ``onednn_max_isa``: the ``ONEDNN_MAX_CPU_ISA`` cap, "" when unset.
    """

    capability: str
    avx512_bf16: bool
    amx: bool
    onednn_max_isa: str = ""

    def to_dict(self) -> dict:
        return {"capability": self.capability, "avx512_bf16": self.avx512_bf16, "amx": self.amx,
                "onednn_max_isa": self.onednn_max_isa}


def probe_cpu() -> CpuInfo:
    """Read the CPU's capability from PyTorch (never raises; unknown flags read as False)."""
    def flag(name: str) -> bool:
        fn = getattr(torch.cpu, name, None)  # private CPUID helpers (present in torch 2.13)
        try:
            return bool(fn()) if fn is not None else False
        except Exception:  # noqa: BLE001 - a probe must not stop training
            return False

    return CpuInfo(capability=str(torch.backends.cpu.get_cpu_capability()),
                   avx512_bf16=flag("_is_avx512_bf16_supported"), amx=flag("_is_amx_tile_supported"),
                   onednn_max_isa=os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper())


def cpu_has_native_bf16(info: CpuInfo) -> tuple[bool, str]:
    """(native, reason): does this CPU run bf16 matrix work in hardware?"""
    if not info.capability.upper().startswith(("AVX512", "AMX")):
        return False, f"CPU capability {info.capability}: no AVX-512, so bf16 would be emulated"
    if not (info.avx512_bf16 or info.amx):
        return False, f"CPU capability {info.capability} without the AVX-512 BF16 or AMX instructions"
    if info.onednn_max_isa and info.onednn_max_isa not in ONEDNN_BF16_ISAS:
        return False, f"ONEDNN_MAX_CPU_ISA={info.onednn_max_isa} caps oneDNN below its bf16 kernels"
    what = "AMX" if info.amx else "AVX-512 BF16"
    return True, f"CPU capability {info.capability} with {what}"


@dataclass(frozen=True)
class Precision:
    """The compute type of a training stage.

    ``name``: "bf16" | "fp16" | "fp32"; ``device_type``: "cpu" | "cuda"; ``reason``: why, in words;
    ``cpu``: the probe it was decided from (CPU only).
    """

    name: str
    device_type: str
    reason: str
    cpu: CpuInfo | None = None

    @property
    def dtype(self) -> torch.dtype | None:
        return DTYPES[self.name]

    @property
    def is_autocast(self) -> bool:
        return self.dtype is not None

    def autocast(self) -> contextlib.AbstractContextManager:
        """``torch.autocast`` to this type, or a no-op context for fp32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def to_dict(self) -> dict:
        d = {"dtype": self.name, "device": self.device_type, "reason": self.reason}
        if self.cpu is not None:
            d["cpu"] = self.cpu.to_dict()
        return d


def choose_precision(device: str | torch.device = "cpu", *, probe: Callable[[], CpuInfo] = probe_cpu,
                     override: str | None = None, cuda_bf16: Callable[[], bool] | None = None) -> Precision:
    """The compute type for training on ``device``.

    Parameters
    ----------
    device : str or torch.device
        "cpu" or a CUDA device.
    probe : callable
        Returns the :class:`CpuInfo` (injected by tests; default reads PyTorch).
    override : str, optional
        "fp32" | "bf16" | "fp16" | "auto"; default: the ``STETHODESK_TRAIN_DTYPE`` variable, else "auto".
    cuda_bf16 : callable, optional
        Whether the GPU does bf16 (default ``torch.cuda.is_bf16_supported``).

    Raises
    ------
    ValueError
        An override that is not one of the names above.
    """
    dev = torch.device(device).type
    want = (override if override is not None else os.environ.get(ENV_OVERRIDE, "auto")).strip().lower() or "auto"
    if want not in ("auto", *DTYPES):
        raise ValueError(f"{ENV_OVERRIDE} must be auto, fp32, bf16 or fp16, not {want!r}")
    info = probe() if dev == "cpu" else None
    if want != "auto":
        if dev == "cpu" and want == "fp16":
            raise ValueError("fp16 autocast is for CUDA; on the CPU use fp32 or bf16")
        return Precision(want, dev, f"set by {ENV_OVERRIDE}={want}", info)
    if dev == "cuda":
        ok = (cuda_bf16 or torch.cuda.is_bf16_supported)()
        return Precision("bf16" if ok else "fp16", dev, "GPU supports bf16" if ok else "GPU without bf16: fp16")
    native, why = cpu_has_native_bf16(info)
    return Precision("bf16" if native else "fp32", dev, why, info)


def describe(prec: Precision) -> str:
    """One log line: "training precision: fp32 (CPU capability AVX2: ...)"."""
    return f"training precision: {prec.name} on {prec.device_type} ({prec.reason})"
