"""The main window at the bedside (issue 12): small screens, stale state, heart or lung decided,
banners and pickers, dark desktops, keyboard and screen-reader basics.

Real parts: the real main window with its workflow tabs (offscreen), real recordings from the
shared data, the real synthesizer as a live source. Screenshots go to ``tests/_out/screenshots``.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSlider,
    QTabBar,
    QTextEdit,
    QWidget,
)

from gui_fixtures import isolated_home, no_qt_bug_warnings, open_main_window  # noqa: F401 (autouse fixtures)
from screens import screenshot_path

# Available screen areas (the screen less a 40 px task bar) and the title bar a window manager adds.
SMALL_SCREENS = {"1366x768": QRect(0, 0, 1366, 728), "1280x720": QRect(0, 0, 1280, 680)}
TITLE_BAR_PX = 32
CONTROL_TYPES = (QAbstractButton, QComboBox, QLineEdit, QAbstractSpinBox, QSlider, QAbstractItemView,
                 QTextEdit, QTabBar)
LONG_NAME = "auscultation_" + "very_long_patient_and_site_description_" * 4 + "final.wav"


@pytest.fixture
def window(qtbot):
    """The main window as at start-up, without input or model."""
    w = open_main_window(qtbot)
    yield w
    w.close()


def controls(root: QWidget) -> list[QWidget]:
    """The user-operable widgets under ``root`` that are meant to be seen (not hidden on purpose)."""
    found = []
    for w in root.findChildren(QWidget):
        if not isinstance(w, CONTROL_TYPES) or isinstance(w, QHeaderView) or not w.isVisibleTo(root):
            continue
        if type(w).__module__.startswith("pyqtgraph") or w.objectName().startswith("qt_"):
            continue  # the plots' own internals and Qt's scroll-bar/viewport pieces
        found.append(w)
    return found


def cut_off(window: QWidget, w: QWidget) -> str | None:
    """Why control ``w`` is not fully on the window (None when it is): outside the window,
    clipped by a parent, squeezed below its smallest readable size, or not shown."""
    if not w.isVisible():
        return "not shown"
    top_left = w.mapTo(window, QPoint(0, 0))
    rect = QRect(top_left, w.size())
    if not window.rect().contains(rect):
        return f"outside the window at {rect.getRect()}"
    p = w.parentWidget()
    while p is not None and p is not window:
        if type(p).__name__ == "QScrollArea" or p.objectName() == "qt_scrollarea_viewport":
            return None  # reachable by scrolling
        prect = QRect(p.mapTo(window, QPoint(0, 0)), p.size())
        if not prect.contains(rect):
            return f"clipped by {type(p).__name__} {p.objectName()!r}"
        p = p.parentWidget()
    hint = w.minimumSize() if w.minimumWidth() else w.minimumSizeHint()  # a set minimum is deliberate
    short = hint.width() if isinstance(w, QAbstractButton) else min(hint.width(), 40)  # a button cuts its text
    if w.width() < short or w.height() < min(hint.height(), 16):
        return f"squeezed to {w.width()}x{w.height()} (needs {hint.width()}x{hint.height()})"
    return None


def describe(w: QWidget) -> str:
    text = getattr(w, "text", None)
    label = text() if callable(text) else ""
    return f"{type(w).__name__} {w.objectName() or w.accessibleName() or label!r}"


def settle(qtbot, ms: int = 100) -> None:
    qtbot.wait(ms)


# ---------------------------------------------------------------------------------- 1. small screens
@pytest.mark.parametrize("screen", sorted(SMALL_SCREENS))
def test_every_control_fits_a_small_laptop_screen(window, qtbot, screen):
    avail = SMALL_SCREENS[screen]
    window.analysis_panel.card.show_analysis(full_analysis())  # the tallest card, and banners
    window.analysis_panel.banners.show_message("warning", "A warning about the last analysis. " * 3, "analysis")
    window.banners.show_message("warning", "No audio input was found. " * 4, "devices")
    window.fit_to(avail)
    settle(qtbot)
    room = avail.adjusted(0, 0, 0, -TITLE_BAR_PX)
    assert window.width() <= room.width() and window.height() <= room.height(), window.size()
    hint = window.minimumSizeHint()
    assert hint.width() <= room.width() and hint.height() <= room.height(), hint
    problems = []
    for i in range(window.tabs.count()):
        window.tabs.setCurrentIndex(i)
        settle(qtbot, 50)
        page = window.tabs.widget(i)
        assert controls(page), f"no controls found on {window.tabs.tabText(i)}"
        for c in controls(page):
            why = cut_off(window, c)
            if why:
                problems.append(f"{window.tabs.tabText(i)}: {describe(c)} {why}")
        if i == 0:
            window.grab().save(str(screenshot_path(f"small_{screen}_listen.png")))
    assert not problems, "\n".join(problems)


def full_analysis(domain: str = "heart", **changes):
    """An AudioAnalysis with every heart finding called: the tallest findings card there is."""
    from stethodesk.audio.dsp import Quality
    from stethodesk.model.analysis import AudioAnalysis

    findings = {"abnormal": 0.93, "murmur": 0.9, "murmur_timing_systolic": 0.85, "murmur_timing_diastolic": 0.2,
                "lesion_AS": 0.7, "lesion_MR": 0.4, "lesion_MS": 0.1, "lesion_MVP": 0.05, "lesion_N": 0.1,
                "poor_quality": 0.6}
    base = dict(domain=domain, site="AV", findings=findings, heart_rate_bpm=72.0,
                quality=Quality("fair", 0.5, ["noise"], "Some noise in the recording."), usable=True,
                unusable_reason=None, encode_ms=10.0, duration_s=12.0)
    base.update(changes)
    return AudioAnalysis(**base)


def test_the_answer_area_shows_eight_lines_and_grows_with_the_window(window, qtbot):
    view = window.analysis_panel.answer_view
    line = view.fontMetrics().lineSpacing()
    window.analysis_panel.card.show_analysis(full_analysis())  # the card at its tallest
    window.analysis_panel.banners.show_message("warning", "A warning about the last analysis " * 4, "analysis")
    window.banners.show_message("warning", "No audio input was found. " * 4, "devices")
    window.fit_to(SMALL_SCREENS["1280x720"])
    settle(qtbot)
    small = view.viewport().height()
    assert small >= 8 * line, f"{small} px < 8 lines of {line} px"
    window.resize(1600, 1000)
    settle(qtbot)
    assert view.viewport().height() > small + 100


def test_a_long_file_name_does_not_widen_the_window(window, qtbot, tmp_path):
    import shutil

    from stethodesk import paths

    window.fit_to(SMALL_SCREENS["1280x720"])
    settle(qtbot)
    before = window.minimumSizeHint().width()
    src = sorted((paths.shared_data_dir() / "circor2022").rglob("*.flac"))[0]
    long_path = tmp_path / LONG_NAME.replace(".wav", ".flac")
    shutil.copyfile(src, long_path)
    window.review_panel.import_file(long_path)
    qtbot.waitUntil(lambda: window.ctx.selected_audio is not None and window.ctx.selected_recording is not None
                    and window.ctx.selected_recording.name == long_path.name, timeout=10000)
    window.analysis_panel.source_combo.setCurrentIndex(1)  # "Selected recording": the hint names it
    qtbot.waitUntil(lambda: window.review_panel.list.count() >= 1, timeout=5000)
    settle(qtbot)
    after = window.minimumSizeHint().width()
    assert after <= before + 4, f"minimum width grew from {before} to {after} px"
    assert window.width() <= SMALL_SCREENS["1280x720"].width()
    window.grab().save(str(screenshot_path("small_1280x720_long_name.png")))
    clipped = [lab.text() for lab in window.findChildren(QLabel) if lab.isVisible() and lab.wordWrap()
               and max((lab.fontMetrics().horizontalAdvance(word) for word in lab.text().split()), default=0)
               > lab.contentsRect().width()]
    assert not clipped, f"words wider than their label (cut off): {clipped}"
    assert not window.review_panel.list.horizontalScrollBar().isVisible()


def test_a_guided_exam_while_recording_fits_the_smallest_screen(window, qtbot):
    window.fit_to(SMALL_SCREENS["1280x720"])
    window.start_source({"kind": "synth", "name": "normal_heart"})
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    window.tabs.setCurrentIndex(titles.index("Guided exam"))
    guided = window.tabs.currentWidget()
    guided.start_exam("cardiac4")
    guided.record_btn.click()
    qtbot.waitUntil(lambda: window.record_panel.is_recording, timeout=5000)
    settle(qtbot, 300)
    window.grab().save(str(screenshot_path("small_1280x720_guided_recording.png")))
    problems = [f"{describe(c)} {why}" for c in controls(guided) if (why := cut_off(window, c))]
    assert not problems, problems
    assert window.height() <= SMALL_SCREENS["1280x720"].height() - TITLE_BAR_PX


# ---------------------------------------------------------------------------------- 2. never stale
class DetectingEngine:
    """Stands in for the Engine in the window (its neighbour): fixed findings, a short answer,
    records the domain it was asked for and, for "auto", says it detected heart (as the real
    engine's is_lung head does for a CirCor recording)."""

    name, version = "scripted-engine", "0.0-test"

    def __init__(self, findings=None):
        self.findings = findings or {"murmur": 0.9, "abnormal": 0.85, "lesion_AS": 0.6, "poor_quality": 0.2}
        self.domains: list[str] = []

    def load(self, progress=None):
        return self

    def cancel(self):
        pass

    def analyze_audio(self, samples, sr, domain="auto", site=None):
        from stethodesk.audio.dsp import signal_quality

        self.domains.append(domain)
        dom, source = ("heart", "detected") if domain == "auto" else (domain, "given")
        warning = "This sounds like a heart recording" if dom == "lung" else None
        return full_analysis(dom, site=site, findings=dict(self.findings), quality=signal_quality(samples, sr, dom),
                             duration_s=len(samples) / sr, domain_source=source, domain_warning=warning)

    def ask(self, analysis, task, question=None, other=None, max_tokens=256):
        return iter([f"{task} ", "answer."])


def circor(n: int):
    from stethodesk import paths

    files = sorted((paths.shared_data_dir() / "circor2022").rglob("*.flac"))[:n]
    assert len(files) == n, "the shared CirCor recordings are missing"
    return files


@pytest.fixture
def analysing_window(qtbot):
    engine = DetectingEngine()
    w = open_main_window(qtbot, load_model=True, engine_factory=lambda: engine)
    qtbot.waitUntil(lambda: w.ctx.engine is engine, timeout=10000)
    w.engine = engine
    yield w
    w.close()


def open_recording(qtbot, w, path):
    w.review_panel.import_file(path)
    qtbot.waitUntil(lambda: w.ctx.selected_audio is not None and w.ctx.selected_recording is not None
                    and w.ctx.selected_recording.name == path.name, timeout=10000)


def analyse(qtbot, w, task="binary"):
    ap = w.analysis_panel
    with qtbot.waitSignal(ap.answerFinished, timeout=10000) as done:
        assert ap.run_task(task) is not None, [b.text for b in ap.banners.banners()]
    return done.args[0]


def test_the_card_names_its_recording_and_clears_when_another_is_selected(analysing_window, qtbot):
    w, ap = analysing_window, analysing_window.analysis_panel
    a, b = circor(2)
    open_recording(qtbot, w, a)
    ap.source_combo.setCurrentIndex(ap.source_combo.findData("recording"))
    analyse(qtbot, w)
    assert ap.card.source.isVisible() and a.name in ap.card.source.text()
    assert ap.card.bars and ap.answer_view.toPlainText().strip() and ap.followup_button.isEnabled()
    open_recording(qtbot, w, b)
    assert not ap.card.bars, "findings of the previous recording are still shown"
    assert "Not analysed yet" in ap.card.summary.text() and b.name in ap.card.summary.text()
    assert not ap.answer_view.toPlainText().strip() and not ap.followup_button.isEnabled()
    analyse(qtbot, w)
    assert b.name in ap.card.source.text() and ap.card.bars


def test_one_quality_rule_and_the_headline_of_a_wheeze():
    from stethodesk.store.summary import main_finding, quality_verdict

    assert quality_verdict("good", {"poor_quality": 0.89}) == ("poor", "poor (model 89%, signal meter good)")
    assert quality_verdict("fair", {"poor_quality": 0.2}) == ("fair", "fair")
    assert quality_verdict(None, {}) == (None, "not measured")
    assert main_finding({"crackle": 0.55, "wheeze": 0.95}, "lung").label == "Wheeze"
    assert main_finding({"crackle": 0.95, "wheeze": 0.55}, "lung").label == "Crackles"
    assert main_finding({"abnormal": 0.9, "murmur": 0.2}, "heart").label == "Abnormal"


def test_pdf_and_exam_list_say_one_quality_the_site_count_and_no_internal_keys(tmp_path, qtbot):
    import subprocess

    from stethodesk.gui.workflow import JobRunner, PatientsTab, WorkflowState
    from stethodesk.reports import build_exam_report
    from stethodesk.store import Store

    store = Store(tmp_path / "home")
    p = store.add_patient("Ada Test")
    e = store.add_exam(p.id, protocol="cardiac4")
    files = circor(3)
    murmur = {"murmur": 0.9, "murmur_timing_systolic": 0.8, "lesion_AS": 0.6, "lesion_N": 0.2}
    for f, site in zip(files, ("mitral", "mitral", "aortic")):
        r = store.add_recording(e.id, f, site, quality={"level": "good", "score": 0.9, "reason": "Clear."})
        store.add_analysis(r.id, "binary", "An answer.", findings={"murmur": 0.2, "poor_quality": 0.89}
                           | (murmur if site == "aortic" else {}), model_name="m", model_version="1")
    pdf = build_exam_report(store, e.id, tmp_path / "r.pdf")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "cardiac4" not in text and "Cardiac" in text
    assert "Signal quality: good" not in text and "Signal quality: poor (model 89%, signal meter good)" in text
    assert "Aortic stenosis: 60%" in text and "Systolic murmur" in text and "Lesion" not in text  # no head keys

    state, runner = WorkflowState(), JobRunner()
    tab = PatientsTab(store, state, runner, lambda: None, lambda: None, lambda *_: None)
    qtbot.addWidget(tab)
    state.set_patient(p.id)
    tab.refresh_exams()
    item = tab.exams.item(0).text()
    assert "2 sites, 3 recordings" in item and "cardiac4" not in item and "Cardiac" in item, item
    store.add_recording(e.id, files[0], "pulmonic")
    state.recordsChanged.emit()  # e.g. the guided exam saved a site: the list's count follows
    assert "3 sites, 4 recordings" in tab.exams.item(0).text()
    state.set_exam(e.id)
    assert {tab.recordings.item(i, 2).text() for i in range(tab.recordings.rowCount())} <= {"poor", "-"}
    runner.shutdown()
    store.close()


def visible_texts(root: QWidget) -> list[str]:
    """Every text a person can see under ``root``: labels, buttons, tabs, combo and list items, tables."""
    from PySide6.QtWidgets import QListWidget, QTableWidget, QTabWidget

    out = []
    for w in [root, *root.findChildren(QWidget)]:
        if isinstance(w, (QLabel, QAbstractButton)):
            out.append(w.text())
        if isinstance(w, QComboBox):
            out += [w.itemText(i) for i in range(w.count())]
        if isinstance(w, QListWidget):
            out += [w.item(i).text() for i in range(w.count())]
        if isinstance(w, QTableWidget):
            out += [w.item(r, c).text() for r in range(w.rowCount()) for c in range(w.columnCount()) if w.item(r, c)]
        if isinstance(w, QTabWidget):
            out += [w.tabText(i) for i in range(w.count())]
        out.append(w.toolTip())
    return out


def test_no_protocol_key_reaches_the_screen(window, qtbot):
    from stethodesk.store.protocols import load_protocols

    store = window.ctx.store
    p = store.add_patient("Ada Test")
    store.add_exam(p.id, protocol="cardiac4")
    patients = next(window.tabs.widget(i) for i in range(window.tabs.count()) if window.tabs.tabText(i) == "Patients")
    patients.refresh_patients()
    patients.patients.setCurrentRow(0)  # the user picks the patient: their exams are listed
    assert patients.exams.count() == 1
    keys = set(load_protocols())
    leaks = [t for t in visible_texts(window) for k in keys if k in t]
    assert not leaks, leaks


# ---------------------------------------------------------------------------------- 3. heart or lung
def test_an_imported_file_is_analysed_as_detected_not_as_the_exam_box_says(analysing_window, qtbot):
    w, ap = analysing_window, analysing_window.analysis_panel
    w.record_panel.set_domain("lung")  # the Exam box says lung; the file is a CirCor heart recording
    (a,) = circor(1)
    open_recording(qtbot, w, a)
    ap.source_combo.setCurrentIndex(ap.source_combo.findData("recording"))
    analyse(qtbot, w)
    assert w.engine.domains[-1] == "auto"
    assert "heart (detected)" in ap.card.summary.text()
    ap.domain_combo.setCurrentIndex(ap.domain_combo.findData("lung"))  # the user overrides
    analyse(qtbot, w)
    assert w.engine.domains[-1] == "lung" and "lung (as you chose)" in ap.card.summary.text()
    assert any("sounds like a heart" in b.text for b in ap.banners.banners())


def test_a_simulated_sound_is_analysed_as_detected(analysing_window, qtbot):
    w, ap = analysing_window, analysing_window.analysis_panel
    w.start_source({"kind": "synth", "name": "normal_heart"})
    w.record_panel.set_domain("lung")
    ap.source_combo.setCurrentIndex(ap.source_combo.findData("live"))
    from stethodesk.gui.analysis_panel import MIN_ANALYSIS_S

    need = MIN_ANALYSIS_S + 0.5  # s of live sound
    ap.seconds_spin.setValue(int(need) + 1)
    qtbot.waitUntil(lambda: (s := w.ctx.live_samples(need + 1)) is not None and s[0].size >= need * s[1],
                    timeout=15000)
    analyse(qtbot, w)
    assert w.engine.domains[-1] == "auto" and "(detected)" in ap.card.summary.text()


def test_a_heart_sound_stored_at_a_lung_site_is_warned_about(tmp_path):
    from stethodesk.store import Store
    from stethodesk.store.analyse import analyse_recording

    store = Store(tmp_path / "home")
    e = store.add_exam(store.add_patient("Ada").id)
    r = store.add_recording(e.id, circor(1)[0], _a_lung_site())
    row = analyse_recording(store, DetectingEngine(), r.id)
    assert row.answer.startswith("Warning: This sounds like a heart recording")
    store.close()


def _a_lung_site() -> str:
    from stethodesk.store import SITES

    return next(k for k, s in SITES.items() if s.domain == "lung")


# ---------------------------------------------------------------------------------- 7. banners and pickers
def test_a_message_never_moves_the_controls_and_goes_when_its_cause_does(window, qtbot):
    from PySide6.QtCore import Qt

    window.fit_to(SMALL_SCREENS["1366x768"])
    settle(qtbot)
    before = {c: c.mapTo(window, QPoint(0, 0)) for c in controls(window.tabs.currentWidget())}
    window.banners.show_message("warning", "No audio input was found. Connect a stethoscope or microphone and "
                                "press Refresh, or listen to the simulated stethoscope.", "devices")
    window.ctx.show_message("error", "Could not start the input: a long reason " * 3, "source")
    settle(qtbot)
    moved = [describe(c) for c, pos in before.items() if c.mapTo(window, QPoint(0, 0)) != pos]
    assert not moved, f"a message moved {moved}"
    strip = window.banners
    assert strip.isVisible() and strip.height() <= window.tabs.tabBar().height() + 2
    tabs_right = window.tabs.tabBar().mapTo(window, QPoint(window.tabs.tabBar().sizeHint().width(), 0)).x()
    assert strip.mapTo(window, QPoint(0, 0)).x() >= tabs_right  # beside the tabs, not over them
    newest = strip.banners()[-1]
    assert newest.isVisible() and newest.text.startswith("Could not start") and newest.label.toolTip() == newest.text
    window.grab().save(str(screenshot_path("banner_in_tab_row.png")))
    qtbot.mouseClick(newest.close_button, Qt.MouseButton.LeftButton)
    assert strip.banners()[-1].text.startswith("No audio input") and strip.banners()[-1].isVisible()
    # the user picks the simulated stethoscope: the "no input" message has done its job
    sp = window.source_panel
    sp.source_combo.setCurrentIndex(next(i for i in range(sp.source_combo.count())
                                         if sp._offer_at(i) and sp._offer_at(i).choice["kind"] == "synth"))
    qtbot.mouseClick(sp.start_button, Qt.MouseButton.LeftButton)
    assert window.ctx.current_source is not None
    assert not [b for b in strip.banners() if b.key == "devices"]


def test_picking_another_simulated_sound_switches_the_live_input_at_once(window, qtbot):
    from PySide6.QtCore import Qt

    sp = window.source_panel
    synth = [i for i in range(sp.source_combo.count()) if sp._offer_at(i) and sp._offer_at(i).choice["kind"] == "synth"]
    assert len(synth) >= 2
    window.start_source(sp._offer_at(synth[0]).choice)
    first = window.ctx.current_source
    sp.source_combo.setCurrentIndex(synth[0])
    sp.source_combo.setFocus()
    qtbot.keyClick(sp.source_combo, Qt.Key.Key_Down)  # the user picks the next sound (no Listen press)
    assert sp.source_combo.currentIndex() == synth[1]
    assert window.ctx.current_source is not first and window.ctx.current_source is not None
    assert window.ctx.settings["source"] == sp._offer_at(synth[1]).choice


# ---------------------------------------------------------------------------------- 8. dark desktops
def dark_palette():
    """A dark desktop's palette (light text on dark fields), as a dark GNOME/KDE theme hands it over."""
    from PySide6.QtGui import QColor, QPalette

    pal = QPalette()
    for role, colour in ((QPalette.ColorRole.Window, "#2b2b2b"), (QPalette.ColorRole.WindowText, "#e6e6e6"),
                         (QPalette.ColorRole.Base, "#1e1e1e"), (QPalette.ColorRole.AlternateBase, "#2f2f2f"),
                         (QPalette.ColorRole.Text, "#e6e6e6"), (QPalette.ColorRole.Button, "#353535"),
                         (QPalette.ColorRole.ButtonText, "#e6e6e6"), (QPalette.ColorRole.Highlight, "#3d6fb4"),
                         (QPalette.ColorRole.ToolTipBase, "#1e1e1e"), (QPalette.ColorRole.ToolTipText, "#e6e6e6"),
                         (QPalette.ColorRole.PlaceholderText, "#9a9a9a")):
        pal.setColor(role, QColor(colour))
    return pal


def luminance(rgb):
    """WCAG relative luminance of sRGB pixels (..., 3) in 0..255."""
    import numpy as np

    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.03928, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin @ np.array([0.2126, 0.7152, 0.0722])


def rendered_contrast(image, rect: QRect) -> float:
    """WCAG contrast ratio of the text in ``rect`` of a rendered ``QImage``: the background is the
    most common colour there, the text the strongest 0.5% of pixels against it (its solid strokes)."""
    import numpy as np
    from PySide6.QtGui import QImage

    img = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), dtype=np.uint8).reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3)
    crop = arr[rect.top(): rect.bottom() + 1, rect.left(): rect.right() + 1].reshape(-1, 3)
    colours, counts = np.unique(crop, axis=0, return_counts=True)
    bg = luminance(colours[np.argmax(counts)])
    lum = luminance(crop)
    ratio = (np.maximum(lum, bg) + 0.05) / (np.minimum(lum, bg) + 0.05)
    return float(np.percentile(ratio, 99.5))


