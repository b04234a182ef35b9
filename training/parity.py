"""Parity of the exported LoRA adapter: llama.cpp (base GGUF + lora.gguf) vs torch + peft.

Fixed input: BOS, the app's prompt intro, K audio prefix embeddings from the projector (through
``batch.embd`` in llama.cpp, ``inputs_embeds`` in torch), the instruction and an answer - logits
compared at every position. Two checks (``TOLERANCE``):

- **export exactness**, on an F16 GGUF of the very weights torch uses (written once by
  ``training.merge_quantize.write_f16_gguf`` into the cache): cos >= 0.999 at every position and
  the same top-1 token everywhere. Measured on the smoke bundle: cos min 0.999998, 62/62.
- **the app's path**, on the shipped Q4_K_M base: mean cos >= 0.99 and the same top-1 token at
  >= 95 % of the positions where torch's best token leads the runner-up by >= 0.5 logits, or,
  when the base alone already agrees at fewer than that on the same input, at >= 95 % of the
  base's own rate (a CI smoke build's barely trained prefix had the base alone at 41/44 clear
  positions, cos min 0.846: the quantization's sensitivity to that input, not the export). The
  base alone (Q4_K_M vs its dequantized fp32 weights, no adapter) already flips near-ties (4 of
  62 positions here, margins < 0.3 logits), once a clear position (42/43), and has single
  sensitive positions (one early prompt token at cos 0.994 without the adapter, 0.95 with a
  trained one), so a per-position minimum on Q4_K_M would measure quantization sensitivity, not
  the export; those figures are reported beside the base's own.

    python -m training.parity runs/smoke/bundle          # prints the figures for a bundle
    python -m training.parity models/stetholm-270m-laptop --features runs/laptop/features.pt --write
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from training.llama_logits import all_logits, compare

TOLERANCE = {"f16_cos_min": 0.999, "q4_cos_mean": 0.99, "q4_top1_clear": 0.95, "tie_margin": 0.5}
INSTRUCTION = "Is there a murmur in this recording? Describe what you hear."
ANSWER = "A holosystolic murmur is heard, loudest at the apex; no crackles."


def fixed_pieces(tokenizer, prefix: np.ndarray, template: dict | None = None) -> tuple[list, list[int]]:
    """(pieces for llama.cpp, torch token ids with -1 at the audio slots) of the fixed input."""
    from stethodesk.model.prompts import AudioSlot, answer_end, build_prompt

    segs = build_prompt(INSTRUCTION, domain="heart", site="mitral area", template=template)
    bos = int(tokenizer.bos_token_id)
    pieces, ids, cur = [], [], [bos]
    for s in segs:
        if isinstance(s, AudioSlot):
            pieces.append(cur)
            ids += cur
            pieces.append(prefix)
            ids += [-1] * len(prefix)
            cur = []
        else:
            cur = cur + list(tokenizer(s, add_special_tokens=False).input_ids)
    cur += list(tokenizer(ANSWER, add_special_tokens=False).input_ids)
    cur += list(tokenizer(answer_end(template), add_special_tokens=False).input_ids)
    pieces.append(cur)
    ids += cur
    return pieces, ids


@torch.no_grad()
def torch_logits(model, ids: list[int], prefix: np.ndarray) -> np.ndarray:
    """fp32 logits ``[n, vocab]`` with the prefix rows placed at the -1 positions."""
    from training.sft import causal_lm

    core = causal_lm(model)
    t = torch.tensor([ids])
    emb = core.get_input_embeddings()(t.clamp(min=0))
    emb[0, t[0] < 0] = torch.as_tensor(prefix, dtype=emb.dtype)
    return model(inputs_embeds=emb).logits[0].float().numpy()


def lora_parity(peft_model, tokenizer, prefix: np.ndarray, gguf_path: Path, lora_path: Path,
                template: dict | None = None, f16_path: Path | None = None) -> dict:
    """Compare llama.cpp (+adapter) with torch+peft.

    Returns compare() figures for the Q4_K_M base plus ``base`` (llama.cpp base alone vs torch base
    alone: the quantization gap), ``lora_effect`` (torch base vs torch+LoRA: what the adapter
    changes), ``f16`` (with ``f16_path``: the exactness check) and ``ok`` per :data:`TOLERANCE`.
    """
    pieces, ids = fixed_pieces(tokenizer, prefix, template)
    ref = torch_logits(peft_model, ids, prefix)
    with peft_model.disable_adapter():
        ref_base = torch_logits(peft_model, ids, prefix)
    m = TOLERANCE["tie_margin"]
    res = compare(all_logits(gguf_path, pieces, lora_path), ref, m)
    res["base"] = compare(all_logits(gguf_path, pieces), ref_base, m)
    res["lora_effect"] = compare(ref_base, ref, m)
    res["tolerance"] = TOLERANCE
    ok = (res["cos_mean"] >= TOLERANCE["q4_cos_mean"]
          and res["top1_agree_clear"] >= q4_clear_needed(res["base"]) * res["positions_clear"])
    if f16_path is not None:
        f = compare(all_logits(f16_path, pieces, lora_path), ref, m)
        res["f16"] = f
        # top-1 must agree wherever the choice is clear; a near-tie (margin < tie_margin) may flip
        # with the kernels' rounding (AVX2 llama.cpp flipped 1 of 62 at cos_min 0.99999, 2026-11-30)
        ok = ok and f["cos_min"] >= TOLERANCE["f16_cos_min"] and f["top1_agree_clear"] == f["positions_clear"]
    res["ok"] = bool(ok)
    return res


def q4_clear_needed(base: dict) -> float:
    """Share of clear positions at which llama.cpp + adapter must pick torch's top-1 token.

    ``TOLERANCE["q4_top1_clear"]`` (0.95), relaxed to 0.95 x the base-alone share when the Q4_K_M
    base without any adapter already falls below it on the same input: what the base loses there
    is quantization, and the adapter may cost at most 5 % of what is left.
    """
    want = TOLERANCE["q4_top1_clear"]
    n = base.get("positions_clear") or 0
    base_rate = base["top1_agree_clear"] / n if n else 1.0
    return min(want, want * base_rate)


def _cos(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="llama.cpp vs torch parity of a bundle's LoRA adapter.")
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--features", type=Path, default=None,
                    help="features.pt of the build's work folder: use a real recording's prefix (else random)")
    ap.add_argument("--key", default=None, help="record key in --features (default: the first)")
    ap.add_argument("--write", action="store_true", help="store the result in bundle.json and the model card")
    args = ap.parse_args(argv)
    import json

    from stethodesk.model.projector import load_projector
    from training.audio_feats import projector_inputs
    from training.export import finalize
    from training.llm_base import load_base
    from training.merge_quantize import base_f16_path, read_lora_gguf
    from training.sft import SFTConfig, add_lora, load_lora_state

    m = json.loads((args.bundle / "bundle.json").read_text())
    base = load_base()
    lora = args.bundle / m["files"]["lora"]["path"]
    state, alpha = read_lora_gguf(lora)
    pm = add_lora(base.model, SFTConfig(lora_alpha=alpha))
    load_lora_state(pm, state)
    proj = load_projector(args.bundle / m["files"]["projector"]["path"], m["projector"])
    torch.manual_seed(0)
    key = "random"
    with torch.no_grad():
        if args.features:
            enc = torch.load(args.features, weights_only=False)
            key = args.key or sorted(k for k in enc if not k.startswith("noise:"))[0]
            x = projector_inputs({key: enc[key]}, m["encoder"]["heads"])[key]
            prefix = proj(torch.as_tensor(x).reshape(1, -1))[0].numpy()
        else:
            prefix = proj(torch.randn(1, proj.cfg.d_in))[0].numpy()
    res = lora_parity(pm, base.tokenizer, prefix, base.gguf_path, lora, m.get("prompt_template"),
                      f16_path=base_f16_path(base))
    res["recording"] = key
    print(json.dumps(res, indent=1))
    if args.write:
        m.setdefault("training", {})["parity"] = res
        finalize(args.bundle, m)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
