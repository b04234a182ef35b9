"""Merge LoRA -> F16 GGUF -> Q4_K_M, on a tiny randomly initialised Gemma 3 (item 6 of issue 3).

The tiny model (2 layers, width 256 so llama.cpp's Q4_K blocks apply, first 512 tokens of the real
vocabulary) goes through the same writer as a real merged model; llama.cpp must load the F16 file
and reproduce torch's logits, and must quantize it to a smaller file holding Q4_K tensors.
"""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from training.export import write_lora_gguf
from training.llama_logits import all_logits, compare
from training.llm_base import base_gguf_path, tiny_gemma3
from training.merge_quantize import merge_lora, quantize, read_lora_gguf, write_f16_gguf
from training.sft import SFTConfig, add_lora, lora_state

pytestmark = pytest.mark.llm
DIMS = dict(vocab_size=512, hidden=256, layers=2, intermediate=512, heads=2, head_dim=128)
IDS = [2, 105, 400, 107, 300, 301, 302, 410, 106, 107, 105, 4, 250, 260, 270]


def _tiny():
    return tiny_gemma3(seed=1, **DIMS)


@torch.no_grad()
def _torch_logits(model):
    return model(input_ids=torch.tensor([IDS])).logits[0].float().numpy()


def test_merge_write_quantize(tmp_path):
    pm = add_lora(_tiny(), SFTConfig())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    ref_lora = _torch_logits(pm)
    write_lora_gguf(lora_state(pm), tmp_path / "lora.gguf", alpha=32.0)

    state, alpha = read_lora_gguf(tmp_path / "lora.gguf")
    merged = merge_lora(_tiny(), state, alpha)
    ref = _torch_logits(merged)
    assert np.abs(ref - ref_lora).max() < 1e-3  # merging = applying the adapter
    assert compare(ref, _torch_logits(_tiny()))["cos_min"] < 0.9  # and the adapter matters

    f16 = write_f16_gguf(merged, tmp_path / "m-f16.gguf", base_gguf_path())
    types = {t.tensor_type.name for t in gguf.GGUFReader(str(f16)).tensors}
    assert types == {"F16", "F32"}
    got = all_logits(f16, [IDS])
    c = compare(got, ref)
    assert c["cos_min"] > 0.999 and c["top1_agree"] == len(IDS), c

    q = quantize(f16, tmp_path / "m-q4_k_m.gguf")
    assert q.stat().st_size < 0.5 * f16.stat().st_size
    assert "Q4_K" in {t.tensor_type.name for t in gguf.GGUFReader(str(q)).tensors}
    cq = compare(all_logits(q, [IDS]), ref)
    print("f16", c, "q4_k_m", cq)
    assert cq["cos_min"] > 0.9  # random tiny weights quantize worse than trained ones


def test_base_plus_adapter_equals_merged(tmp_path):
    """The F16 base with the adapter applied by llama.cpp == the torch peft model."""
    pm = add_lora(_tiny(), SFTConfig())
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    ref = _torch_logits(pm)
    write_lora_gguf(lora_state(pm), tmp_path / "lora.gguf", alpha=32.0)
    base = write_f16_gguf(_tiny(), tmp_path / "base-f16.gguf", base_gguf_path())
    c = compare(all_logits(base, [IDS], tmp_path / "lora.gguf"), ref)
    assert c["cos_min"] > 0.999 and c["top1_agree"] == len(IDS), c
