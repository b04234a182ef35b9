"""The findings card gives one quality verdict (issue 9/12: never "signal good" beside a called
"Poor recording quality"), rendered offscreen."""

from __future__ import annotations

from types import SimpleNamespace

from gui_fixtures import isolated_home, no_qt_bug_warnings  # noqa: F401 - autouse fixtures
from stethodesk.audio.dsp import Quality
from stethodesk.gui.findings_card import FindingsCard


def _analysis(p_poor: float, level: str):
    return SimpleNamespace(findings={"abnormal": 0.8, "murmur": 0.3, "poor_quality": p_poor},
                           quality=Quality(level, 0.9, [], "Clear signal."), heart_rate_bpm=72.0,
                           domain="heart", duration_s=10.0, site="MV")


def test_one_quality_verdict_when_meter_and_model_disagree(qtbot):
    card = FindingsCard()
    qtbot.addWidget(card)
    card.show_analysis(_analysis(0.54, "good"))
    text = card.summary.text()
    assert "quality <b" in text and ">poor</b>" in text and "model 54%" in text and "signal meter good" in text
    card.show_analysis(_analysis(0.2, "good"))
    text = card.summary.text()
    assert ">good</b>" in text and "poor" not in text.split("<br>")[1]


def test_top_differential_only_when_a_murmur_is_called(qtbot):
    from stethodesk.gui.findings_card import top_differential

    assert top_differential({"abnormal": 0.8, "murmur": 0.48, "lesion_MVP": 0.72, "lesion_N": 0.1}) is None
    assert top_differential({"murmur": 0.9, "lesion_AS": 0.77, "lesion_MR": 0.1})[1] == 0.77
    assert top_differential({"crackle": 0.03, "wheeze": 0.02}) is None  # no "top differential 3%" for lungs
