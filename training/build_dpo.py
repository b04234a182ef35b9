"""The DPO stage of a build: preference pairs, their training, and whether the result is kept.

Rejected answers come from the SFT model itself (answering with noise or another recording's
audio, and contradicting the true labels per the deterministic checker) and from the instruction
generator's label-flipped answers. DPO is kept only when it raises label-consistency on validation
(greedy llama.cpp answers, the app's path); otherwise the bundle ships the SFT weights.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict


def dpo_stage(b) -> dict:
    """Run DPO on top of the SFT weights of build ``b`` (a ``training.build.Build``).

    Writes ``dpo_ckpt.pt`` and ``dpo_lora.gguf`` in the build's work folder; returns the stage's
    marker info (training stats, pair sources, validation label-consistency before/after, ``kept``).
    """
    from training.checker import check
    from training.dpo import DPOConfig, Pair, corrupt_copy, dpo_precision, reference_logprobs, train_dpo
    from training.evaluate import generate_answers, label_consistency, sample_per_task
    from training.sft import Trainable
    from training.sft_examples import TokenCache, encode_example

    feats, d_in = b.feats()
    rng = random.Random(b.p.seed + 1)
    exs = b.examples()
    train = b.trainable_examples(exs["train"], feats)
    val = sample_per_task(b.trainable_examples(exs["val"], feats), b.p.val_per_task, b.p.seed)
    peft_model, proj, _ = b.policy("sft")
    sft_lora = b.write_lora("sft")
    noise_keys = [k for k in feats if k.startswith("noise:")]
    base = b.base()

    # validation label-consistency of the SFT model (greedy, llama.cpp, the app's path)
    sft_val = label_consistency(base.gguf_path, sft_lora, proj, val, feats, b.p.max_new_tokens, b.log)
    b.log(f"dpo: SFT label-consistency on validation {sft_val['acc']:.3f} (N={sft_val['n']})")

    # rejected answers produced by the SFT model from noise / another recording
    cands = [e for e in train if len(e["audio"]) == 1]
    policy_src = rng.sample(cands, min(len(cands), b.p.dpo_policy_pairs * 2))
    by_domain = defaultdict(list)
    for e in cands:
        by_domain[e.get("domain")].append(e)
    corrupt_audio, prompts = [], []
    for i, e in enumerate(policy_src):
        if i % 2 == 0:
            corrupt_audio.append([rng.choice(noise_keys)])
        else:
            others = [o for o in by_domain[e.get("domain")] if o["audio"] != e["audio"]] or cands
            corrupt_audio.append(list(rng.choice(others)["audio"]))
        prompts.append({**e, "audio": corrupt_audio[-1]})
    gen = generate_answers(base.gguf_path, sft_lora, proj, prompts, feats, b.p.max_new_tokens)
    tc = TokenCache(base.tokenizer)
    sft_cfg = b.sft_cfg()
    k, max_len = sft_cfg.k, sft_cfg.max_len  # as SFT saw them (192 here cut comparisons' answers)
    pairs = []
    for e, ca, ans in zip(policy_src, corrupt_audio, gen):
        if len([p for p in pairs if p.source.startswith("policy")]) >= b.p.dpo_policy_pairs:
            break
        if not ans.strip() or ans.strip() == e["answer"].strip() or check(ans, e["facts"]).correct:
            continue  # only answers that contradict the true labels are "rejected"
        ch = encode_example(tc, e, k, max_len=max_len)
        pairs.append(Pair(ch, encode_example(tc, e, k, answer=ans, max_len=max_len), corrupt_copy(ch, ca),
                          "policy_noise" if ca[0].startswith("noise:") else "policy_other"))
    # label-flipped rejected answers from the instruction generator
    flip = [e for e in train if e.get("rejected")]
    rng.shuffle(flip)
    for e in flip:
        if len(pairs) >= b.p.dpo_pairs:
            break
        ch = encode_example(tc, e, k, max_len=max_len)
        corrupt = [rng.choice(noise_keys)] * len(e["audio"])
        pairs.append(Pair(ch, encode_example(tc, e, k, answer=rng.choice(e["rejected"]), max_len=max_len),
                          corrupt_copy(ch, corrupt), "flipped"))
    src = dict(Counter(p.source for p in pairs))
    b.log(f"dpo: {len(pairs)} pairs {src}")
    cfg = DPOConfig(steps=b.p.dpo_steps, batch_size=b.p.dpo_batch, seed=b.p.seed,
                    max_minutes=b.p.dpo_minutes,
                    ckpt_every=max(5, b.p.dpo_steps // 3), log_every=max(1, min(5, b.p.dpo_steps // 3)))
    module = Trainable(peft_model, proj, k)
    reference_logprobs(module, pairs, feats, d_in, dpo_precision(cfg))
    stats = train_dpo(peft_model, proj, pairs, feats, d_in, cfg, k, b.run / "dpo_ckpt.pt", b.log)
    dpo_lora = b.write_lora("dpo")
    dpo_val = label_consistency(base.gguf_path, dpo_lora, proj, val, feats, b.p.max_new_tokens, b.log)
    keep = dpo_val["acc"] > sft_val["acc"]
    note = (f"DPO ({len(pairs)} pairs: {src}; {stats['steps']} steps of {cfg.batch_size}, beta {cfg.beta}, clean-vs-corrupted "
            f"audio weight {cfg.gamma}) changed validation label-consistency from "
            f"{sft_val['acc']:.3f} (SFT) to {dpo_val['acc']:.3f} (N={dpo_val['n']} greedy answers, "
            f"deterministic checker). " + ("Kept: the bundle ships the SFT+DPO weights." if keep else
                                           "Not kept (no improvement): the bundle ships the SFT weights."))
    b.log("dpo: " + note)
    return {**stats, "pair_sources": src, "val_sft": sft_val["acc"], "val_dpo": dpo_val["acc"],
            "val_n": dpo_val["n"], "kept": keep, "note": note,
            "val_by_task": {"sft": sft_val["by_task"], "dpo": dpo_val["by_task"]}}
