"""Recordings list, import, and playback with a playhead on the waveform.

Files are read and prepared in helper threads; results come back through a
queued signal. A bad import shows an inline error banner (never a modal box).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from stethodesk.audio import dsp
from stethodesk.gui import style
from stethodesk.gui.elided import ElidedLabel
from stethodesk.gui.player import SPEEDS, Player
from stethodesk.gui.sites import site_title

DISPLAY_RATE_HZ = 4000  # waveform drawn at most at this rate (peak downsampling does the rest)
IMPORT_FILTER = "Audio files (*.wav *.flac *.ogg *.mp3 *.WAV *.FLAC *.OGG *.MP3);;All files (*)"


@dataclass
class LoadedAudio:
    """A recording in memory: ``samples`` (n,) float32 mono at ``samplerate``."""

    path: Path
    samples: np.ndarray
    samplerate: int
    meta: dict


class _Relay(QObject):
    listed = Signal(list)
    loaded = Signal(object, int)  # LoadedAudio, request token
    failed = Signal(str, int)
    drawn = Signal(object, object, int)  # x, y, draw token


def _describe(path: Path) -> tuple[str, dict]:
    """List text and sidecar metadata of a recording."""
    meta = {}
    side = path.with_suffix(".json")
    try:
        meta = json.loads(side.read_text())
    except (OSError, ValueError):
        pass
    try:
        import soundfile as sf

        secs = sf.info(str(path)).duration
    except Exception:
        secs = 0.0
    when = (meta.get("started") or "")[:16].replace("T", " ")
    parts = [when or path.stem]
    if meta.get("domain"):
        parts.append(meta["domain"].capitalize())
    if meta.get("site"):
        parts.append(site_title(meta["site"]).split(" (")[0])
    parts.append(f"{secs:.1f} s")
    if meta and not meta.get("complete", True):
        parts.append("recovered")
    return "  \u00b7  ".join(parts), meta


class ReviewPanel(QWidget):
    """Signals: audioLoaded(object LoadedAudio), listChanged(list of Path)."""

    audioLoaded = Signal(object)
    listChanged = Signal(list)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.player = Player(self)
        self.loaded: LoadedAudio | None = None
        self._imported: list[Path] = []
        self._token = 0
        self._draw_token = 0
        self._relay = _Relay()
        self._relay.listed.connect(self._fill_list)
        self._relay.loaded.connect(self._on_loaded)
        self._relay.failed.connect(self._on_failed)
        self._relay.drawn.connect(self._show_waveform)

        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        left = QVBoxLayout()
        head = QHBoxLayout()
        title = QLabel("Recordings")
        title.setStyleSheet(f"font-weight: 600; color: {style.ACCENT_DARK};")
        head.addWidget(title, 1)
        self.import_button = QPushButton("Import\u2026")
        self.import_button.setToolTip("Open a WAV, FLAC, OGG or MP3 file of any rate and channel count")
        head.addWidget(self.import_button)
        left.addLayout(head)
        self.list = QListWidget()
        self.list.setMinimumWidth(260)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # long names elide; the tooltip has all
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        left.addWidget(self.list)
        lay.addLayout(left, 2)

        right = QVBoxLayout()
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.getAxis("left").setStyle(showValues=False)
        self.plot.setLabel("bottom", "seconds")
        self.plot.getPlotItem().setClipToView(True)
        self.plot.getPlotItem().setDownsampling(auto=True, mode="peak")
        self.curve = self.plot.plot(pen=pg.mkPen(style.ACCENT_DARK, width=1), skipFiniteCheck=True)
        self.playhead = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(style.PLAYHEAD, width=2))
        self.playhead.setVisible(False)
        self.plot.addItem(self.playhead)
        right.addWidget(self.plot, 1)
        transport = QHBoxLayout()
        self.title_label = ElidedLabel("Select a recording")
        self.title_label.setObjectName("muted")
        transport.addWidget(self.title_label, 1)
        self.speed_combo = QComboBox()
        for s in SPEEDS:
            self.speed_combo.addItem(f"{s:g}\u00d7", s)
        self.speed_combo.setToolTip("Playback speed; the pitch stays the same")
        transport.addWidget(self.speed_combo)
        self.play_button = QPushButton("\u25b6  Play")
        self.play_button.setObjectName("primary")
        self.play_button.setEnabled(False)
        transport.addWidget(self.play_button)
        right.addLayout(transport)
        lay.addLayout(right, 5)

        self.import_button.clicked.connect(self._import_clicked)
        self.list.currentItemChanged.connect(self._selected)
        self.play_button.clicked.connect(self._play_clicked)
        self.player.position.connect(self._show_position)
        self.player.finished.connect(self._play_finished)
        self.player.message.connect(lambda level, text: self.ctx.show_message(level, text, "playback"))
        self.ctx.recordingSaved.connect(lambda _r: self.refresh())

    # ------------------------------------------------------------------ list
    def refresh(self) -> None:
        """Re-read the recordings folder in a helper thread."""
        folder = self.ctx.recordings_dir
        imported = list(self._imported)

        def scan():
            files = sorted(folder.glob("*.flac"), key=lambda p: p.stat().st_mtime, reverse=True)
            rows = [(p, *_describe(p), False) for p in files]
            rows = [(p, f"Imported: {p.name}", {}, True) for p in imported] + rows
            self._relay.listed.emit(rows)

        threading.Thread(target=scan, name="recordings-scan", daemon=True).start()

    def _fill_list(self, rows: list) -> None:
        current = self.ctx.selected_recording
        self.list.blockSignals(True)
        self.list.clear()
        for path, text, meta, _imported in rows:
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, (str(path), meta))
            item.setToolTip(str(path) + (f"\n{meta['notes']}" if meta.get("notes") else ""))
            self.list.addItem(item)
            if current is not None and Path(path) == Path(current):
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self.listChanged.emit(self.recording_paths())

    def _select_in_list(self, path: Path) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if Path(item.data(Qt.ItemDataRole.UserRole)[0]) == Path(path):
                self.list.blockSignals(True)
                self.list.setCurrentItem(item)
                self.list.blockSignals(False)
                return

    def recording_paths(self) -> list[Path]:
        return [Path(self.list.item(i).data(Qt.ItemDataRole.UserRole)[0]) for i in range(self.list.count())]

    def _selected(self, item, _prev=None) -> None:
        if item is None:
            return
        path, meta = item.data(Qt.ItemDataRole.UserRole)
        self.load(Path(path), meta)

    # ------------------------------------------------------------------ load / import
    def _import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a recording", "", IMPORT_FILTER)
        if path:
            self.import_file(Path(path))

    def import_file(self, path: Path) -> None:
        """Open any audio file for review and analysis; errors show as a banner."""
        self.load(Path(path), {}, imported=True)

    def load(self, path: Path, meta: dict | None = None, imported: bool = False) -> None:
        self._token += 1
        token = self._token
        self.player.stop()
        self.title_label.setText(f"Loading {path.name}\u2026")

        def work():
            from stethodesk.audio.fileio import AudioFileError, read_audio

            try:
                x, sr = read_audio(path)
            except AudioFileError as exc:
                self._relay.failed.emit(str(exc), token)
                return
            except Exception as exc:  # never crash on a file: report it
                self._relay.failed.emit(f"{path.name}: could not be opened: {exc}", token)
                return
            la = LoadedAudio(path, x, int(sr), dict(meta or {}, imported=imported))
            self._relay.loaded.emit(la, token)

        threading.Thread(target=work, name="recording-load", daemon=True).start()

    def _on_failed(self, message: str, token: int) -> None:
        if token != self._token:
            return
        self.title_label.setText("Could not open the file")
        self.ctx.show_message("error", message, "import")

    def _on_loaded(self, la: LoadedAudio, token: int) -> None:
        if token != self._token:
            return
        self.loaded = la
        self.ctx.selected_recording = la.path
        self.ctx.selected_audio = (la.samples, la.samplerate)
        self.ctx.selected_meta = la.meta
        if la.meta.get("imported"):
            self.ctx.clear_message("import")
            if la.path not in self._imported:
                self._imported.insert(0, la.path)
                self.refresh()  # the list is rebuilt with this file selected
        self._select_in_list(la.path)
        self._draw()
        secs = la.samples.size / la.samplerate
        self.title_label.setText(f"{la.path.name}  \u00b7  {secs:.1f} s  \u00b7  {la.samplerate / 1000:g} kHz")
        self.play_button.setEnabled(True)
        self.ctx.recordingSelected.emit(la.path)
        self.audioLoaded.emit(la)

    def _draw(self) -> None:
        """Filter and reduce the waveform for display in a helper thread (long files take a while)."""
        la = self.loaded
        if la is None:
            return
        self._draw_token += 1
        token, mode = self._draw_token, self.ctx.settings.get("filter", "bell")

        def work():
            try:
                y = dsp.apply_filter(la.samples, la.samplerate, mode)
                sr = la.samplerate
                if sr > 2 * DISPLAY_RATE_HZ:
                    y = dsp.resample(y, sr, DISPLAY_RATE_HZ)
                    sr = DISPLAY_RATE_HZ
                x = np.arange(y.size, dtype=np.float64) / sr  # (n,) seconds
                self._relay.drawn.emit(x, y.astype(np.float32), token)
            except Exception as exc:
                self._relay.failed.emit(f"{la.path.name}: could not be displayed: {exc}", self._token)

        threading.Thread(target=work, name="waveform-prepare", daemon=True).start()

    def _show_waveform(self, x: np.ndarray, y: np.ndarray, token: int) -> None:
        if token != self._draw_token:
            return  # a newer file or filter is being prepared
        self.curve.setData(x, y, skipFiniteCheck=True)
        self.plot.setXRange(0, max(x[-1] if x.size else 1.0, 0.1), padding=0.01)
        lim = float(np.max(np.abs(y))) * 1.1 if y.size else 1.0
        self.plot.setYRange(-lim, lim, padding=0)

    def filter_changed(self) -> None:
        self._draw()

    # ------------------------------------------------------------------ playback
    def _play_clicked(self) -> None:
        if self.player.playing:
            self.player.stop()
            self._play_finished()
            return
        self.play()

    def play(self, speed: float | None = None) -> None:
        la = self.loaded
        if la is None:
            return
        if speed is not None:
            self.speed_combo.setCurrentIndex(self.speed_combo.findData(speed))
        speed = float(self.speed_combo.currentData())
        self.player.play(la.samples, la.samplerate, speed, self.ctx.settings.get("filter", "bell"))
        self.playhead.setValue(0.0)
        self.playhead.setVisible(True)
        self.play_button.setText("\u25a0  Stop")

    def _show_position(self, seconds: float) -> None:
        self.playhead.setValue(seconds)

    def _play_finished(self) -> None:
        self.play_button.setText("\u25b6  Play")
