"""Export a trained model as an app bundle (docs/ARCHITECTURE.md, "Model bundle").

Files written into the bundle folder (small files only; the base GGUF is never copied):

- ``encoder.safetensors``, ``projector.safetensors``: torch weights (configs go in bundle.json);
- ``lora.gguf``: the LoRA as a llama.cpp adapter, written by hand per the guide's recipe:
  ``general.type = adapter``, ``adapter.type = "lora"``, ``adapter.lora.alpha`` (float32; without
  it llama.cpp silently uses the wrong scale), tensors ``blk.{i}.attn_q.weight.lora_a`` = peft
  ``lora_A`` (r, in) and ``.lora_b`` = peft ``lora_B`` (out, r), both as-is (no transposes);
- ``MODEL_CARD.md``;
- ``bundle.json`` naming every file with its sha256.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path

import numpy as np
import torch

from stethodesk.model.bundle import write_manifest
from training.eval_tables import by_dataset_table, card_table, lodo_table, previous_table
from training.llm_base import BASE_FILE, BASE_MODULE, BASE_PYPI, N_EMBD, sha256_file

FORMAT = "stethodesk-bundle/1"
BUNDLE_NAME = "stetholm-gemma3-270m"
TASKS = ("binary", "detection", "report", "reasoning", "differential", "comparison", "location")
# peft module name -> llama.cpp tensor name
GGUF_PROJ = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output"}
_PEFT_KEY = re.compile(r"layers\.(\d+)\.self_attn\.([qkvo]_proj)\.lora_([AB])\.weight$")

CITATIONS = {
    "circor2022": "CirCor DigiScope 2022: Oliveira et al., IEEE JBHI 26(6):2524-2535, 2022; Reyna et al., "
                  "PhysioNet Challenge 2022. ODC-By 1.0.",
    "physionet2016": "PhysioNet/CinC 2016: Liu et al., Physiol. Meas. 37(12):2181-2213, 2016. ODC-By 1.0.",
    "yaseen2018": "Yaseen, Son, Kwon, Applied Sciences 8(12):2344, 2018. No licence stated.",
    "pascal_chsc2011": "PASCAL Classifying Heart Sounds Challenge 2011 (set B): Bentley et al., 2011. "
                       "No formal licence.",
    "hls_cmds": "HLS-CMDS (clinical manikin): Torabi et al., 2025; data CC BY 4.0.",
    "icbhi2017": "ICBHI 2017 Respiratory Sound Database: Rocha et al., Physiol. Meas. 40(3):035001, "
                        "2019. Freely available for research.",
    "sprsound2022": "SPRSound 2022: Zhang et al., IEEE TBioCAS 16(5):867-881, 2022.",
}


# ----------------------------------------------------------------------------- LoRA GGUF


def _precision_line(info: dict) -> str:
    """How the LLM stages computed, from the build record (training/precision.py)."""
    prec = ((info.get("training") or {}).get("sft") or {}).get("precision")
    if not prec:
        return "bf16 autocast on a CPU with AVX-512 BF16 (bundles built before the precision record)."
    cpu = prec.get("cpu") or {}
    where = f"CPU capability {cpu.get('capability')}" if cpu else prec.get("device", "")
    return (f"{prec.get('dtype')} on {where} ({prec.get('reason')}); bf16 autocast is used only where "
            "the hardware does bf16 natively, fp32 elsewhere (training/precision.py).")


def lora_tensors(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """peft LoRA state dict -> {llama.cpp tensor name: float32 array} (no transposes)."""
    out = {}
    for key, t in state.items():
        m = _PEFT_KEY.search(key)
        if not m:
            raise ValueError(f"unexpected LoRA tensor {key!r} (only q/k/v/o_proj are exported)")
        layer, proj, ab = m.groups()
        name = f"blk.{int(layer)}.{GGUF_PROJ[proj]}.weight.lora_{ab.lower()}"
        out[name] = t.detach().float().cpu().numpy().astype(np.float32)
    return dict(sorted(out.items(), key=lambda kv: (int(kv[0].split(".")[1]), kv[0])))


def write_lora_gguf(state: dict[str, torch.Tensor], path: Path, alpha: float, arch: str = "gemma3") -> dict:
    """Write a llama.cpp LoRA adapter GGUF. Returns {"rank", "alpha", "tensors"}."""
    import gguf

    tensors = lora_tensors(state)
    ranks = {a.shape[0] for n, a in tensors.items() if n.endswith("lora_a")}
    if len(ranks) != 1:
        raise ValueError(f"LoRA ranks differ across tensors: {sorted(ranks)}")
    path = Path(path)
    tmp = path.with_suffix(".gguf.tmp")
    w = gguf.GGUFWriter(str(tmp), arch=arch)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for name, arr in tensors.items():
        w.add_tensor(name, np.ascontiguousarray(arr))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(path)
    return {"rank": int(ranks.pop()), "alpha": float(alpha), "tensors": len(tensors)}


# ----------------------------------------------------------------------------- weights


def save_module(module: torch.nn.Module, path: Path, config: dict | None = None) -> None:
    """Torch module -> safetensors (config JSON in the metadata for provenance)."""
    from safetensors.torch import save_file

    state = {k: v.detach().float().contiguous().cpu() for k, v in module.state_dict().items()}
    meta = {"config": json.dumps(config or {})}
    save_file(state, str(path), metadata=meta)


def _cfg_dict(cfg) -> dict:
    if cfg is None:
        return {}
    if isinstance(cfg, dict):
        return dict(cfg)
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    from dataclasses import asdict

    return asdict(cfg)


# ----------------------------------------------------------------------------- model card


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def model_card(info: dict) -> str:
    """MODEL_CARD.md text from the bundle manifest ``info`` (bundle.json contents)."""
    td = info.get("training_data", {})
    m = info.get("metrics", {})
    lines = [
        f"# {info['name']} {info['version']} (profile `{info['profile']}`)",
        "",
        "**Decision support, not a diagnosis.** This model describes heart and lung sounds to help a "
        "trained clinician or student listen; it can be wrong, it has not been validated clinically, "
        "and it must never replace auscultation by a qualified person, echocardiography or other "
        "confirmatory tests.",
        "",
        "## What it is",
        "",
        f"- Base LLM: Gemma 3 270M (pretrained, not instruction-tuned), `{info['base_model']['file']}` "
        f"(sha256 `{info['base_model']['sha256'][:16]}...`) from the PyPI package "
        f"`{info['base_model']['source']['pypi']}`; Gemma Terms of Use. Run by llama.cpp; never copied here.",
        "- Audio encoder (torch, `encoder.safetensors`) with multi-task heads giving calibrated "
        "finding probabilities; projector (`projector.safetensors`) mapping the pooled embedding and "
        f"head probabilities to {info.get('prefix_tokens', 4)} prefix embeddings in Gemma's scaled "
        "token-embedding space.",
        f"- LoRA adapter `lora.gguf` (rank {info['files']['lora'].get('rank')}, alpha "
        f"{info['files']['lora'].get('alpha')}) on q/k/v/o of every attention layer, applied by "
        "llama.cpp at run time.",
        "- Training: encoder pretraining on the training split; SFT of projector + LoRA against the "
        "frozen base dequantized from the very GGUF the app runs (loss on answer tokens only); optional "
        "DPO (see below).",
        "- Compute type: " + _precision_line(info),
        "",
        "## Preference stage (DPO)",
        "",
        info.get("dpo_note", "not run"),
        "",
        "## Data",
        "",
        "Real recordings (subsets of the public releases, read from the shared data folder, never "
        "bundled). Splits are patient-level (no patient in two splits).",
        "",
    ]
    counts = td.get("records", {})
    if counts:
        splits = sorted({s for c in counts.values() for s in c})
        lines += ["| dataset | " + " | ".join(splits) + " |", "|---" * (len(splits) + 1) + "|"]
        for ds, c in sorted(counts.items()):
            lines.append(f"| {ds} | " + " | ".join(str(c.get(s, 0)) for s in splits) + " |")
        lines.append("")
    ex = td.get("examples", {})
    if ex:
        lines += ["Instruction examples per task and split: " + json.dumps(ex, sort_keys=True), ""]
    lines += ["Split caveats: PhysioNet 2016 (this subset) and Yaseen 2018 have no patient ids, so they are "
              "split by recording (subjects may leak across splits); HLS-CMDS is split by source sound "
              "(a manikin). Test figures below are in-domain (same datasets as training).", ""]
    lines += ["Citations (cite the dataset authors when reporting results):", ""]
    for ds in sorted(counts or CITATIONS):
        if ds in CITATIONS:
            lines.append(f"- {CITATIONS[ds]}")
    lines += ["", "## Evaluation (held-out test splits)", ""]
    if m:
        lines += _metrics_md(m)
    else:
        lines.append("Not evaluated yet (run `python -m training.evaluate <bundle>`).")
    enc_m = (info.get("training") or {}).get("encoder_metrics") or {}
    if enc_m:
        lines += ["", "Encoder heads on the validation split (recording level; temperature calibration fitted "
                  "there, so the 'after' ECE is optimistic):", "",
                  "| head | N | AUROC | ECE before | ECE after | T |", "|---|---|---|---|---|---|"]
        for h, v in sorted(enc_m.items()):
            if isinstance(v, dict):
                lines.append(f"| {h} | {v.get('n_val', '-')} | {_fmt(v.get('auroc'))} | {_fmt(v.get('ece_before'))} | "
                             f"{_fmt(v.get('ece_after'))} | {_fmt(v.get('T'))} |")
    par = (info.get("training") or {}).get("parity") or {}
    if par:
        f16 = par.get("f16")
        lines += ["", "Export check (llama.cpp with `lora.gguf` vs torch+peft, every position of a fixed prompt "
                  "with a real recording's prefix): " +
                  (f"F16 base cos min {f16['cos_min']:.6f}, top-1 {f16['top1_agree']}/{f16['positions']}; " if f16 else "") +
                  f"Q4_K_M base cos mean {par['cos_mean']:.4f}, top-1 {par['top1_agree_clear']}/"
                  f"{par['positions_clear']} at clear positions; {'within' if par.get('ok') else 'OUTSIDE'} tolerance."]
    lines += [
        "",
        "## Intended use",
        "",
        "Teaching and decision support on a laptop, offline: describing whether a heart or lung "
        "recording suggests murmurs, abnormal heart sounds, crackles or wheezes, with the finding "
        "probabilities shown beside the text.",
        "",
        "## Limitations",
        "",
        "- Small data (subsets of public sets), small model; scores are far below clinical use.",
        "- Device and site shift: recordings from other stethoscopes or sites can behave very "
        "differently; thresholds tuned on few validation patients transfer poorly (see AUROC).",
        "- Paediatric sets (CirCor, SPRSound), a manikin (HLS-CMDS) and pre-cut clips (Yaseen) are "
        "not representative of every patient population.",
        "- The language model can state things the audio does not support; the app checks every answer "
        "against the findings card at run time and shows the card's own wording where it disagrees "
        "(agreement of raw and shown answers above).",
        "- Not a diagnosis; not a medical device.",
        "",
    ]
    return "\n".join(lines)


def _metrics_md(m: dict) -> list[str]:
    lines = []
    ca = m.get("clinical_accuracy", {})
    if ca:
        lines += ["Clinical accuracy (the answer states every label fact correctly, deterministic checker):", "",
                  "| task | N | with audio | no-audio baseline |", "|---|---|---|---|"]
        base = m.get("baseline", {}).get("clinical_accuracy", {})
        for task in sorted(ca):
            lines.append(f"| {task} | {ca[task].get('n')} | {_fmt(ca[task].get('acc'))} | "
                         f"{_fmt(base.get(task, {}).get('acc'))} |")
        ov, bo = m.get("clinical_accuracy_overall"), m.get("baseline", {}).get("clinical_accuracy_overall")
        if ov:
            lines.append(f"| **all** | {ov.get('n')} | {_fmt(ov.get('acc'))} | {_fmt((bo or {}).get('acc'))} |")
        lines += ["", "Published reference: StethoLM clinical accuracy 0.478 in-domain, 0.252 out-of-domain "
                  "(MedGemma-4B base, LLM-judged; not directly comparable).", ""]
    lines += card_table(m)
    ch = m.get("challenge", {})
    if ch:
        lines += ["| score | value | published reference |", "|---|---|---|"]
        refs = m.get("references", {})
        for k in sorted(ch):
            lines.append(f"| {k} | {_fmt(ch[k].get('value') if isinstance(ch[k], dict) else ch[k])} | "
                         f"{refs.get(k, '-')} |")
        lines.append("")
    fnd = m.get("findings", {})
    if fnd:
        lines += ["| finding | N | AUROC | called at | sensitivity | specificity |", "|---|---|---|---|---|---|"]
        for k in sorted(fnd):
            f = fnd[k]
            point = f.get("point", (m.get("operating_points") or {}).get(k, m.get("threshold", 0.5)))
            lines.append(f"| {k} | {f.get('n')} | {_fmt(f.get('auroc'))} | {_fmt(point)} | {_fmt(f.get('sens'))} | "
                         f"{_fmt(f.get('spec'))} |")
        lines.append("")
    lines += by_dataset_table(m) + lodo_table(m.get("lodo")) + previous_table(m)
    if m.get("notes"):
        lines += [str(n) for n in m["notes"]] + [""]
    return lines


# ----------------------------------------------------------------------------- bundle


def write_bundle(out_dir: Path, *, profile: str, encoder, encoder_cfg, frontend_cfg, projector, projector_cfg,
                 lora_state: dict, lora_alpha: float, heads: dict, training_data: dict,
                 base_sha256: str, template: dict, metrics: dict | None = None, dpo_note: str = "",
                 version: str = "0.1.0", name: str = BUNDLE_NAME, extra: dict | None = None) -> dict:
    """Write every bundle file and ``bundle.json``; returns the manifest dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    enc_cfg, proj_cfg = _cfg_dict(encoder_cfg), _cfg_dict(projector_cfg)
    save_module(encoder, out / "encoder.safetensors", enc_cfg)
    save_module(projector, out / "projector.safetensors", proj_cfg)
    lora_info = write_lora_gguf(lora_state, out / "lora.gguf", lora_alpha)
    info = {
        "format": FORMAT,
        "name": name,
        "version": version,
        "profile": profile,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "base_model": {"file": BASE_FILE, "sha256": base_sha256, "n_embd": N_EMBD,
                       "source": {"pypi": BASE_PYPI, "module": BASE_MODULE},
                       "licence": "Gemma Terms of Use"},
        "files": {
            "encoder": {"path": "encoder.safetensors"},
            "projector": {"path": "projector.safetensors"},
            "lora": {"path": "lora.gguf", "rank": lora_info["rank"], "alpha": lora_info["alpha"], "scale": 1.0},
            "model_card": {"path": "MODEL_CARD.md"},
        },
        "frontend": _cfg_dict(frontend_cfg),
        "encoder": enc_cfg,
        "projector": proj_cfg,
        "prefix_tokens": int(proj_cfg.get("k", 4)),
        "prompt_template": dict(template),
        "tasks": list(TASKS),
        "heads": heads,
        "training_data": training_data,
        "metrics": metrics or {},
        "dpo_note": dpo_note,
    }
    info.update(extra or {})
    return finalize(out, info)


def finalize(out_dir: Path, info: dict) -> dict:
    """(Re)write MODEL_CARD.md from ``info``, hash every file, write bundle.json atomically."""
    out = Path(out_dir)
    (out / "MODEL_CARD.md").write_text(model_card(info))
    for entry in info["files"].values():
        entry["sha256"] = sha256_file(out / entry["path"])
    return write_manifest(out, info)  # sealed: an edit by other means is found at load


def update_metrics(out_dir: Path, metrics: dict) -> dict:
    """Put evaluation metrics into bundle.json and the model card (sha256s refreshed)."""
    info = json.loads((Path(out_dir) / "bundle.json").read_text())
    info["metrics"] = metrics
    return finalize(out_dir, info)