def text_rects(w) -> dict[str, tuple[QWidget, QRect]]:
    """The main text widgets of the Listen tab and where their text is drawn (window coordinates)."""
    def inner(widget, right_frac=1.0):
        top_left = widget.mapTo(w, QPoint(0, 0))
        r = QRect(top_left, widget.size()).adjusted(4, 3, -4, -3)
        r.setWidth(int(r.width() * right_frac))
        return widget, r

    bar = w.tabs.tabBar()
    tab = bar.tabRect(0)
    return {
        "input picker (combo box)": inner(w.source_panel.source_combo, 0.8),
        "site picker (combo box)": inner(w.record_panel.site_combo, 0.8),
        "notes (text field)": inner(w.record_panel.notes_edit),
        "question (text field)": inner(w.analysis_panel.question_edit),
        "seconds (spin box)": inner(w.analysis_panel.seconds_spin, 0.6),
        "Listen tab": (bar, QRect(bar.mapTo(w, tab.topLeft()), tab.size()).adjusted(3, 3, -3, -3)),
        "Patients tab": (bar, QRect(bar.mapTo(w, bar.tabRect(1).topLeft()), bar.tabRect(1).size()).adjusted(3, 3, -3, -3)),
        "Rate label": inner(_label(w.source_panel, "Rate")),
        "answer area": inner(w.analysis_panel.answer_view, 0.7),
    } | ({"menu bar": (w.menuBar(), QRect(w.menuBar().mapTo(w, QPoint(0, 0)), w.menuBar().size()).adjusted(0, 1, 0, -1))}
         if w.menuBar().actions() else {})


