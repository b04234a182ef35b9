"""Merge the LoRA into a full-precision base, write an F16 GGUF, quantize it to Q4_K_M.

The app applies the LoRA adapter at run time (closer to torch than a merged re-quantized model,
guide section 1). This path is for users who want one self-contained GGUF, e.g. a bigger base
trained on a GPU box::

    python -m training.merge_quantize models/stetholm-270m-laptop --out runs/merged

Steps:

1. the base in full precision (here: dequantized from the app's GGUF; with a bigger base, its HF
   weights) + the bundle's LoRA (read back from ``lora.gguf``) -> ``merge_and_unload``;
2. an F16 GGUF written with ``gguf.GGUFWriter``: tensor names from gguf's own HF->GGUF name map for
   Gemma 3, RMSNorm weights stored as ``1 + w`` (llama.cpp's Gemma norm multiplies by the stored
   weight, HF by ``1 + w``; checked against the shipped GGUF), tokenizer and other metadata copied
   from a template GGUF (the base's own), hyperparameters from the model config;
3. ``llama_cpp.llama_model_quantize`` to Q4_K_M.

:func:`base_f16_path` writes (once, into the cache) the F16 GGUF of the dequantized base alone,
which the export parity check compares against.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

import numpy as np
import torch

from training.llm_base import Base, base_gguf_path, base_sha256, cache_dir, load_base

ARCH = "gemma3"
# metadata the writer sets itself or that this file rewrites from the model config
_SKIP_PREFIXES = ("GGUF.", "general.architecture", "general.file_type", "general.quantization_version",
                  f"{ARCH}.")
_TOKEN_ARRAYS = ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type")


def read_lora_gguf(path: Path) -> tuple[dict[str, torch.Tensor], float]:
    """A LoRA adapter GGUF (as written by ``training.export``) -> (peft state dict, alpha)."""
    import gguf

    from training.export import GGUF_PROJ

    inv = {v: k for k, v in GGUF_PROJ.items()}
    r = gguf.GGUFReader(str(path))
    alpha = float(r.fields[gguf.Keys.Adapter.LORA_ALPHA].contents())
    state = {}
    for t in r.tensors:
        blk, i, proj, _, ab = t.name.split(".")  # blk.{i}.attn_q.weight.lora_a
        shape = tuple(int(s) for s in reversed(t.shape))  # GGUF lists dims innermost first
        arr = np.asarray(t.data, dtype=np.float32).reshape(shape)
        key = f"base_model.model.model.layers.{int(i)}.self_attn.{inv[proj]}.lora_{ab[-1].upper()}.weight"
        state[key] = torch.from_numpy(arr.copy())
    return state, alpha


def merge_lora(model, state: dict[str, torch.Tensor], alpha: float):
    """Base HF model + LoRA state -> merged plain HF model (weights changed in place)."""
    from peft import LoraConfig, get_peft_model

    from training.sft import load_lora_state

    rank = next(v.shape[0] for k, v in state.items() if "lora_A" in k)
    targets = sorted({k.split(".")[-3] for k in state})
    pm = get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0))
    load_lora_state(pm, state)
    return pm.merge_and_unload()


def gguf_tensors(model) -> dict[str, np.ndarray]:
    """HF Gemma 3 state dict -> {GGUF name: array} (2-D weights float16, norms float32 as 1 + w)."""
    import gguf

    cfg = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, cfg.num_hidden_layers)
    out = {}
    for k, v in model.state_dict().items():
        if k == "lm_head.weight" or "lora_" in k:  # tied to token_embd; adapters are not base weights
            continue
        k = k.replace(".base_layer", "")  # a peft-wrapped base: its frozen original weights
        base = k[: -len(".weight")] if k.endswith(".weight") else k
        name = names.get_name(base)
        if name is None:
            raise ValueError(f"no GGUF name for {k}")
        a = v.detach().float().cpu().numpy()
        if "norm" in name:
            out[name + ".weight"] = (a + 1.0).astype(np.float32)
        else:
            out[name + ".weight"] = a.astype(np.float16)
    return out


def write_f16_gguf(model, path: Path, template_gguf: Path, name: str = "stetholm merged") -> Path:
    """Write ``model`` (HF Gemma 3, merged) as an F16 GGUF with the template's tokenizer/metadata."""
    import gguf

    cfg = model.config
    r = gguf.GGUFReader(str(template_gguf))
    w = gguf.GGUFWriter(str(path), arch=ARCH)
    vocab = int(cfg.vocab_size)
    for key, f in r.fields.items():
        if key.startswith(_SKIP_PREFIXES) or key == "general.name":
            continue
        vtype = f.types[0]
        val = f.contents()
        if vtype == gguf.GGUFValueType.ARRAY:
            if key in _TOKEN_ARRAYS:
                val = val[:vocab]  # a smaller test vocabulary keeps the first ids (specials, bytes)
            w.add_key_value(key, val, vtype, sub_type=f.types[1])
        else:
            w.add_key_value(key, val, vtype)
    w.add_name(name)
    w.add_context_length(int(cfg.max_position_embeddings))
    w.add_embedding_length(int(cfg.hidden_size))
    w.add_block_count(int(cfg.num_hidden_layers))
    w.add_feed_forward_length(int(cfg.intermediate_size))
    w.add_head_count(int(cfg.num_attention_heads))
    w.add_head_count_kv(int(cfg.num_key_value_heads))
    w.add_key_length(int(cfg.head_dim))
    w.add_value_length(int(cfg.head_dim))
    w.add_layer_norm_rms_eps(float(cfg.rms_norm_eps))
    rope = getattr(cfg, "rope_parameters", None) or {}
    theta = (rope.get("full_attention") or {}).get("rope_theta") or getattr(cfg, "rope_theta", 1e6)
    w.add_rope_freq_base(float(theta))
    w.add_sliding_window(int(cfg.sliding_window))
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for tname, arr in gguf_tensors(model).items():
        w.add_tensor(tname, np.ascontiguousarray(arr))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return Path(path)


