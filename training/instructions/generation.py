"""Instruction examples from records: questions, answers, facts, rejected answers; the CLI."""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

from training.data import Record
from training.phrasings import load_questions

from .card import findings_texts_for
from .describe import answer_binary, answer_comparison, answer_detection, answer_report
from .facts import flips, record_facts
from .interpret import answer_differential, answer_location, answer_reasoning
from .vocab import N_REJECTED, TASKS, site_domain, site_title

RENDER = {"binary": answer_binary, "detection": answer_detection, "report": answer_report,
          "reasoning": answer_reasoning, "differential": answer_differential,
          "location": answer_location}


# --------------------------------------------------------------------------- generation


def approx_tokens(text: str) -> int:
    """Rough Gemma 3 token count for the length budget: a token per 7 letters of each word, one
    per digit or punctuation mark, +15%. Against the real tokenizer on generated answers it is
    within about 1.0x (median) of the true count; ``--tokenizer-gguf`` prints real counts."""
    import math
    import re

    n = sum(math.ceil(len(w) / 7) for w in re.findall(r"[A-Za-z]+", text))
    n += len(re.findall(r"\d|[^\sA-Za-z\d]", text))
    return int(n * 1.15) + 2


def _questions(task: str, domain: str, has_site: bool, has_site_b: bool) -> list[str]:
    qs = load_questions()[task]
    out = []
    for q in qs:
        if "{site}" in q and not has_site:
            continue
        if "{site_b}" in q and not has_site_b:
            continue
        if domain == "lung" and any(w in q for w in ("murmurs, extra heart", "extra heart sounds")):
            continue
        out.append(q)
    return out


def _fill(q: str, domain: str, site: str | None, site_b: str | None = None) -> str:
    return q.format(domain=domain, site=site or "", site_b=site_b or "")


def make_example(task: str, rec: Record, split: str, rng: random.Random, idx: int,
                 partner: Record | None = None) -> dict | None:
    """One instruction example (or None if the task does not apply to this record)."""
    f, ctx = record_facts(rec)
    render_seed = rng.randrange(2**31)
    if task == "comparison":
        if partner is None:
            return None
        fb, cb = record_facts(partner)
        answer, used = answer_comparison(f, ctx, fb, cb, random.Random(render_seed))
        facts = {k: (f if k.startswith("a.") else fb)[k[2:]] for k in sorted(used)}
        if not facts:  # neither recording carries a label this answer could state
            return None
        rejected, flipped = [], []
        # swapping A and B is the most natural error; then single-fact flips of either side
        variants = [("swap", fb, cb, f, ctx)]
        for name, nf, nc in flips(f, ctx, rng):
            variants.append(("a." + name, nf, nc, fb, cb))
        for name, nf, nc in flips(fb, cb, rng):
            variants.append(("b." + name, f, ctx, nf, nc))
        rng.shuffle(variants)
        for name, a, ac, b, bc in variants:
            txt, _ = answer_comparison(a, ac, b, bc, random.Random(render_seed))
            wrong = {k: (a if k.startswith("a.") else b).get(k[2:]) for k in facts}
            if txt != answer and wrong != facts and txt not in rejected:
                rejected.append(txt)
                flipped.append(name)
            if len(rejected) >= N_REJECTED:
                break
        qs = _questions(task, rec.domain, bool(ctx["site_title"]), bool(cb["site_title"]))
        q = _fill(rng.choice(qs), rec.domain, ctx["site_title"], cb["site_title"])
        audio = [rec.path, partner.path]
        keys = [rec.key, partner.key]
        segs = [_seg(rec), _seg(partner)]
        site_b = partner.site
    else:
        if task == "location" and (not rec.site or site_domain(rec.site) != rec.domain):
            return None  # no site, or a heart source filed under a lung site (HLS-CMDS Mix H files)
        answer, used = RENDER[task](f, ctx, random.Random(render_seed))
        facts = {k: f[k] for k in sorted(used) if k in f}
        if not facts:  # nothing the labels support for this task (e.g. CirCor murmur "Unknown")
            return None
        rejected, flipped = [], []
        vs = flips(f, ctx, rng)
        rng.shuffle(vs)
        # prefer flips of facts this answer asserts
        vs.sort(key=lambda v: v[0] not in facts)
        for name, nf, nc in vs:
            txt, _ = RENDER[task](nf, nc, random.Random(render_seed))
            if txt != answer and txt not in rejected and name in facts:
                rejected.append(txt)
                flipped.append(name)
            if len(rejected) >= N_REJECTED:
                break
        qs = _questions(task, rec.domain, bool(ctx["site_title"]), False)
        q = _fill(rng.choice(qs), rec.domain, ctx["site_title"])
        audio = [rec.path]
        keys = [rec.key]
        segs = [_seg(rec)]
        site_b = None
    sides = [(f, ctx)] + ([(fb, cb)] if task == "comparison" else [])
    texts = findings_texts_for(answer, q, sides, _text_rng(rec, task, idx))
    return {
        "id": f"{split}-{rec.dataset}-{rec.record_id}-{task}-{idx}",
        "task": task, "dataset": rec.dataset, "split": split, "audio": audio, "segments": segs,
        "record_keys": keys,
        "domain": rec.domain, "site": rec.site, "site_title": ctx["site_title"],
        "site_b": site_b, "site_b_title": site_title(site_b),
        "instruction": q, "answer": answer, "facts": facts,
        "findings_texts": texts, "card_agrees": texts is not None,
        "rejected": rejected, "rejected_flips": flipped,
    }


