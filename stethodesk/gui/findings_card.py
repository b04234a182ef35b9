"""The findings card: calibrated probabilities as bars, heart rate, signal quality, top differential."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QGroupBox, QLabel, QProgressBar, QScrollArea, QVBoxLayout, QWidget

from stethodesk.model.facts import Points, called, uses_points
from stethodesk.model.facts import pct as pct_text
from stethodesk.gui import style
from stethodesk.gui.elided import ElidedLabel
from stethodesk.store import summary as findings_summary

DIFFERENTIAL_PREFIX = "lesion_"
NOT_A_LESION = "lesion_N"
MAX_BARS = 8


def title_of(key: str) -> str:
    """What a clinician reads for a findings key: the one table every view uses (summary.FINDING_LABELS)."""
    return findings_summary.finding_label(key)


def shown_findings(findings: dict[str, float], points: Points = None) -> list[tuple[str, float]]:
    """Findings worth a bar, most probable first (at most :data:`MAX_BARS`).

    The same rules as every other findings list in the app (``stethodesk.store.summary``):
    no site/domain classifiers, no "no lesion", and murmur details only when a murmur is
    called at its operating point in ``points`` (they are conditional: "systolic 100%" beside
    "murmur 30%" would mislead).
    """
    return [(k, float(v)) for k, v in findings_summary.shown_findings(findings, MAX_BARS, points)]


def top_differential(findings: dict[str, float], points: Points = None) -> tuple[str, float] | None:
    """Most probable valve lesion (other than "no lesion") when a murmur is called (at its
    operating point in ``points``), else None: the rule the differential answers follow
    (facts.card_facts), so the card never shows a "top differential" that the answer beside it
    says cannot be ranked. Lung sounds have none (their crackle / wheeze calls are the findings
    themselves)."""
    if not called(findings, "murmur", points):
        return None
    lesions = [(k, v) for k, v in findings.items() if k.startswith(DIFFERENTIAL_PREFIX) and k != NOT_A_LESION]
    if not lesions:
        return None
    k, v = max(lesions, key=lambda kv: kv[1])
    return title_of(k), float(v)


class CardScroll(QScrollArea):
    """Scrolls a findings card on a short screen; asks for the card's whole height at its width
    (a plain QScrollArea asks for little, and the answer below would take the room the card needs)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        hint = super().sizeHint()
        card = self.widget()
        if card is None:
            return hint
        width = max(1, self.viewport().width())
        height = card.heightForWidth(width) if card.hasHeightForWidth() else card.sizeHint().height()
        return QSize(hint.width(), height + 2 * self.frameWidth())


class FindingsCard(QGroupBox):
    def __init__(self, parent: QWidget | None = None):
        super().__init__("Findings", parent)
        lay = QVBoxLayout(self)
        self.source = ElidedLabel("")  # what the card describes: a recording's name or the live input
        self.source.setObjectName("muted")
        self.source.setVisible(False)
        lay.addWidget(self.source)
        self.summary = QLabel("No recording analysed yet.")
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)
        lay.addWidget(self.summary)
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(8)
        self.grid.setVerticalSpacing(3)
        lay.addLayout(self.grid)
        self.bars: dict[str, QProgressBar] = {}
        self.called: dict[str, bool] = {}  # per shown finding: called at its operating point

    def set_source(self, label: str) -> None:
        """Name what the card describes ("" hides the line)."""
        self.source.setText(f"Of: {label}" if label else "")
        self.source.setVisible(bool(label))

    def clear(self, text: str = "No recording analysed yet.") -> None:
        self._clear_grid()
        self.summary.setText(text)

    def _clear_grid(self) -> None:
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.bars = {}
        self.called = {}

    def show_analysis(self, analysis, domain_note: str = "") -> None:
        """Fill the card from an ``AudioAnalysis``; ``domain_note`` says how heart or lung was
        chosen ("detected", "as you chose", ...), shown beside the domain. Every call is made at
        the analysis's operating points (``analysis.points``, as the answers are); a finding whose
        point is not 50% shows it beside its probability ("31% · call ≥22%"), and where points are
        in use the called findings' names are bold (the longest bar need not be a call)."""
        self._clear_grid()
        q = analysis.quality
        points = getattr(analysis, "points", None) or {}
        own = uses_points(points)  # some finding is called at a point other than 50%
        parts = []
        if analysis.heart_rate_bpm:
            parts.append(f"<b>{analysis.heart_rate_bpm:.0f} bpm</b>")
        if q is not None:
            # one quality verdict for every view (summary.quality_verdict): never "signal good"
            # beside "poor quality 54%"
            level, words = findings_summary.quality_verdict(getattr(q, "level", None), analysis.findings, points)
            colour = style.QUALITY_COLOURS.get(level, style.MUTED)
            verdict, _, detail = words.partition(" ")
            parts.append(f"quality <b style='color:{colour}'>{verdict}</b>" + (f" {detail}" if detail else ""))
        parts.append(f"{analysis.domain}{f' ({domain_note})' if domain_note else ''}, {analysis.duration_s:.1f} s")
        diff = top_differential(analysis.findings, points)
        headline = findings_summary.main_finding(analysis.findings, analysis.domain, points).text
        big = 1.1 * self.summary.font().pointSizeF()  # follows the desktop's font size
        text = f"<span style='color:{style.TEXT}; font-size:{big:.1f}pt'><b>{headline}</b></span><br>"
        text += " \u00b7 ".join(parts)
        if diff:
            text += f"<br>Top differential: <b>{diff[0]}</b> ({pct_text(diff[1])})"
        if q is not None and getattr(q, "reason", ""):
            text += f"<br><span style='color:{style.MUTED}'>{q.reason}</span>"
        self.summary.setText(text)
        for row, (key, p) in enumerate(shown_findings(analysis.findings, points)):
            name = QLabel(title_of(key))
            bar = QProgressBar()
            bar.setRange(0, 100)
            bar.setValue(int(round(100 * p)))
            bar.setTextVisible(False)  # the number sits beside the bar, readable at any length
            note = findings_summary.point_note(key, points)
            bar.setToolTip(f"Calibrated probability of {title_of(key).lower()}: {p:.1%}"
                           + (f"; {'called' if called(analysis.findings, key, points) else 'not called'}"
                              f"{note}" if note else ""))
            pct = QLabel(pct_text(p) + (f" \u00b7 call \u2265{pct_text(findings_summary.call_point(key, points))}"
                                        if note else ""))
            if own and called(analysis.findings, key, points):  # a call is not the longest bar: say which are
                name.setText(f"<b>{title_of(key)}</b>")
            pct.setMinimumWidth(max(34, pct.sizeHint().width()))  # the bar gives way, never the number
            pct.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.grid.addWidget(name, row, 0)
            self.grid.addWidget(bar, row, 1)
            self.grid.addWidget(pct, row, 2)
            self.bars[key] = bar
            self.called[key] = called(analysis.findings, key, points)
