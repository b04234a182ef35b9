"""What the analysis panel analyses: the last N seconds of live input or the selected recording,
and whether it is a heart or a lung sound.

Heart or lung is detected by the model unless the user sets the "Sound" box, or the audio says
itself what it is: a recording made here keeps the exam it was recorded as, a stethoscope being
listened to takes the record panel's exam and site. The record panel's Exam box never speaks for
an imported file, a simulated sound or a file played as the input. A domain given either way that
the sound contradicts comes back from the engine with a warning (``analysis.domain_warning``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from stethodesk.audio.limits import MIN_SECONDS
from stethodesk.gui.elided import elide_middle

LIVE_SECONDS = (round(MIN_SECONDS), 60, 10)  # min, max, default of "the last N seconds"
SOURCE_LIVE, SOURCE_RECORDING = "live", "recording"
DOMAIN_CHOICES = (("auto", "Detect sound"), ("heart", "Heart"), ("lung", "Lung"))
# How the engine settled heart or lung when it was not given (AudioAnalysis.domain_source), in words.
DOMAIN_NOTES = {"detected": "detected", "default": "assumed: the model has no detector"}


class AudioChoice(QWidget):
    """The "what to analyse" row (source, seconds, Sound box) and the line saying what it is.

    ``note`` says how heart or lung was chosen for the audio :meth:`chosen_audio` returned last
    ("as recorded", "as you chose", "from the Exam box", or "" when the engine is to detect it).
    """

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.note = ""
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.source_combo = QComboBox()
        self.source_combo.addItem("Last seconds of live input", SOURCE_LIVE)
        self.source_combo.addItem("Selected recording", SOURCE_RECORDING)
        self.source_combo.setToolTip("What to analyse: the last seconds of the live input, or the recording "
                                     "selected in the list")
        self.source_combo.setMinimumContentsLength(12)
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        row.addWidget(self.source_combo, 1)
        self.seconds_spin = QSpinBox()
        self.seconds_spin.setRange(*LIVE_SECONDS[:2])
        self.seconds_spin.setValue(LIVE_SECONDS[2])
        self.seconds_spin.setSuffix(" s")
        row.addWidget(self.seconds_spin)
        self.domain_combo = QComboBox()
        for key, title in DOMAIN_CHOICES:
            self.domain_combo.addItem(title, key)
        self.domain_combo.setToolTip("Heart or lung: detected from the sound, or as you choose here")
        self.domain_combo.setAccessibleName("Heart or lung")
        row.addWidget(self.domain_combo)
        v.addLayout(row)
        self.hint = QLabel("")
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        v.addWidget(self.hint)
        self.source_combo.currentIndexChanged.connect(lambda _i: self.update_hint())
        self.seconds_spin.valueChanged.connect(lambda _v: self.update_hint())
        self.update_hint()

    def is_live(self) -> bool:
        return self.source_combo.currentData() == SOURCE_LIVE

    def update_hint(self) -> None:
        """Say what will be analysed (file names elided: a long one never widens the panel)."""
        live = self.is_live()
        self.seconds_spin.setEnabled(live)
        if live:
            src = self.ctx.current_source
            self.hint.setText(f"Analyses the last {self.seconds_spin.value()} s from {src.label}." if src is not None
                              else "No live input: press Listen, or choose the selected recording.")
        else:
            p = self.ctx.selected_recording
            self.hint.setText(f"Analyses {elide_middle(p.name)}." if p else "Select a recording in the list below.")
            self.hint.setToolTip(str(p) if p else "")

    def chosen_domain(self, known: str | None, how: str) -> tuple[str, str]:
        """(domain for the engine, how it was chosen): the "Sound" box when set, else ``known``
        ("heart"/"lung", described by ``how``), else "auto" (the engine detects it)."""
        forced = self.domain_combo.currentData()
        if forced in ("heart", "lung"):
            return forced, "as you chose"
        if known in ("heart", "lung"):
            return known, how
        return "auto", ""

    def chosen_audio(self, warn: Callable[[str, str], None]
                     ) -> tuple[np.ndarray, int, str, str, str | None] | None:
        """``(samples (n,) float32, samplerate Hz, label, domain, site)`` of the chosen audio, or
        None after ``warn(level, text)`` said why there is none. ``domain`` is "heart", "lung" or
        "auto"; ``site`` None where the audio does not say (the engine predicts it)."""
        if self.is_live():
            got = self.ctx.live_samples(self.seconds_spin.value())
            if got is None:
                warn("warning", "There is no live input to analyse. Press Listen, or choose "
                                "\u201cSelected recording\u201d.")
                return None
            x, sr = got
            device = type(self.ctx.current_source).__name__ == "DeviceSource"
            domain, self.note = self.chosen_domain(self.ctx.domain if device else None, "from the Exam box")
            return x, sr, f"last {x.size / sr:.0f} s of live input", domain, self.ctx.site if device else None
        if self.ctx.selected_audio is None:
            warn("warning", "Select a recording in the list first.")
            return None
        x, sr = self.ctx.selected_audio
        meta = getattr(self.ctx, "selected_meta", None) or {}
        domain, self.note = self.chosen_domain(meta.get("domain"), "as recorded")
        return x, sr, self.ctx.selected_recording.name, domain, meta.get("site")
