"""Teaching library (synth presets + imported real recordings) and the quiz with score history."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from stethodesk import paths
from stethodesk.audio.synth import SOUNDS
from stethodesk.store import Store, StoreError
from stethodesk.teaching import Quiz, import_sound, load_sound, reference_library


def _yaseen(label: str):
    root = paths.shared_data_dir() / "yaseen2018"
    with open(root / "labels.csv") as f:
        for row in csv.DictReader(f):
            if row["label"] == label:
                return root / row["file"]
    raise AssertionError(f"no Yaseen recording labelled {label}")


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "home")
    yield s
    s.close()


def test_library_holds_synth_presets_and_imports(store, tmp_path):
    lib = reference_library(store)
    assert {s.key for s in lib} == {f"synth:{k}" for k in SOUNDS}
    src = _yaseen("AS")
    snd = import_sound(store, src, "Aortic stenosis (real patient)", "heart", {"lesion": "AS"}, "Yaseen 2018 clip")
    lib = reference_library(store, domain="heart")
    assert snd in lib and all(s.domain == "heart" for s in lib)
    x, sr = load_sound(snd, store)
    assert sr == 8000 and x.size > sr  # a real multi-second clip
    y, sry = load_sound(lib[0], store)
    assert sry == 4000 and np.abs(y).max() > 0.1
    with pytest.raises(StoreError, match="needs a title"):
        import_sound(store, src, "  ", "heart")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(StoreError, match="Cannot import the teaching sound"):
        import_sound(store, bad, "Bad", "heart")


def test_quiz_flow_and_score_history_per_student(store):
    lib = reference_library(store)
    quiz = Quiz(lib, n_questions=4, seed=3, store=store, student="ana")
    assert len(quiz.questions) == 4
    for q in quiz.questions:
        assert q.truth in q.choices and len(set(q.choices)) == 4
        assert all(c in {s.title for s in lib if s.domain == q.sound.domain} for c in q.choices)
    answers = []
    while not quiz.finished:
        q = quiz.current
        wrong = next(c for c in q.choices if c != q.truth)
        choice = q.truth if quiz.index % 2 == 0 else wrong
        res = quiz.answer(choice, model_answer="model says X")
        assert res.correct == (choice == q.truth) and res.truth == q.truth and res.description
        answers.append(choice)
    assert quiz.score == (2, 4)
    with pytest.raises(ValueError, match="finished"):
        quiz.answer(answers[0])
    # a second run for ana and one for bo
    q2 = Quiz(lib, n_questions=2, seed=4, store=store, student="ana")
    q2.answer(q2.current.truth)
    q3 = Quiz(lib, n_questions=1, seed=5, store=store, student="bo")
    q3.answer(next(c for c in q3.current.choices if c != q3.current.truth))
    store.close()
    s = Store(store.root)
    hist = s.quiz_history("ana")
    assert [(h["answered"], h["correct"]) for h in hist] == [(4, 2), (1, 1)]
    assert s.quiz_history("bo")[0]["correct"] == 0
    assert s.students() == ["ana", "bo"]
    assert s.quiz_attempts("ana")[0].model_answer == "model says X"
    s.close()


def test_quiz_refuses_bad_answers_and_tiny_libraries(store):
    lib = reference_library(store)
    quiz = Quiz(lib, n_questions=1, seed=0)
    with pytest.raises(ValueError, match="not one of"):
        quiz.answer("Something else")
    assert quiz.score == (0, 0)
    with pytest.raises(ValueError, match="at least two different sounds"):
        Quiz([lib[0]])