def base_f16_path(base: Base | None = None) -> Path:
    """An F16 GGUF of the dequantized base (the exact weights torch trains against), written once
    into the cache; parity checks use it to separate export errors from Q4_K_M quantization."""
    path = cache_dir() / f"base-f16-{base_sha256()[:16]}.gguf"
    if not path.exists():
        model = (base or load_base()).model
        tmp = path.with_suffix(".tmp")
        if hasattr(model, "get_base_model"):
            with model.disable_adapter():
                write_f16_gguf(model.get_base_model(), tmp, base_gguf_path())
        else:
            write_f16_gguf(model, tmp, base_gguf_path())
        os.replace(tmp, path)
    return path


def quantize(f16_path: Path, out_path: Path, threads: int = 2) -> Path:
    """llama.cpp re-quantization of a GGUF to Q4_K_M."""
    import llama_cpp as L

    p = L.llama_model_quantize_default_params()
    p.ftype = L.LLAMA_FTYPE_MOSTLY_Q4_K_M
    p.nthread = threads
    rc = L.llama_model_quantize(str(f16_path).encode(), str(out_path).encode(), ctypes.byref(p))
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed with code {rc} on {f16_path}")
    return Path(out_path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Merge a bundle's LoRA into the base and quantize to Q4_K_M.")
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/merged"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    base = load_base()
    state, alpha = read_lora_gguf(args.bundle / "lora.gguf")
    merged = merge_lora(base.model, state, alpha)
    f16 = write_f16_gguf(merged, args.out / "stetholm-merged-f16.gguf", base_gguf_path())
    q = quantize(f16, args.out / "stetholm-merged-q4_k_m.gguf")
    print(f"wrote {f16} and {q}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