def _label(root, text):
    return next(lab for lab in root.findChildren(QLabel) if lab.text() == text)


@pytest.mark.parametrize("desktop", ["light", "dark"])
def test_every_main_text_is_legible_on_a_light_and_a_dark_desktop(qtbot, desktop):
    from PySide6.QtWidgets import QApplication

    from stethodesk.gui.app import make_app

    app = make_app([])
    if desktop == "dark":
        app.setPalette(dark_palette())  # what the desktop hands over before the app styles itself
    w = open_main_window(qtbot)  # the app styles itself as at start-up
    w.record_panel.notes_edit.setText("Patient sitting, held breath")
    w.analysis_panel.question_edit.setText("Is there a murmur?")
    w.analysis_panel.answer_view.setPlainText("A systolic murmur is likely at the apex.")
    try:
        for screen, avail in SMALL_SCREENS.items():
            w.fit_to(avail)
            settle(qtbot)
            image = w.grab().toImage()
            w.grab().save(str(screenshot_path(f"{desktop}_desktop_{screen}.png")))
            low = {name: round(rendered_contrast(image, rect), 2) for name, (_wid, rect) in text_rects(w).items()
                   if rendered_contrast(image, rect) < 4.5}
            assert not low, f"{desktop} desktop at {screen}: contrast below 4.5:1 {low}"
    finally:
        w.close()
        app.setPalette(QApplication.style().standardPalette())
        make_app([])


