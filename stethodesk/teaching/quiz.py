"""Listening quiz: hear a sound, pick its name, see the truth and the model's opinion. No Qt here.

A quiz is a fixed list of questions drawn at random (seeded) from the library;
each question offers the true title and distractors from the same domain.
Answers are saved per student in the store, so the score history survives.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..store import Store
from ..store.summary import finding_label, main_finding, shown_findings
from .library import ReferenceSound

N_CHOICES = 4  # answers offered per question (truth + distractors), fewer if the domain is small
DEFAULT_QUESTIONS = 5
MODEL_TASK = "detection"  # the task whose answer is shown beside the truth
MODEL_MAX_TOKENS = 64


@dataclass(frozen=True)
class Question:
    sound: ReferenceSound
    choices: tuple[str, ...]

    @property
    def truth(self) -> str:
        return self.sound.title


@dataclass(frozen=True)
class QuizResult:
    correct: bool
    answer: str
    truth: str
    description: str  # how to recognise the true sound
    model_answer: str | None  # None when no model was available


class Quiz:
    """A run of questions for one student.

    Parameters
    ----------
    library : list of ReferenceSound (at least 2 of a domain to make a question).
    n_questions : questions in this run (capped at the library size).
    seed : for a reproducible run (tests, a class doing the same quiz).
    store, student : where the answers are saved; no saving when either is None/empty.
    """

    def __init__(self, library: list[ReferenceSound], n_questions: int = DEFAULT_QUESTIONS, *,
                 seed: int | None = None, store: Store | None = None, student: str = "",
                 n_choices: int = N_CHOICES):
        rng = random.Random(seed)
        by_domain: dict[str, list[ReferenceSound]] = {}
        for s in library:
            by_domain.setdefault(s.domain, []).append(s)
        usable = [s for s in library if len({x.title for x in by_domain[s.domain]}) >= 2]
        if not usable:
            raise ValueError("The quiz needs at least two different sounds of the same kind (heart or lung).")
        picked = rng.sample(usable, min(n_questions, len(usable)))
        self.questions: list[Question] = []
        for s in picked:
            others = sorted({x.title for x in by_domain[s.domain]} - {s.title})
            choices = rng.sample(others, min(n_choices - 1, len(others))) + [s.title]
            rng.shuffle(choices)
            self.questions.append(Question(s, tuple(choices)))
        self.index = 0
        self.results: list[QuizResult] = []
        self.store = store
        self.student = student.strip()
        self.session = uuid.uuid4().hex[:12]

    @property
    def current(self) -> Question | None:
        return self.questions[self.index] if self.index < len(self.questions) else None

    @property
    def finished(self) -> bool:
        return self.index >= len(self.questions)

    @property
    def score(self) -> tuple[int, int]:
        """(correct, answered)."""
        return sum(r.correct for r in self.results), len(self.results)

    def answer(self, choice: str, model_answer: str | None = None) -> QuizResult:
        """Answer the current question, save it, and move on."""
        q = self.current
        if q is None:
            raise ValueError("The quiz is finished; start a new one.")
        if choice not in q.choices:
            raise ValueError(f"{choice!r} is not one of this question's answers.")
        result = QuizResult(choice == q.truth, choice, q.truth, q.sound.description, model_answer)
        if self.store is not None and self.student:
            self.store.add_quiz_attempt(self.student, self.session, q.sound.key, choice, q.truth,
                                        result.correct, model_answer)
        self.results.append(result)
        self.index += 1
        return result


def model_opinion(engine, samples: np.ndarray, sr: int, domain: str,
                  cancelled: Callable[[], bool] = lambda: False) -> str:
    """What the model says about a sound: headline finding + its detection answer.

    Runs the real engine (slow: call it from a worker thread). Returns a plain
    sentence also when the recording is unusable.
    """
    analysis = engine.analyze_audio(samples, sr, domain=domain)
    if not analysis.usable:
        return f"The model could not analyse this sound: {analysis.unusable_reason}"
    points = getattr(analysis, "points", None)  # the bundle's operating points (a stand-in engine may have none)
    mf = main_finding(analysis.findings, domain, points)
    head = mf.text
    answer = engine.ask(analysis, MODEL_TASK, max_tokens=MODEL_MAX_TOKENS)
    text = ""
    for piece in answer:
        text += piece
        if cancelled():
            answer.close()
            break
    top = shown_findings(analysis.findings, 3, points)
    extra = ", ".join(f"{finding_label(k)} {v:.0%}" for k, v in top)
    return f"{head}. {text.strip()}" + (f" [{extra}]" if extra else "")