def _text_rng(r: Record, task: str, idx: int) -> random.Random:
    """Its own generator for the findings text, so adding the text moved no other draw."""
    return random.Random(f"{r.key}|{task}|{idx}|findings")


def _seg(r: Record):
    return None if r.start_s is None else [r.start_s, r.end_s]


def _partner(rec: Record, pool: dict, rng: random.Random) -> Record | None:
    """Another recording of the same patient (other site) if possible, else of the same set."""
    same_pat = [r for r in pool[(rec.dataset, rec.group)] if r.key != rec.key and r.domain == rec.domain]
    if same_pat and rng.random() < 0.7:
        return rng.choice(same_pat)
    others = pool[(rec.dataset, "*", rec.domain)]
    if len(others) < 2:
        return None
    for _ in range(5):
        o = rng.choice(others)
        if o.key != rec.key:
            return o
    return None


def generate(records: list[Record], split: str, seed: int = 0, per_record: int = 3,
             tasks: tuple[str, ...] = TASKS) -> list[dict]:
    """Instruction examples for ``records`` (all of one split; partners come from the same list).

    Each record gets ``per_record`` examples of distinct tasks, chosen in rotation so every task
    is about equally frequent; inapplicable tasks (location without a site, comparison without
    a partner) fall through to the next task.
    """
    rng = random.Random(f"{seed}|{split}")
    pool: dict = defaultdict(list)
    for r in records:
        pool[(r.dataset, r.group)].append(r)
        pool[(r.dataset, "*", r.domain)].append(r)
    out = []
    for i, rec in enumerate(sorted(records, key=lambda r: r.key)):
        start = rng.randrange(len(tasks))
        order = [tasks[(start + j) % len(tasks)] for j in range(len(tasks))]
        made = 0
        for task in order:
            if made >= per_record:
                break
            partner = _partner(rec, pool, rng) if task == "comparison" else None
            ex = make_example(task, rec, split, rng, made, partner)
            if ex is None:
                continue
            out.append(ex)
            made += 1
    return out


def count_table(examples: list[dict]) -> str:
    c = Counter((e["dataset"], e["task"]) for e in examples)
    dsets = sorted({e["dataset"] for e in examples})
    lines = [f"{'dataset':16s} " + " ".join(f"{t[:8]:>8s}" for t in TASKS) + "    total"]
    for d in dsets:
        row = [c[(d, t)] for t in TASKS]
        lines.append(f"{d:16s} " + " ".join(f"{n:8d}" for n in row) + f" {sum(row):8d}")
    tot = [sum(c[(d, t)] for d in dsets) for t in TASKS]
    lines.append(f"{'TOTAL':16s} " + " ".join(f"{n:8d}" for n in tot) + f" {sum(tot):8d}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Generate StethoBench-style instruction data (jsonl per split).")
    ap.add_argument("--out", type=Path, default=Path("runs/instructions"))
    ap.add_argument("--root", type=Path, default=None, help="data folder (default: shared data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-record", type=int, default=3)
    ap.add_argument("--datasets", nargs="*", default=None)
    ap.add_argument("--tokenizer-gguf", type=Path, default=None,
                    help="GGUF whose tokenizer measures real answer lengths (slow to load, ~50 s)")
    args = ap.parse_args(argv)
    from training.data import DATASETS
    from training.splits import load_split

    recs = load_split(None, datasets=tuple(args.datasets or DATASETS), root=args.root)
    args.out.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val", "test"):
        ex = generate([r for r in recs if r.split == split], split, args.seed, args.per_record)
        path = args.out / f"{split}.jsonl"
        with open(path, "w") as fh:
            for e in ex:
                fh.write(json.dumps(e, ensure_ascii=False) + "\n")
        print(f"== {split}: {len(ex)} examples -> {path}")
        print(count_table(ex))
        if split == "train" and args.tokenizer_gguf:
            print(length_table(ex, args.tokenizer_gguf))
    return 0


def length_table(examples: list[dict], gguf: Path) -> str:
    """Real Gemma token counts of the answers per task (median / 95th percentile / max)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    by: dict[str, list[int]] = defaultdict(list)
    for e in examples:
        by[e["task"]].append(len(tok(e["answer"], add_special_tokens=False)["input_ids"]))
    lines = ["answer tokens (Gemma 3 tokenizer): task median p95 max"]
    for t in TASKS:
        v = sorted(by.get(t, [0]))
        lines.append(f"  {t:12s} {v[len(v) // 2]:4d} {v[int(len(v) * 0.95)]:4d} {v[-1]:4d}")
    return "\n".join(lines)

