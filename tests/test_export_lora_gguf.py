"""The LoRA adapter GGUF and the bundle files written by training.export.

The adapter layout is llama.cpp's (guide section 1): ``general.type = adapter``, ``adapter.type =
lora``, ``adapter.lora.alpha`` float32, peft's lora_A (r, in) / lora_B (out, r) stored as-is under
``blk.{i}.attn_{q,k,v,output}.weight.lora_{a,b}``. Whether llama.cpp agrees numerically is
``test_export_lora_parity.py``.
"""

from __future__ import annotations

import json

import gguf
import numpy as np
import pytest
import torch

from stethodesk.model.bundle import BundleError, load_bundle
from stethodesk.model.encoder import AudioEncoder, EncoderConfig
from stethodesk.model.features import FrontendConfig
from stethodesk.model.projector import Projector, ProjectorConfig
from stethodesk.model.prompts import DEFAULT_TEMPLATE
from training.export import lora_tensors, update_metrics, write_bundle, write_lora_gguf
from training.llm_base import base_sha256, tiny_gemma3
from training.merge_quantize import read_lora_gguf
from training.sft import SFTConfig, add_lora, lora_state


@pytest.fixture(scope="module")
def lora():
    pm = add_lora(tiny_gemma3(seed=3, layers=2), SFTConfig())
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:  # peft starts B at zero; make it non-trivial
                p.copy_(torch.randn(p.shape, generator=g))
    return lora_state(pm)


def test_adapter_gguf_layout(tmp_path, lora):
    path = tmp_path / "lora.gguf"
    info = write_lora_gguf(lora, path, alpha=32.0)
    assert info == {"rank": 8, "alpha": 32.0, "tensors": 16}
    r = gguf.GGUFReader(str(path))
    assert r.fields["general.architecture"].contents() == "gemma3"
    assert r.fields["general.type"].contents() == "adapter"
    assert r.fields["adapter.type"].contents() == "lora"
    alpha = r.fields["adapter.lora.alpha"]
    assert alpha.types[0] == gguf.GGUFValueType.FLOAT32 and alpha.contents() == 32.0
    names = {t.name for t in r.tensors}
    assert names == {f"blk.{i}.attn_{p}.weight.lora_{ab}" for i in range(2)
                     for p in ("q", "k", "v", "output") for ab in ("a", "b")}
    by_name = {t.name: t for t in r.tensors}
    # exact values, no transposes: A is (r, in), B is (out, r) as in peft
    a = lora["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"]
    b = lora["base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight"]
    ga, gb = by_name["blk.1.attn_q.weight.lora_a"], by_name["blk.1.attn_output.weight.lora_b"]
    assert np.array_equal(np.asarray(ga.data).reshape(a.shape), a.numpy())
    assert np.array_equal(np.asarray(gb.data).reshape(b.shape), b.numpy())
    assert a.shape[0] == 8 and b.shape[1] == 8


def test_adapter_round_trip(tmp_path, lora):
    path = tmp_path / "lora.gguf"
    write_lora_gguf(lora, path, alpha=16.0)
    back, alpha = read_lora_gguf(path)
    assert alpha == 16.0
    assert set(back) == set(lora)
    assert all(torch.equal(back[k], lora[k]) for k in lora)


def test_unknown_lora_tensor_is_refused(lora):
    bad = dict(lora)
    bad["base_model.model.model.layers.0.mlp.up_proj.lora_A.weight"] = torch.zeros(8, 64)
    with pytest.raises(ValueError, match="up_proj"):
        lora_tensors(bad)


def _bundle(tmp_path, lora):
    torch.manual_seed(0)
    enc = AudioEncoder(EncoderConfig())
    proj = Projector(ProjectorConfig(d_in=enc.cfg.embed_dim + 4, hidden=32))
    out = tmp_path / "b"
    info = write_bundle(
        out, profile="test", encoder=enc, encoder_cfg=enc.cfg, frontend_cfg=FrontendConfig(), projector=proj,
        projector_cfg=proj.cfg, lora_state=lora, lora_alpha=32.0,
        heads={"murmur": {"domain": "heart", "kind": "binary", "calibration": {"method": "temperature", "T": 1.5}}},
        training_data={"records": {"circor2022": {"train": 3, "val": 1, "test": 1}}, "examples": {}},
        base_sha256=base_sha256(), template=DEFAULT_TEMPLATE, dpo_note="DPO not kept (test).")
    return out, info


def test_bundle_loads_in_the_app_and_detects_tampering(tmp_path, lora):
    out, info = _bundle(tmp_path, lora)
    b = load_bundle(out)  # the runtime's loader verifies every sha256
    assert b.manifest["format"] == "stethodesk-bundle/1"
    assert set(b.manifest["files"]) == {"encoder", "projector", "lora", "model_card"}
    assert b.manifest["files"]["lora"]["rank"] == 8 and b.manifest["prefix_tokens"] == 4
    assert b.manifest["prompt_template"] == DEFAULT_TEMPLATE
    assert not list(out.glob("*.gguf.tmp")) and not (out / "gemma-3-270m-q4_k_m.gguf").exists()
    card = (out / "MODEL_CARD.md").read_text()
    assert "Decision support, not a diagnosis" in card
    assert "Oliveira et al., IEEE JBHI" in card and "DPO not kept (test)." in card
    raw = bytearray((out / "projector.safetensors").read_bytes())
    raw[-1] ^= 0xFF
    (out / "projector.safetensors").write_bytes(bytes(raw))
    with pytest.raises(BundleError, match="projector.safetensors"):
        load_bundle(out)


def test_metrics_update_rewrites_card_and_hashes(tmp_path, lora):
    out, info = _bundle(tmp_path, lora)
    old = info["files"]["model_card"]["sha256"]
    update_metrics(out, {"clinical_accuracy": {"binary": {"acc": 0.5, "n": 4}},
                         "baseline": {"clinical_accuracy": {"binary": {"acc": 0.25, "n": 4}}}})
    m = json.loads((out / "bundle.json").read_text())
    assert m["metrics"]["clinical_accuracy"]["binary"]["acc"] == 0.5
    assert m["files"]["model_card"]["sha256"] != old
    assert "| binary | 4 | 0.500 | 0.250 |" in (out / "MODEL_CARD.md").read_text()
    load_bundle(out)
