"""Teaching mode: a library of labelled reference sounds and a listening quiz. No Qt here."""

from .library import ReferenceSound, import_sound, load_sound, reference_library
from .quiz import Question, Quiz, QuizResult, model_opinion

__all__ = ["Question", "Quiz", "QuizResult", "ReferenceSound", "import_sound", "load_sound",
           "model_opinion", "reference_library"]
