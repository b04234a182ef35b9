"""The training compute type follows the CPU (issue 14): bf16 autocast only with native bf16."""

from __future__ import annotations

import pytest
import torch

from training.precision import ENV_OVERRIDE, CpuInfo, choose_precision, probe_cpu

AVX2_EPYC = CpuInfo(capability="AVX2", avx512_bf16=False, amx=False)
AVX512_BF16 = CpuInfo(capability="AVX512", avx512_bf16=True, amx=False)
AVX512_NO_BF16 = CpuInfo(capability="AVX512", avx512_bf16=False, amx=False)  # e.g. Skylake-SP
AMX = CpuInfo(capability="AVX512", avx512_bf16=True, amx=True)
# a CPU that has the flag but is run with torch capped to AVX2 (ATEN_CPU_CAPABILITY=avx2)
CAPPED = CpuInfo(capability="AVX2", avx512_bf16=True, amx=False)


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv(ENV_OVERRIDE, raising=False)


@pytest.mark.parametrize("info, want", [(AVX2_EPYC, "fp32"), (AVX512_NO_BF16, "fp32"), (CAPPED, "fp32"),
                                        (AVX512_BF16, "bf16"), (AMX, "bf16")])
def test_cpu_choice_follows_capability(info, want):
    prec = choose_precision("cpu", probe=lambda: info)
    assert prec.name == want
    assert prec.device_type == "cpu" and prec.cpu == info
    assert info.capability in prec.reason  # the log line and the bundle record say why
    assert prec.to_dict()["cpu"]["capability"] == info.capability
    assert prec.is_autocast == (want == "bf16")


def test_onednn_isa_cap_disables_bf16():
    capped = CpuInfo(capability="AVX512", avx512_bf16=True, amx=False, onednn_max_isa="AVX2")
    prec = choose_precision("cpu", probe=lambda: capped)
    assert prec.name == "fp32" and "ONEDNN_MAX_CPU_ISA" in prec.reason


def test_override_by_argument_and_environment(monkeypatch):
    assert choose_precision("cpu", probe=lambda: AVX512_BF16, override="fp32").name == "fp32"
    monkeypatch.setenv(ENV_OVERRIDE, "bf16")
    prec = choose_precision("cpu", probe=lambda: AVX2_EPYC)
    assert prec.name == "bf16" and ENV_OVERRIDE in prec.reason
    monkeypatch.setenv(ENV_OVERRIDE, "half")
    with pytest.raises(ValueError, match=ENV_OVERRIDE):
        choose_precision("cpu", probe=lambda: AVX2_EPYC)
    with pytest.raises(ValueError, match="CUDA"):
        choose_precision("cpu", probe=lambda: AVX2_EPYC, override="fp16")


def test_cuda_keeps_a_half_type():
    assert choose_precision("cuda", cuda_bf16=lambda: True).name == "bf16"
    assert choose_precision("cuda", cuda_bf16=lambda: False).name == "fp16"


def test_autocast_context_really_changes_the_compute_type():
    lin = torch.nn.Linear(8, 8)
    x = torch.randn(2, 8)
    with choose_precision("cpu", probe=lambda: AVX512_BF16).autocast():
        assert lin(x).dtype == torch.bfloat16
    with choose_precision("cpu", probe=lambda: AVX2_EPYC).autocast():
        assert lin(x).dtype == torch.float32


def test_probe_reads_this_machine():
    info = probe_cpu()
    assert info.capability == torch.backends.cpu.get_cpu_capability()
    if not info.capability.startswith("AVX512"):
        assert choose_precision("cpu").name == "fp32"
