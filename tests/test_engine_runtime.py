"""Engine end to end with real llama.cpp inference on the real base GGUF and real recordings.

Uses the installed default bundle when there is one (``models/``), else a random-weights dev
bundle (``test_engine_fixture.make_dev_bundle``); the mechanisms checked here hold for both.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from stethodesk import DISCLAIMER
from stethodesk.audio.fileio import read_audio
from stethodesk.model.bundle import load_bundle
from stethodesk.model.analysis import UnusableRecording
from stethodesk.model.engine import Engine
from stethodesk.model.tasks import TASKS
from stethodesk.paths import shared_data_dir
from greedy import assert_same_greedy, greedy_trace
from test_engine_fixture import runtime_bundle_dir

pytestmark = pytest.mark.llm

HEART_MURMUR = "circor2022/training_data/13918_MV.flac"  # CirCor: murmur present, 28.8 s, 4 kHz
HEART_OTHER = "physionet2016/audio/a0007.flac"  # PhysioNet 2016 training-a: normal, 35.7 s, 2 kHz
LUNG_NORMAL = "sprsound2022/train_flac/40138127_14.7_0_p3_139.flac"  # SPRSound: normal, 9.2 s, 8 kHz
LUNG_DAS = "sprsound2022/train_flac/40638274_9.7_1_p1_1789.flac"  # SPRSound: DAS (crackles), 9.2 s
CANCEL_LIMIT_S = 0.200


def _rec(rel: str, seconds: float | None = None) -> tuple[np.ndarray, int]:
    x, sr = read_audio(shared_data_dir() / rel)
    if seconds is not None:
        x = x[: int(seconds * sr)]
    return x, sr


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    folder, kind = runtime_bundle_dir(tmp_path_factory.mktemp("bundle"))
    print(f"runtime tests on the {kind} bundle {folder}")
    eng = Engine(load_bundle(folder), n_threads=1).load()
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def heart(engine):
    x, sr = _rec(HEART_MURMUR, 10.0)
    return engine.analyze_audio(x, sr, domain="heart", site="MV")


@pytest.fixture(scope="module")
def lung(engine):
    x, sr = _rec(LUNG_DAS)
    return engine.analyze_audio(x, sr, domain="lung", site="left posterior")


def test_analysis_of_a_real_recording(engine, heart):
    assert heart.usable and heart.unusable_reason is None
    assert heart.domain == "heart" and heart.site == "MV"
    assert 9.9 < heart.duration_s < 10.1 and heart.n_windows >= 2  # 10 s = two 7 s windows
    assert heart.prefix.shape == (engine.bundle.prefix_tokens, engine.bundle.n_embd)
    # Prefix rows live in Gemma's scaled embedding space (norm ~26, guide section 1).
    norms = np.linalg.norm(heart.prefix, axis=1)
    assert np.all((norms > 5) & (norms < 100)), norms
    assert {"abnormal", "murmur", "poor_quality"} <= set(heart.findings)
    assert "crackle" not in heart.findings  # lung heads are not reported for a heart sound
    assert all(0.0 <= p <= 1.0 for p in heart.findings.values())
    assert heart.heart_rate_bpm is None or 40 <= heart.heart_rate_bpm <= 200
    assert heart.quality.level in ("good", "fair", "poor") and heart.encode_ms > 0
    assert heart.model_name == engine.name and heart.disclaimer == DISCLAIMER


def test_every_task_answers_on_real_recordings(engine, heart, lung):
    x, sr = _rec(HEART_OTHER, 10.0)
    other = engine.analyze_audio(x, sr, domain="heart", site="AV")
    for task in TASKS:
        for a in (heart, lung):
            if task == "comparison" and a is lung:
                continue
            ans = engine.ask(a, task, other=other if task == "comparison" else None, max_tokens=12)
            text = ans.read()
            assert ans.done and ans.task == task
            assert ans.tokens > 0 and text.strip(), (task, a.domain, ans.stop_reason)
            assert ans.model_name == engine.name and ans.model_version == engine.version
            assert ans.disclaimer == DISCLAIMER
            assert a.domain in ans.instruction or task == "comparison"
    q = engine.ask(lung, "question", question="Are there crackles or wheezes?", max_tokens=8)
    assert q.read().strip() and q.instruction == "Are there crackles or wheezes?"


def test_pieces_arrive_in_order_and_follow_ups_reuse_the_audio_cache(engine, heart):
    # the raw token stream (grounded=False): the grounded path yields checked sentences instead
    ans = engine.ask(heart, "report", max_tokens=40, grounded=False)
    pieces = list(ans)
    assert len(pieces) >= 2 and "".join(pieces) == ans.text
    assert ans.first_token_ms is not None and ans.first_token_ms <= ans.total_ms
    # A follow-up on the same analysis keeps BOS + intro + audio prefix in the KV cache ...
    follow = engine.ask(heart, "report", question="Is the murmur systolic?", max_tokens=20, grounded=False)
    follow.read()
    prefix_positions = 1 + engine.bundle.prefix_tokens  # at least BOS and the audio rows
    assert follow.reused_positions > prefix_positions
    # ... and answers as a cold cache does, within llama.cpp's batch-size-dependent rounding
    # (tests/greedy.py: same distributions up to the first different token, which may differ
    # only at a near-tie). Compared step by step on the model's own logits, not on the texts.
    session = engine._session
    items, _, _ = engine._prompt(heart, "report", "Is the murmur systolic?", None, 0)
    session.reset()
    engine.ask(heart, "report", max_tokens=40, grounded=False).read()  # the warm state `follow` had
    warm = greedy_trace(session, items, 20, engine._stop_tokens)
    assert warm.reused_positions == follow.reused_positions
    session.reset()
    cold = greedy_trace(session, items, 20, engine._stop_tokens)
    assert cold.reused_positions == 0
    figures = assert_same_greedy(warm, cold)
    print(f"warm vs cold follow-up: {figures}; warm {warm.text!r}, cold {cold.text!r}")
    # The cache exactly: a replay that decodes the same batches from an empty cache (the first
    # prompt, then only the follow-up's new tail) gives bit-identical logits at every step, so
    # nothing of the first answer survives the truncation and every position is right.
    session.reset()
    session.prefill(engine._prompt(heart, "report", None, None, 0)[0])
    replay = greedy_trace(session, items, 20, engine._stop_tokens)
    assert replay.reused_positions == warm.reused_positions
    assert replay.tokens == warm.tokens
    assert all(np.array_equal(x, y) for x, y in zip(replay.logits, warm.logits))
    # The first question asked again (warm cache) agrees with its first answer the same way.
    session.reset()
    first = greedy_trace(session, engine._prompt(heart, "report", None, None, 0)[0], 40, engine._stop_tokens)
    assert first.text == ans.text  # from an empty cache, as the first ask() was: bit-identical
    again = greedy_trace(session, engine._prompt(heart, "report", None, None, 0)[0], 40, engine._stop_tokens)
    assert again.reused_positions > prefix_positions
    assert_same_greedy(again, first)


def test_a_wrong_cache_would_be_caught(engine, heart):
    """The tolerance of tests/greedy.py still catches a real cache bug: recording A's audio
    rows reused for recording B (simulated by relabelling the cache) moves the distributions
    far beyond rounding."""
    session = engine._session
    x, sr = _rec(HEART_OTHER, 10.0)
    other = engine.analyze_audio(x, sr, domain="heart", site="MV")
    items_b, _, _ = engine._prompt(other, "report", "Is the murmur systolic?", None, 0)
    session.reset()
    cold_b = greedy_trace(session, items_b, 8, engine._stop_tokens)
    session.reset()
    engine.ask(heart, "report", max_tokens=8).read()
    seq_b = session._expand(items_b)
    for i, (key, _) in enumerate(seq_b[: len(session._cached)]):
        if isinstance(key, tuple):  # pretend A's audio rows are B's
            session._cached[i] = key
    wrong = greedy_trace(session, items_b, 8, engine._stop_tokens)
    session.reset()
    assert wrong.reused_positions > 1 + engine.bundle.prefix_tokens
    with pytest.raises(AssertionError, match="beyond rounding|clear choice"):
        assert_same_greedy(wrong, cold_b)


def test_cancel_stops_within_200_ms(engine, lung):
    ans = engine.ask(lung, "reasoning", max_tokens=400, temperature=1.0, grounded=False)
    got = []
    ended = threading.Event()
    started = threading.Event()

    def consume():
        for piece in ans:
            got.append(piece)
            if len(got) >= 3:
                started.set()
        started.set()
        ended.set()

    t = threading.Thread(target=consume)
    t.start()
    assert started.wait(30)
    assert not ended.is_set(), "the answer ended before it could be cancelled"
    t0 = time.perf_counter()
    engine.cancel()
    assert ended.wait(5)
    elapsed = time.perf_counter() - t0
    t.join(5)
    assert ans.cancelled and ans.stop_reason == "cancelled"
    assert elapsed <= CANCEL_LIMIT_S, f"cancel took {elapsed * 1000:.0f} ms"
    # The engine answers normally afterwards (the cancel flag is cleared per question).
    assert engine.ask(lung, "binary", max_tokens=4).read()


def test_cancel_before_the_first_token(engine, heart):
    ans = engine.ask(heart, "report", max_tokens=50)
    engine.cancel()
    assert ans.read() == "" and ans.cancelled


def test_different_audio_gives_different_logits(engine, heart):
    x, sr = _rec(HEART_OTHER, 10.0)
    other = engine.analyze_audio(x, sr, domain="heart", site="MV")
    la = engine.first_token_logits(heart, "binary")
    lb = engine.first_token_logits(other, "binary")
    la2 = engine.first_token_logits(heart, "binary")
    assert la.shape == lb.shape and la.ndim == 1
    np.testing.assert_allclose(la, la2, atol=1e-4)  # same audio: same logits
    diff = float(np.max(np.abs(la - lb)))
    assert diff > 1e-2, f"the audio prefix does not reach the model (max |diff| {diff})"
    # Comparison: both prefixes are in the prompt, so swapping B changes the logits too.
    x2, sr2 = _rec(LUNG_NORMAL)
    third = engine.analyze_audio(x2, sr2, domain="heart", site="MV")
    c1 = engine.first_token_logits(heart, "comparison", other=other)
    c2 = engine.first_token_logits(heart, "comparison", other=third)
    assert float(np.max(np.abs(c1 - c2))) > 1e-2


def test_unusable_input_is_refused_with_a_reason(engine, heart):
    sr = 4000
    short = engine.analyze_audio(_rec(HEART_MURMUR)[0][: int(1.5 * 4000)], 4000, domain="heart")
    assert not short.usable and "1.5 s" in short.unusable_reason and short.prefix is None
    with pytest.raises(UnusableRecording, match="at least 3 s"):
        engine.ask(short, "report")
    flat = engine.analyze_audio(np.zeros(5 * sr, np.float32), sr, domain="heart")
    assert not flat.usable and "flat" in flat.unusable_reason.lower()
    t = np.arange(6 * sr) / sr
    clipped = np.clip(5 * np.sin(2 * np.pi * 60 * t), -1, 1).astype(np.float32)
    cl = engine.analyze_audio(clipped, sr, domain="heart")
    assert not cl.usable and "clipped" in cl.unusable_reason
    with pytest.raises(UnusableRecording, match="second recording"):
        engine.ask(heart, "comparison", other=flat)


def test_long_recording_is_windowed_and_domain_detected(engine):
    x, sr = _rec(HEART_MURMUR)  # 28.8 s: windowed, not truncated
    a = engine.analyze_audio(x, sr)  # domain="auto"
    assert a.n_windows >= 7 and a.duration_s > 28
    assert a.domain in ("heart", "lung") and a.domain_source == "detected"
    assert "is_lung" in a.findings


def test_location_task_without_site_uses_a_predicted_site(engine):
    x, sr = _rec(HEART_MURMUR, 8.0)
    a = engine.analyze_audio(x, sr, domain="heart")
    ans = engine.ask(a, "location", max_tokens=4)
    ans.read()
    assert ans.site in ("aortic area", "pulmonic area", "tricuspid area", "mitral area")
    assert ans.site in ans.instruction


def test_weights_that_do_not_fit_are_a_bundle_error(tmp_path):
    """A bundle whose manifest settings do not match its weights: BundleError with the fix."""
    import json
    import hashlib

    from stethodesk.model.bundle import BundleError, write_manifest
    from test_engine_fixture import make_dev_bundle

    d = make_dev_bundle(tmp_path / "b")
    m = json.loads((d / "bundle.json").read_text())
    m["projector"]["hidden"] = 128  # the file holds hidden=256 weights
    write_manifest(d, m)  # a sealed manifest whose settings do not fit its weights
    with pytest.raises(BundleError) as err:
        Engine(load_bundle(d), n_threads=1).load()
    assert "projector.safetensors" in str(err.value) and "training.build" in str(err.value)
    # A LoRA GGUF that llama.cpp refuses (not an adapter): named, with the fix.
    m["projector"]["hidden"] = 256
    (d / "lora.gguf").write_bytes(b"GGUF" + b"\0" * 64)
    m["files"]["lora"]["sha256"] = hashlib.sha256((d / "lora.gguf").read_bytes()).hexdigest()
    write_manifest(d, m)
    with pytest.raises(BundleError, match=r"lora\.gguf.*training\.build"):
        Engine(load_bundle(d), n_threads=1).load()


def test_a_given_domain_the_detector_rejects_is_warned_and_unusable_audio_has_no_findings(engine, lung):
    x, sr = _rec(LUNG_DAS)
    as_heart = engine.analyze_audio(x, sr, domain="heart", site="MV")
    assert as_heart.domain == "heart"  # the user's choice is kept ...
    assert as_heart.domain_warning and "lung recording" in as_heart.domain_warning  # ... and questioned
    assert lung.domain_warning is None and as_heart.to_dict()["domain_warning"] == as_heart.domain_warning
    silent = engine.analyze_audio(np.zeros(5 * sr, np.float32), sr, domain="heart")
    assert not silent.usable and silent.findings == {} and silent.heart_rate_bpm is None


@pytest.mark.parametrize("text", ["Please describe the sound. " + "really " * 1200, "心脏杂音吗" * 600,
                                  "Describe it. " + "xqzvbnk" * 3000])
@pytest.mark.parametrize("field", ["question", "context"])
def test_an_over_long_question_is_cut_by_tokens_with_a_note_not_refused(engine, heart, text, field):
    """Over-long typed text of any script is cut by the model's own tokens (3,000 CJK characters
    or one 21,000-letter word are few words, thousands of tokens): the prompt and the answer fit
    the context, a note says what was read, and the answer comes (issue 11 item 5, F11)."""
    from stethodesk.model.tasks import prompt_items
    from stethodesk.model.user_text import fit_user_text

    kw = {"question": text} if field == "question" else {"question": "Is there a murmur?", "context": text}
    session = engine._session
    (items, _, _), q, c, notes = fit_user_text(
        session, lambda q, c: prompt_items(engine._tasks, engine.bundle.prompt_template, heart, "question", q,
                                           None, 0, c), kw["question"], kw.get("context"), 256)
    assert session.positions(items) + 256 <= session.n_ctx
    kept = q if field == "question" else c
    assert kept and text.startswith(kept[:10]) and len(kept) < len(text)
    ans = engine.ask(heart, "question", max_tokens=12, grounded=False, **kw)
    assert ans.read().strip() and len(ans.notes) == 1, ans.notes
    name = "question" if field == "question" else "patient context"
    assert ans.notes[0].startswith(f"The {name} was too long") and "characters were read" in ans.notes[0]
    assert ans.to_dict()["notes"] == ans.notes and engine._session.stats.stop_reason != "context"


def test_a_stopped_grounded_answer_is_not_completed_from_the_card(engine, lung):
    ans = engine.ask(lung, "report", max_tokens=200)
    first = next(ans, None)  # the first checked sentence (or the whole card answer)
    engine.cancel()
    rest = "".join(ans)
    assert ans.cancelled or ans.grounding.source in ("template", "facts") or first is None
    if ans.cancelled:
        assert "From the findings" not in rest  # a stopped answer gets nothing appended
