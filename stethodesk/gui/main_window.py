"""The StethoDesk main window: input and recording controls on the left, the live
view and the recordings below it in the middle, the analysis panel on the right.

Tabs from ``stethodesk.gui.workflow.make_tabs(ctx)`` (patients, exams, site map,
teaching) are added after the "Listen" tab when that package is installed.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QRect, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter, QTabWidget, QVBoxLayout, QWidget

from stethodesk import __version__
from stethodesk.gui import shortcuts, sources
from stethodesk.gui.analysis_panel import AnalysisPanel
from stethodesk.gui.banner import BannerArea
from stethodesk.gui.context import AppContext
from stethodesk.gui.live_view import LiveView
from stethodesk.gui.record_panel import RecordPanel
from stethodesk.gui.review_panel import ReviewPanel
from stethodesk.gui.source_panel import SourcePanel
from stethodesk.gui.style import MIN_FONT_PT

WINDOW_SIZE = (1480, 900)  # px: preferred size; smaller screens get what they have (fit_to)
BANNER_GAP_PX = 16  # px between the last tab and the message strip
TITLE_BAR_PX = 32  # px: room left for the window manager's title bar before the frame is known
LEFT_WIDTH = 270  # px of the left column at the smallest text size (style.MIN_FONT_PT), times font_scale()
RIGHT_WIDTH = 420  # px: the analysis panel's first width (its minimum is its buttons' at the font size)


def font_scale() -> float:
    """How much larger than the app's smallest text size the desktop's font is (>= 1)."""
    return max(1.0, QFont().pointSizeF() / MIN_FONT_PT)


class _Relay(QObject):
    recovered = Signal(list, str)


class MainWindow(QMainWindow):
    """Parameters
    ----------
    ctx : AppContext, optional
    autostart : bool
        Start the remembered (or default) input at once.
    load_model : bool
        Load the analysis engine in the background at start-up.
    engine_factory : callable, optional
        Builds the engine (default ``stethodesk.model.engine.Engine()``).
    """

    def __init__(self, ctx: AppContext | None = None, autostart: bool = True, load_model: bool = True,
                 engine_factory=None):
        super().__init__()
        self.ctx = ctx or AppContext()
        self.ctx.main_window = self
        self.setWindowTitle(f"StethoDesk {__version__}")
        self._relay = _Relay()
        self._relay.recovered.connect(self._on_recovered)

        central = QWidget()
        central.setObjectName("central")
        outer = QVBoxLayout(central)
        outer.setContentsMargins(8, 6, 8, 8)
        outer.setSpacing(6)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        outer.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        # messages lie over the empty end of the tab row: showing or dismissing one never moves a control
        self.banners = BannerArea(central, one_line=True)
        self.banners.raise_()

        listen = QWidget()
        row = QSplitter(Qt.Orientation.Horizontal, listen)
        lay = QVBoxLayout(listen)
        lay.setContentsMargins(0, 4, 0, 0)
        lay.addWidget(row)

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 4, 0)
        self.source_panel = SourcePanel(self.ctx)
        self.record_panel = RecordPanel(self.ctx)
        lv.addWidget(self.source_panel)
        lv.addWidget(self.record_panel)
        lv.addStretch(1)
        scale = font_scale()
        left.setMinimumWidth(int(LEFT_WIDTH * scale))
        left.setMaximumWidth(int((LEFT_WIDTH + 80) * scale))
        row.addWidget(left)

        middle = QSplitter(Qt.Orientation.Vertical)
        self.live_view = LiveView(self.ctx)
        self.review_panel = ReviewPanel(self.ctx)
        middle.addWidget(self.live_view)
        middle.addWidget(self.review_panel)
        middle.setStretchFactor(0, 5)
        middle.setStretchFactor(1, 2)
        middle.setSizes([600, 240])
        row.addWidget(middle)

        self.analysis_panel = AnalysisPanel(self.ctx, engine_factory)
        # no fixed minimum: the panel's own (its buttons' text at the desktop's font size) holds
        row.addWidget(self.analysis_panel)
        row.setStretchFactor(1, 1)
        row.setSizes([LEFT_WIDTH, WINDOW_SIZE[0] - LEFT_WIDTH - RIGHT_WIDTH, RIGHT_WIDTH])
        self.tabs.addTab(listen, "Listen")
        self.ctx.start_recording = self.record_site  # for the guided exam
        self.ctx.stop_recording = self.record_panel.stop_recording
        self._add_workflow_tabs()

        c = self.ctx
        c.message.connect(lambda level, text, key: self.banners.show_message(level, text, key or None))
        c.messageCleared.connect(self.banners.clear)
        self.source_panel.sourceChosen.connect(self._source_picked)
        self.source_panel.filterChanged.connect(self._filter_changed)
        self.source_panel.gainChanged.connect(self._gain_changed)
        self.source_panel.windowChanged.connect(self._window_changed)
        self.live_view.sourceFailed.connect(self._source_failed)
        self.review_panel.listChanged.connect(self.analysis_panel.set_recordings)

        self._add_shortcuts()
        screen = self.screen() or QApplication.primaryScreen()
        self.fit_to(screen.availableGeometry() if screen is not None else None)
        self.source_panel.devicesListed.connect(lambda _n, _e: self._announce_devices())
        self.source_panel.refresh()
        self._recover()
        self.review_panel.refresh()
        if autostart:
            self._autostart()
        if load_model:
            self.analysis_panel.start_loading()
        app = QApplication.instance()
        if app is not None:  # also end the worker thread if the app quits without closing us
            app.aboutToQuit.connect(self.analysis_panel.shutdown)

    # ------------------------------------------------------------------ start-up
    def _place_banners(self) -> None:
        """Lay the message strip over the tab row, from after the last tab to the right edge."""
        bar = self.tabs.tabBar()
        top_left = bar.mapTo(self.centralWidget(), bar.rect().topLeft())
        x = top_left.x() + bar.sizeHint().width() + BANNER_GAP_PX
        right = self.tabs.mapTo(self.centralWidget(), self.tabs.rect().topRight()).x()
        self.banners.setGeometry(x, top_left.y(), max(0, right - x + 1), max(bar.height(), bar.sizeHint().height()))

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        self._place_banners()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().showEvent(event)
        self._place_banners()

    def fit_to(self, available: QRect | None) -> None:
        """Size and place the window inside ``available`` (a screen's free area, px): the preferred
        :data:`WINDOW_SIZE` where it fits, else the whole area less a title bar. None: preferred size."""
        if available is None or available.isEmpty():
            self.resize(*WINDOW_SIZE)
            return
        w = min(WINDOW_SIZE[0], available.width())
        h = min(WINDOW_SIZE[1], available.height() - TITLE_BAR_PX)
        self.resize(w, h)
        self.move(available.x() + (available.width() - w) // 2,
                  available.y() + max(0, (available.height() - TITLE_BAR_PX - h) // 2))

    def _add_shortcuts(self) -> None:
        """Menus with the keyboard shortcuts for hands busy with a stethoscope (Help > Keyboard
        shortcuts lists them; the buttons' tooltips name them too)."""
        self.menu_actions = shortcuts.install(self)

    def _add_workflow_tabs(self) -> None:
        try:
            from stethodesk.gui import workflow
        except ImportError:
            return  # the workflow package is optional
        if not hasattr(workflow, "make_tabs"):
            return  # not built yet (an empty namespace package)
        try:
            for title, widget in workflow.make_tabs(self.ctx):
                self.tabs.addTab(widget, title)
        except Exception as exc:  # a broken extra tab must not take the app down
            self.banners.show_message("warning", f"Some tabs could not be opened: {exc}", "workflow")

    def _announce_devices(self) -> None:
        sp = self.source_panel
        self.banners.clear("devices")
        if sp.device_error:
            self.banners.show_message("warning", sp.device_error + " The simulated stethoscope still works.",
                                      "devices")
        elif sp.device_count() == 0:
            self.banners.show_message(
                "warning",
                "No audio input was found. Connect a stethoscope or microphone and press Refresh, "
                "or listen to the simulated stethoscope.",
                "devices",
            )

    def _recover(self) -> None:
        folder = self.ctx.recordings_dir

        def work():
            try:
                from stethodesk.audio.recorder import recover_incomplete

                found = recover_incomplete(folder)
                self._relay.recovered.emit([str(p) for p in found], "")
            except Exception as exc:
                self._relay.recovered.emit([], str(exc))

        threading.Thread(target=work, name="recover", daemon=True).start()

    def _on_recovered(self, found: list, error: str) -> None:
        if error:
            self.banners.show_message("warning", f"Could not check for interrupted recordings: {error}", "recover")
        elif found:
            names = ", ".join(p.rsplit("/", 1)[-1] for p in found[:5]) + (" \u2026" if len(found) > 5 else "")
            self.banners.show_message(
                "info", f"Recovered {len(found)} recording(s) interrupted last time: {names}. "
                        "They are in the recordings list, marked \u201crecovered\u201d.", "recover")
            self.review_panel.refresh()

    def _autostart(self) -> None:
        saved = self.ctx.settings.get("source")
        sp = self.source_panel
        if saved and sp.select_choice(saved):
            choice = sp.current_choice()
            if saved.get("kind") == "file":
                choice = saved
            self.start_source(choice)
            return
        if saved and saved.get("kind") == "device":
            self.banners.show_message(
                "warning", f"Your input \u201c{saved.get('name')}\u201d is not connected; "
                           "the simulated stethoscope is playing instead.", "devices")
        if saved is None and sp.device_count():
            self.start_source(sp.offers[0].choice)
            return
        name = sources.default_synth_name()
        if name:
            sp.select_choice({"kind": "synth", "name": name})
            self.start_source({"kind": "synth", "name": name})

    # ------------------------------------------------------------------ sources
    def start_source(self, choice: dict):
        """Stop the current input and start ``choice``; returns the new source or None."""
        if self.record_panel.is_recording:
            self.record_panel.stop_recording("You switched the input.")
        self.stop_source()
        try:
            src = sources.open_source(choice)
        except Exception as exc:
            self.banners.show_message("error", f"Could not start the input: {exc}", "source")
            return None
        self.attach_source(src, choice)
        return src

    def attach_source(self, src, choice: dict | None = None) -> None:
        """Show and record from an already started ``src``; ``choice`` (if given) is remembered."""
        if self.ctx.current_source is not None:
            self.stop_source()
        self.banners.clear("source")
        if getattr(src, "note", ""):  # a file played as the input, with damaged frames left out
            self.banners.show_message("warning", f"Playing the file without its damaged part: {src.note}", "source")
        src.add_listener(self.record_panel.feed_hook)
        self.ctx.current_source = src
        self.live_view.set_source(src)
        self.ctx.pipeline = self.live_view.pipeline
        if choice is not None:
            if self.source_panel.current_choice() != choice:
                self.source_panel.select_choice(choice)  # the picker shows what is playing
            if choice.get("kind") == "synth":
                offer = next((o for o in self.source_panel.offers if o.choice == choice), None)
                if offer is not None and offer.domain:
                    self.record_panel.set_domain(offer.domain)
            self.ctx.save_settings(source=choice)
        self.ctx.sourceChanged.emit(src)
        self.analysis_panel.update_source_hint()

    def _source_picked(self, choice: dict) -> None:
        """The user chose an input: "no input found" / "not connected" have done their job."""
        self.banners.clear("devices")
        self.start_source(choice)

    def stop_source(self) -> None:
        src = self.ctx.current_source
        self.ctx.current_source = None
        self.ctx.pipeline = None
        self.live_view.set_source(None)
        if src is not None:
            try:
                src.remove_listener(self.record_panel.feed_hook)
                src.stop()
            except Exception:
                pass

    def _source_failed(self, error: str) -> None:
        if self.record_panel.is_recording:
            self.record_panel.stop_recording(f"The input stopped: {error}.")
        else:
            self.banners.show_message("error", f"The input stopped: {error}. Reconnect it and press Listen.",
                                      "source")

    def record_site(self, site: str, domain: str, seconds: float | None = None, filter: str | None = None):
        """``ctx.start_recording``: switch the stethoscope to ``filter`` (when given: the protocol's
        diaphragm or bell, heard, shown and written into the recording's metadata), then record
        ``site`` for ``seconds``. Returns the FLAC path being written, or None (a banner says why)."""
        if filter and filter in self.source_panel.filter_buttons and not self.record_panel.is_recording:
            self.set_filter(filter)
        return self.record_panel.record_site(site, domain, seconds)

    # ------------------------------------------------------------------ display settings
    def set_filter(self, mode: str) -> None:
        """Choose the stethoscope filter as if its button were pressed."""
        self.source_panel.filter_buttons[mode].setChecked(True)
        self._filter_changed(mode)

    def _filter_changed(self, mode: str) -> None:
        self.live_view.set_mode(mode)
        self.ctx.save_settings(filter=mode)
        self.review_panel.filter_changed()

    def _gain_changed(self, gain_db: float) -> None:
        self.live_view.set_gain_db(gain_db)
        self.ctx.save_settings(gain_db=gain_db)

    def _window_changed(self, seconds: float) -> None:
        self.live_view.set_window(seconds)
        self.ctx.save_settings(window_s=seconds)

    # ------------------------------------------------------------------ shutdown
    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        rec = self.record_panel.recorder
        self.record_panel.recorder = None
        if rec is not None:
            try:
                rec.stop()  # at exit we wait: the file must be complete
            except Exception:
                pass
        self.review_panel.player.stop()
        self.stop_source()
        self.analysis_panel.shutdown()
        super().closeEvent(event)