# ---------------------------------------------------------------------------------- 9. accessibility basics
def test_tab_reaches_every_control_with_a_visible_focus(window, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    window.fit_to(SMALL_SCREENS["1366x768"])
    window.activateWindow()
    missed = []
    for i in range(window.tabs.count()):  # every tab: a text box that swallows Tab traps the user
        window.tabs.setCurrentIndex(i)
        settle(qtbot, 50)
        wanted = [c for c in controls(window.tabs.widget(i)) if c.isEnabled()
                  and c.focusPolicy() & Qt.FocusPolicy.TabFocus and not isinstance(c, QTabBar)]
        window.tabs.tabBar().setFocus()
        reached = set()
        for _ in range(4 * len(wanted) + 20):
            w = QApplication.focusWidget()
            assert w is not None, "nothing has the keyboard focus"
            reached.add(w)
            qtbot.keyClick(w, Qt.Key.Key_Tab)

        def in_reach(c) -> bool:  # buttons of an exclusive group: Tab reaches the group, arrows move within it
            group = c.group() if isinstance(c, QAbstractButton) else None
            return c in reached or (group is not None and group.exclusive()
                                    and any(b in reached for b in group.buttons()))

        missed += [f"{window.tabs.tabText(i)}: {describe(c)}" for c in wanted if not in_reach(c)]
    assert not missed, f"Tab never reaches {missed}"
    window.tabs.setCurrentIndex(0)
    bell, diaphragm = window.source_panel.filter_buttons["bell"], window.source_panel.filter_buttons["diaphragm"]
    bell.setFocus()
    qtbot.keyClick(bell, Qt.Key.Key_Right)
    assert QApplication.focusWidget() is diaphragm  # the arrow key moves within the filter group
    # the focused control is drawn differently (an outline), for each kind of control
    for c in (window.source_panel.refresh_button, window.record_panel.notes_edit, window.record_panel.site_combo,
              window.analysis_panel.seconds_spin):
        window.tabs.tabBar().setFocus()
        settle(qtbot, 30)
        before = c.grab().toImage()
        c.setFocus()
        settle(qtbot, 30)
        after = c.grab().toImage()
        assert c.hasFocus() and before != after, f"{describe(c)} looks the same with the keyboard focus"
    c.grab().save(str(screenshot_path("focus_outline.png")))


def test_icon_buttons_have_accessible_names(window, qtbot):
    window.banners.show_message("info", "A message with a close button", "test")
    settle(qtbot)
    nameless = [describe(b) for b in window.findChildren(QAbstractButton)
                if not any(ch.isalpha() for ch in b.text()) and not b.accessibleName().strip()
                and type(b).__module__.startswith("PySide6") and not b.objectName().startswith("qt_")]
    assert not nameless, f"buttons a screen reader cannot name: {nameless}"


@contextmanager
def desktop_font(points: float):
    """The desktop's font at ``points`` while the app starts (restored afterwards)."""
    from PySide6.QtGui import QFont

    from stethodesk.gui.app import make_app

    app = make_app([])
    desktop = QFont(app.font())
    big = QFont(desktop)
    big.setPointSizeF(points)
    app.setFont(big)
    try:
        yield
    finally:
        app.setFont(desktop)
        make_app([])


def test_text_follows_the_desktop_font_size(qtbot):
    with desktop_font(14.0):
        w = open_main_window(qtbot)
        settle(qtbot)
        assert _label(w.source_panel, "Rate").font().pointSizeF() >= 14.0
        assert w.record_panel.notes_edit.font().pointSizeF() >= 14.0
        assert w.live_view.hr_label.font().pointSizeF() >= 28.0
        w.fit_to(QRect(0, 0, 1920, 1040))  # a large text wants a larger screen; nothing is cut on one
        settle(qtbot)
        w.grab().save(str(screenshot_path("desktop_font_14pt.png")))
        cut = [f"{describe(c)} {why}" for c in controls(w.tabs.currentWidget()) if (why := cut_off(w, c))]
        assert not cut, cut
        w.close()


def test_the_card_and_the_answer_small_print_follow_the_desktop_font_size(qtbot):
    import re

    with desktop_font(16.0):
        w = open_main_window(qtbot)
        ap = w.analysis_panel
        ap.card.show_analysis(full_analysis())
        sizes = [float(s) for s in re.findall(r"font-size:([\d.]+)pt", ap.card.summary.text())]
        assert sizes and min(sizes) >= 16.0, sizes  # the headline, not a fixed 11 pt
        ap._begin("report", None, "a recording")
        note = [float(s) for s in re.findall(r"font-size:([\d.]+)pt", ap.answer_view.toHtml())]
        assert note and min(note) >= 0.9 * 16.0 - 0.1, note  # the small print, not a fixed 9 pt
        w.close()
