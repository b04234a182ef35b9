"""SFT pieces: the app's prompt layout as token ids, audio slots filled by the projector in the
scaled embedding space, loss only on answer tokens, resumable training (tiny model for speed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stethodesk.model.llm import LlamaSession
from stethodesk.model.projector import Projector, ProjectorConfig
from stethodesk.model.prompts import ANSWER_END, AudioSlot
from training.llm_base import base_gguf_path, embed_scale, load_tokenizer, tiny_gemma3
from training.sft import IGNORE, SFTConfig, add_lora, build_embeds, collate, lora_state, train_sft
from training.sft_examples import Encoded, TokenCache, check_cuts, encode_example, prompt_segments

EX = {"id": "x", "task": "binary", "instruction": "Is this heart sound normal or abnormal?", "domain": "heart",
      "site": "mitral", "audio": ["rec-a"], "answer": "Abnormal. A holosystolic murmur is heard."}
EX2 = {**EX, "id": "y", "task": "comparison", "audio": ["rec-a", "rec-b"], "site_b": "aortic",
       "instruction": "Compare the two recordings.", "answer": "Recording A has a murmur; B does not."}


@pytest.fixture(scope="module")
def tc():
    return TokenCache(load_tokenizer())


def test_prompt_ids_follow_the_app_layout(tc):
    e = encode_example(tc, EX, k=4)
    segs = prompt_segments(EX)
    slot = next(i for i, s in enumerate(segs) if isinstance(s, AudioSlot))
    intro = segs[:slot]  # template text and the filled-in site (UserText), each tokenized alone
    assert "mitral area" in "".join(intro)  # the engine's site words
    assert e.ids[0] == tc.bos and e.ids.count(tc.bos) == 1
    intro_ids = [t for s in intro for t in tc(s)]
    assert e.ids[1:1 + len(intro_ids)] == intro_ids
    audio = [i for i, s in enumerate(e.slot) if s >= 0]
    assert e.kpos[audio[0]:audio[-1] + 1] == [0, 1, 2, 3] and e.ids[audio[0]] == -1
    answer = e.ids[e.n_prompt:]
    assert answer == tc(EX["answer"]) + tc(ANSWER_END) and tc(ANSWER_END) == [106]
    two = encode_example(tc, EX2, k=4)
    assert sorted(set(s for s in two.slot if s >= 0)) == [0, 1]


def test_a_comparison_with_two_findings_cards_keeps_its_whole_answer(tc):
    """Two findings texts made a comparison prompt of ~260 tokens: at the old max_len (192) its
    whole answer was cut, and the model never learnt to compare (raw accuracy 0.000)."""
    from stethodesk.model.facts import facts_text

    murmur = {"abnormal": 0.91, "murmur": 0.83, "murmur_timing_systolic": 0.91, "murmur_timing_diastolic": 0.04,
              "lesion_AS": 0.7, "lesion_MR": 0.2, "lesion_MS": 0.05, "lesion_MVP": 0.03, "lesion_N": 0.02}
    clear = {"abnormal": 0.12, "murmur": 0.05}
    points = {"murmur": 0.42, "abnormal": 0.58}
    texts = [facts_text(murmur, "heart", 74.0, "good", "aortic", points=points),
             facts_text(clear, "heart", 71.0, "fair", "mitral", "some handling noise", points=points)]
    ex = {**EX2, "findings_texts": texts,
          "answer": "Recording A (aortic area): abnormal; a systolic murmur, consistent with aortic stenosis. "
                    "Recording B (mitral area): normal; no murmur. Overall, only A is abnormal."}
    e = encode_example(tc, ex, k=4, max_len=SFTConfig().max_len)
    assert e.n_prompt > 192 and not e.meta.get("cut")
    assert e.ids[e.n_prompt:] == tc(ex["answer"]) + tc(ANSWER_END)
    cut = encode_example(tc, ex, k=4, max_len=192)
    assert cut.meta.get("cut")
    with pytest.raises(ValueError, match="cuts the answers of 100% of comparison"):
        check_cuts([cut], 192)
    assert check_cuts([e], SFTConfig().max_len) == {"comparison": 0.0}


def test_hf_and_llama_cpp_tokenize_segments_alike(tc):
    """Training tokenizes with HF, the app with llama.cpp: they must give the same ids."""
    sess = LlamaSession(base_gguf_path(), n_threads=1, n_ctx=256)
    try:
        for ex in (EX, EX2):
            for seg in prompt_segments(ex):
                if isinstance(seg, str):
                    assert sess.tokenize(seg) == tc(seg), seg
            assert sess.tokenize(ex["answer"] + ANSWER_END) == tc(ex["answer"]) + tc(ANSWER_END)
    finally:
        sess.close()


def test_audio_slots_and_labels(tc):
    model = tiny_gemma3(vocab_size=262144, hidden=64)  # real token ids need the full vocabulary
    assert embed_scale(model) == pytest.approx(8.0)  # sqrt(64): HF scales inside get_input_embeddings
    proj = Projector(ProjectorConfig(d_in=6, hidden=8, k=4, n_embd=64)).eval()
    feats = {"rec-a": np.arange(6, dtype=np.float32), "rec-b": -np.ones(6, np.float32)}
    items = [encode_example(tc, EX, 4), encode_example(tc, EX2, 4)]
    b = collate(items, feats, 6)
    with torch.no_grad():
        emb = build_embeds(model.get_input_embeddings(), proj, b, 4)
        pa, pb = proj(torch.as_tensor(np.stack([feats["rec-a"], feats["rec-b"]])))
        text = model.get_input_embeddings()(b.ids.clamp(min=0))
    # row 1 (comparison): slot 0 gets rec-a's prefix rows, slot 1 rec-b's, text positions the tokens
    pos_a = (b.slot[1] == 0).nonzero().flatten()
    pos_b = (b.slot[1] == 1).nonzero().flatten()
    assert torch.allclose(emb[1, pos_a], pa) and torch.allclose(emb[1, pos_b], pb)
    txt = (b.slot[1] < 0) & (b.attn[1] > 0)
    assert torch.equal(emb[1, txt], text[1, txt])
    # projector rows have the norm of scaled token rows (~26 for n_embd 640; here its own target)
    assert pa.norm(dim=-1).mean().item() == pytest.approx(proj.cfg.target_norm, rel=0.2)
    # labels: answer + end token only, padding ignored
    n0 = len(items[0].ids)
    lab = b.labels[0]
    assert (lab[:items[0].n_prompt] == IGNORE).all() and (lab[n0:] == IGNORE).all()
    assert lab[items[0].n_prompt:n0].tolist() == items[0].ids[items[0].n_prompt:]


def _tiny_examples():
    rng = np.random.default_rng(0)
    feats, exs = {}, []
    for i in range(8):
        feats[f"r{i}"] = rng.standard_normal(6).astype(np.float32)
        ids = [2, 20, 21] + [-1] * 4 + [30, 31] + [40 + i, 50 + i % 3, 106]
        slot = [-1] * 3 + [0] * 4 + [-1] * 5
        kpos = [-1] * 3 + [0, 1, 2, 3] + [-1] * 5
        exs.append(Encoded(f"e{i}", ids, slot, kpos, 9, [f"r{i}"]))
    return exs, feats


class Interrupted(Exception):
    pass


def _train(steps, ckpt, stop_at=None, extend_minutes=0.0, **budget):
    exs, feats = _tiny_examples()
    torch.manual_seed(0)
    pm = add_lora(tiny_gemma3(seed=5, vocab_size=256, hidden=64), SFTConfig())
    proj = Projector(ProjectorConfig(d_in=6, hidden=16, k=4, n_embd=64))
    cfg = SFTConfig(steps=steps, batch_size=4, warmup=2, ckpt_every=4, log_every=100, dtype="fp32",
                    lr_lora=5e-3, lr_projector=5e-3, extend_minutes=extend_minutes, **budget)

    def on_step(done, loss):
        if done == stop_at:
            raise Interrupted

    stats = train_sft(pm, proj, exs, feats, 6, cfg, ckpt, log=lambda *_: None, on_step=on_step)
    return pm, proj, stats


def test_training_learns_and_resumes_exactly(tmp_path):
    pm, proj, stats = _train(30, tmp_path / "a.pt")
    assert stats["loss_last"] < stats["loss_first"] - 0.5  # means over the first / last 10 steps
    # killed at step 10 (last checkpoint: step 8), then rerun: resumes at 8 and ends where the
    # uninterrupted run ended
    with pytest.raises(Interrupted):
        _train(30, tmp_path / "b.pt", stop_at=10)
    assert torch.load(tmp_path / "b.pt", weights_only=False)["step"] == 8
    pm2, proj2, _ = _train(30, tmp_path / "b.pt")
    s1, s2 = lora_state(pm), lora_state(pm2)
    assert all(torch.allclose(s1[k], s2[k], atol=1e-6) for k in s1)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(proj.parameters(), proj2.parameters()))


def test_a_finished_run_trains_on_only_when_extended(tmp_path):
    ck = tmp_path / "e.pt"
    pm, _, stats = _train(12, ck)
    before = lora_state(pm)
    pm_again, _, again = _train(12, ck)  # a plain rerun of a finished run trains nothing more
    assert again["steps"] == 12 and torch.load(ck, weights_only=False)["step"] == 12
    assert all(torch.allclose(before[k], v) for k, v in lora_state(pm_again).items())
    pm_ext, _, ext = _train(12, ck, extend_minutes=60.0)  # --extend-sft: another 12 steps
    assert ext["steps"] == 24 and torch.load(ck, weights_only=False)["step"] == 24
    assert ext["loss_last"] < stats["loss_last"]
    assert any(not torch.allclose(before[k], v) for k, v in lora_state(pm_ext).items())


def test_an_interrupted_extension_resumes_to_its_own_plan(tmp_path):
    # 2026-12-01: an --extend-sft run stopped at 1200/1631 resumed under the profile's 26-min
    # budget, which the time already spent exceeded, and was cut to 1210 at once
    ck = tmp_path / "x.pt"
    _train(12, ck)
    tight = {"max_minutes": 1e-6, "calib_steps": 2}
    with pytest.raises(Interrupted):
        _train(12, ck, stop_at=18, extend_minutes=60.0, **tight)
    assert torch.load(ck, weights_only=False)["total"] == 24
    _, _, done = _train(12, ck, **tight)  # a plain resume, profile budget long spent
    assert done["steps"] == 24 and torch.load(ck, weights_only=False)["step"] == 24


def test_time_budget_cuts_the_plan(tmp_path):
    exs, feats = _tiny_examples()
    pm = add_lora(tiny_gemma3(seed=5, vocab_size=256, hidden=64), SFTConfig())
    proj = Projector(ProjectorConfig(d_in=6, hidden=16, k=4, n_embd=64))
    cfg = SFTConfig(steps=30, batch_size=2, warmup=1, dtype="fp32", max_minutes=1e-6, calib_steps=3, ckpt_every=100)
    stats = train_sft(pm, proj, exs, feats, 6, cfg, tmp_path / "c.pt", log=lambda *_: None)
    assert stats["steps"] == 3 and stats["steps_planned"] == 30
    assert torch.load(tmp_path / "c.pt", weights_only=False)["step"] == 3  # the last step is checkpointed


def test_the_budget_holds_when_steps_slow_down_after_the_plan(tmp_path):
    # 2026-12-01: the plan was made at 3.6 s/step, then two other jobs took the cores (9.6 s/step)
    # and a 60-min extension ran on towards 110 min: the budget must be a wall-clock limit
    import time as _time

    exs, feats = _tiny_examples()
    pm = add_lora(tiny_gemma3(seed=5, vocab_size=256, hidden=64), SFTConfig())
    proj = Projector(ProjectorConfig(d_in=6, hidden=16, k=4, n_embd=64))
    cfg = SFTConfig(steps=30, batch_size=2, warmup=1, dtype="fp32", max_minutes=3.0 / 60, calib_steps=3,
                    ckpt_every=100, log_every=100)

    def slow_down(done, loss):
        if done == 6:
            _time.sleep(3.5)  # the budget (3 s) runs out during step 7

    stats = train_sft(pm, proj, exs, feats, 6, cfg, tmp_path / "s.pt", log=lambda *_: None, on_step=slow_down)
    assert stats["steps"] == 7
    ck = torch.load(tmp_path / "s.pt", weights_only=False)
    assert ck["step"] == 7 and ck["total"] == 7  # stopped checkpointed, so a resume trains nothing more
