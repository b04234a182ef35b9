"""``stethodesk analyze --exam FILE:SITE ...``: one jsonl object for a real CirCor exam, in a real
subprocess with the real bundle and llama.cpp."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from stethodesk.paths import REPO_ROOT, shared_data_dir

pytestmark = pytest.mark.llm

PATIENT = "85198"  # CirCor test split: murmur Present, most audible at AV (the patient's label)
CONTRACT_KEYS = {"file", "task", "domain", "site", "answer", "findings", "heart_rate_bpm",
                 "signal_quality", "timing", "model", "disclaimer"}
EXAM_KEYS = {"exam_findings", "exam_text", "sites", "unusable", "answer_source", "grounding"}


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "stethodesk", "analyze", *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)


def _site(code: str) -> str:
    return f"{shared_data_dir() / 'circor2022' / 'training_data' / f'{PATIENT}_{code}.flac'}:{code}"


def test_exam_jsonl_one_object_with_an_unusable_site(tmp_path):
    flat = tmp_path / "flat.wav"
    sf.write(flat, np.zeros(4000 * 10, dtype=np.float32), 4000)
    missing = tmp_path / "gone.flac"
    items = [_site("AV"), _site("MV"), _site("TV"), f"{flat}:PV", f"{missing}:Erb"]
    p = _run(["--exam", *items, "--task", "differential", "--format", "jsonl", "--max-tokens", "48"])
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 1  # ONE object for the exam, nothing else on stdout
    o = json.loads(lines[0])
    assert CONTRACT_KEYS | EXAM_KEYS <= set(o), (CONTRACT_KEYS | EXAM_KEYS) - set(o)
    assert o["task"] == "differential" and o["domain"] == "heart"
    assert o["site"] == "AV"  # the most audible site, named in the answer
    assert "most audible at the aortic area" in o["answer"]
    assert o["answer"].startswith("Decision support")
    assert o["answer_source"] in ("exam template", "model (checked against the exam findings)")
    if o["answer_source"] == "exam template":  # the model's text was withheld: the reasons are kept
        assert o["grounding"]["violations"] and o["grounding"]["model_answer"]
    else:
        assert o["grounding"]["violations"] == []
    assert [s["site"] for s in o["sites"]] == ["AV", "MV", "TV", "PV", "Erb"]
    assert [s["usable"] for s in o["sites"]] == [True, True, True, False, False]
    left = {u["site"]: u["reason"] for u in o["unusable"]}
    assert set(left) == {"PV", "Erb"} and "gone.flac" in left["Erb"] and left["PV"]
    ef = o["exam_findings"]
    assert ef["murmur_call"] == "present" and ef["most_audible_site"] == "AV"
    assert set(ef["murmur_sites"]) <= {"AV", "MV", "TV"}
    assert 0 <= o["findings"]["murmur"] <= 1 and o["findings"]["murmur"] == round(ef["murmur"], 4)
    t = o["timing"]
    assert t["encode_ms"] > 0 and t["total_ms"] is not None
    assert o["model"]["name"] and o["heart_rate_bpm"] and o["signal_quality"]["level"]


def test_exam_template_only_and_bad_arguments():
    items = [_site("AV"), _site("MV")]
    p = _run(["--exam", *items, "--task", "report", "--format", "jsonl", "--no-model"])
    assert p.returncode == 0, p.stderr
    o = json.loads(p.stdout)
    assert o["answer_source"] == "exam template" and o["grounding"]["model_answer"] is None
    assert "Murmur: present" in o["answer"] and o["timing"]["tokens"] == 0
    bad = _run(["--exam", str(shared_data_dir() / "circor2022" / "training_data" / f"{PATIENT}_AV.flac")])
    assert bad.returncode == 2 and "FILE:SITE" in bad.stderr and bad.stdout == ""
    cmp_ = _run(["--exam", *items, "--task", "comparison"])
    assert cmp_.returncode == 2 and "not an exam task" in cmp_.stderr


def test_exam_names_a_file_with_damaged_frames(tmp_path):
    """Issue 11 item 1: an exam site given as an MP3 with bytes overwritten in its middle is
    analysed without them, and the reader's note is in ``file_notes`` (jsonl) and a ``Note:``
    line (text)."""
    from scipy.signal import resample_poly

    from audio_files import encode, overwrite
    from stethodesk.audio.fileio import read_audio

    x, sr = sf.read(str(shared_data_dir() / "circor2022" / "training_data" / f"{PATIENT}_AV.flac"), dtype="float32")
    hit = tmp_path / "av.mp3"
    encode(hit, resample_poly(x, 8000, sr)[:, None], 8000, "libmp3lame", "mp3")  # MP3 needs 8 kHz or more
    overwrite(hit)
    notes = []
    read_audio(hit, notes=notes)
    assert len(notes) == 1 and notes[0].startswith("av.mp3: ") and "left out" in notes[0]
    items = [f"{hit}:AV", _site("MV")]
    p = _run(["--exam", *items, "--task", "report", "--format", "jsonl", "--no-model"])
    assert p.returncode == 0, p.stderr
    o = json.loads(p.stdout)
    assert o["file_notes"] == notes and [s["usable"] for s in o["sites"]] == [True, True]
    p = _run(["--exam", *items, "--task", "report", "--format", "text", "--no-model"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"Note: {notes[0]}\n")
