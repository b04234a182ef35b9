"""The checker in the app (stethodesk.model.checker): fixes made while moving it out of training/,
the training re-export and its command line, and the import rules of the grounding modules."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import training.checker as training_checker
from stethodesk.model import checker
from stethodesk.model.checker import (
    check,
    lesion_mentions,
    parse_comparison_summary,
    parse_fact,
)

ROOT = Path(__file__).resolve().parent.parent
GROUNDING_MODULES = ("checker", "claims", "comparison_answers", "fact_answers", "facts", "grounding", "templates",
                     "vocabulary")


def test_training_reexports_the_app_checker():
    for name in ("check", "parse_fact", "split_ab", "CheckResult", "CONCEPTS", "parse_comparison_summary"):
        assert getattr(training_checker, name) is getattr(checker, name)


def test_training_checker_command_line(tmp_path):
    ex = {"task": "binary", "answer": "Abnormal. A systolic murmur is heard.",
          "facts": {"abnormal": True, "murmur": "present"}, "rejected": ["Normal. No murmur is heard."]}
    (tmp_path / "test.jsonl").write_text(json.dumps(ex) + "\n")
    out = subprocess.run([sys.executable, "-m", "training.checker", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "binary" in out.stdout and "1/1" in out.stdout and "100.00%" in out.stdout


def test_comparison_summary_is_checked_against_each_recording():
    text = ("Recording A (mitral area): abnormal; a holosystolic murmur. Recording B (aortic area): "
            "normal; no murmur. Overall, both are abnormal.")
    res = check(text, {"a.abnormal": True, "b.abnormal": False})
    assert not res.correct and res.parsed["b.abnormal"] == "conflict"
    assert check(text.replace("both are abnormal", "only A is abnormal"),
                 {"a.abnormal": True, "b.abnormal": False}).correct
    assert parse_comparison_summary("Neither is abnormal. Recording A: normal. Recording B: normal.") == \
        {"a.abnormal": False, "b.abnormal": False}
    # "only a recording" is not recording A
    assert parse_comparison_summary("Recording A: x. Recording B: y. Overall, only a recording is abnormal.") == {}


def test_normal_qualifying_one_feature_is_not_a_verdict():
    assert parse_fact("abnormal", "Abnormal: a systolic murmur; normal S1 and S2.") is True
    assert parse_fact("abnormal", "Abnormal: a murmur with a normal rhythm.") is True
    # ... but it still is when it is the only verdict word (training answers say so)
    assert parse_fact("abnormal", "Heart sounds without murmurs, normal rhythm.") is False


def test_lesion_negation_stays_in_its_phrase():
    assert parse_fact("lesion", "No murmur, consistent with aortic stenosis.") == "AS"
    assert parse_fact("lesion", "Not aortic stenosis; more likely mitral regurgitation.") == "MR"
    assert parse_fact("lesion", "A diastolic murmur at the aortic area: aortic regurgitation.") == "AR"
    # positions are true offsets even when a clause's text repeats earlier
    text = "Murmur heard. MR. Differential: 1. MS; 2. MR."
    assert [c for _, c in lesion_mentions(text)] == ["MR", "MS", "MR"]


@pytest.mark.parametrize("module", GROUNDING_MODULES)
def test_grounding_modules_import_neither_qt_nor_training(module):
    tree = ast.parse((ROOT / "stethodesk" / "model" / f"{module}.py").read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not names & {"training", "PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6", "torch"}, names


def test_grounding_modules_stay_small():
    for module in GROUNDING_MODULES:
        n = len((ROOT / "stethodesk" / "model" / f"{module}.py").read_text().splitlines())
        assert n <= 420, f"{module}.py has {n} lines; split it"
