"""Recordings list, import, and playback with a playhead on the waveform.

Files are read and prepared in helper threads; results come back through a
queued signal. A bad import shows an inline error banner (never a modal box).
The list is :class:`stethodesk.store.Shelf`'s: imported files are copied into the
recordings folder and listed again after a restart; rename and delete are
:mod:`stethodesk.gui.recording_actions`; play / stop / speed / seek / zoom are
:class:`stethodesk.gui.playback.PlaybackControls`.
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
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from stethodesk.audio import dsp
from stethodesk.audio.fileio import FILE_DIALOG_FILTER, AudioFileError, probe
from stethodesk.gui import style
from stethodesk.gui.elided import ElidedLabel
from stethodesk.gui.playback import PlaybackControls
from stethodesk.gui.recording_actions import RecordingActions, shelf_of
from stethodesk.gui.sites import site_title

DISPLAY_RATE_HZ = 4000  # waveform drawn at most at this rate (peak downsampling does the rest)
IMPORT_FILTER = FILE_DIALOG_FILTER  # every format the reader takes (M4A from phone apps too)


@dataclass
class LoadedAudio:
    """A recording in memory: ``samples`` (n,) float32 mono at ``samplerate``."""

    path: Path
    samples: np.ndarray
    samplerate: int
    meta: dict


def _import_copy(ctx, path: Path) -> tuple[Path, str | None]:
    """Copy ``path`` into the recordings list: ``(copy, None)``, or ``(path, reason)`` when it could not."""
    from stethodesk.store import StoreError

    try:
        return shelf_of(ctx).import_copy(path), None
    except StoreError as exc:
        return path, str(exc)


def channel_choices(channels: int) -> list[str]:
    """The choices offered for a multi-channel file: the mix first, then each channel (1-based)."""
    return ["Mix all channels"] + [f"Channel {c + 1}" for c in range(channels)]


def _note_channel(copy: Path, channel: int) -> None:
    """Remember the chosen channel beside the imported copy (user-only, like every sidecar)."""
    from stethodesk.audio.sidecar import write_json_atomic

    try:
        write_json_atomic(copy.with_suffix(".json"), {"channel": int(channel)})
    except OSError:
        pass  # the copy still opens, mixed down, after a restart


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
        info = probe(path)
        secs = info.seconds if info.exact else None  # an MP3 header only guesses: shown once opened
    except Exception:
        secs = 0.0
    when = (meta.get("started") or "")[:16].replace("T", " ")
    parts = [when or path.stem]
    if meta.get("domain"):
        parts.append(meta["domain"].capitalize())
    if meta.get("site"):
        parts.append(site_title(meta["site"]).split(" (")[0])
    if secs is not None:
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
        self.loaded: LoadedAudio | None = None
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
        self.actions = RecordingActions(self)
        manage = QHBoxLayout()
        manage.addWidget(self.actions.rename_button)
        manage.addWidget(self.actions.delete_button)
        left.addLayout(manage)
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
        self.controls = PlaybackControls(self.plot, lambda: self.ctx.settings.get("filter", "bell"))
        self.player, self.playhead = self.controls.player, self.controls.playhead
        self.speed_combo, self.play_button = self.controls.speed_combo, self.controls.play_button
        right.addWidget(self.plot, 1)
        transport = QHBoxLayout()
        self.title_label = ElidedLabel("Select a recording")
        self.title_label.setObjectName("muted")
        transport.addWidget(self.title_label, 1)
        transport.addWidget(self.controls)
        right.addLayout(transport)
        lay.addLayout(right, 5)

        self.import_button.clicked.connect(self._import_clicked)
        self.list.currentItemChanged.connect(self._selected)
        self.controls.message.connect(lambda level, text: self.ctx.show_message(level, text, "playback"))
        self.ctx.recordingSaved.connect(lambda _r: self.refresh())

    # ------------------------------------------------------------------ list
    def refresh(self) -> None:
        """Re-read the recordings list (recorder files and imported copies) in a helper thread."""
        try:
            shelf = shelf_of(self.ctx)
        except Exception as exc:  # the records database: say so, the list stays as it is
            self.ctx.show_message("error", f"The recordings list could not be read: {exc}", "recordings")
            return

        def scan():
            try:
                shelf.forget_missing()
                entries = shelf.entries()
            except Exception as exc:
                self._relay.failed.emit(f"The recordings list could not be read: {exc}", -1)
                return
            rows = []
            for e in entries:
                if e.imported:
                    text, meta = f"Imported: {e.path.name}", {}
                else:
                    text, meta = _describe(e.path)
                rows.append((e.path, f"{e.title}  \u00b7  {text}" if e.title else text, meta, e.imported))
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

    def current_path(self) -> Path | None:
        """The recording of the list's current row, or None."""
        item = self.list.currentItem()
        return Path(item.data(Qt.ItemDataRole.UserRole)[0]) if item is not None else None

    def _selected(self, item, _prev=None) -> None:
        if item is None:
            return
        path, meta = item.data(Qt.ItemDataRole.UserRole)
        self.load(Path(path), meta)

    def forget_selection(self) -> None:
        """No recording is selected any more (it was deleted): stop, clear the waveform and say so."""
        self._token += 1  # a load still in flight is dropped
        self._draw_token += 1
        self.controls.clear()
        self.loaded = None
        self.curve.setData([], [])
        self.title_label.setText("Select a recording")
        self.ctx.selected_recording = None
        self.ctx.selected_audio = None
        self.ctx.selected_meta = {}
        self.ctx.recordingSelected.emit(None)

    # ------------------------------------------------------------------ load / import
    def _import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a recording", "", IMPORT_FILTER)
        if not path:
            return
        try:
            channels = probe(path).channels
        except AudioFileError:
            channels = 1  # the load says what is wrong with it
        channel = None
        if channels > 1:  # like the input's Channel choice: which one holds the stethoscope?
            choices = channel_choices(channels)
            picked, ok = QInputDialog.getItem(self, "Channel", f"{Path(path).name} has {channels} channels. "
                                              "Which one holds the stethoscope?", choices, 0, False)
            if not ok:
                return
            channel = choices.index(picked) - 1 if picked != choices[0] else None
        self.import_file(Path(path), channel)

    def import_file(self, path: Path, channel: int | None = None) -> None:
        """Copy any audio file into the recordings list and open it; errors show as a banner.

        The copy (the original is left untouched) is what is selected and analysed, so the
        entry comes back after a restart and deleting it never touches the original.
        ``channel`` (0-based) keeps one channel of a multi-channel file, also after a restart
        (noted in the copy's sidecar); None mixes them down.
        """
        self.load(Path(path), {} if channel is None else {"channel": channel}, imported=True)

    def load(self, path: Path, meta: dict | None = None, imported: bool = False) -> None:
        self._token += 1
        token = self._token
        self.controls.stop()  # the playhead of the previous file goes away
        self.title_label.setText(f"Loading {path.name}\u2026")

        def work():
            from stethodesk.audio.fileio import AudioFileError, read_audio

            notes: list[str] = []  # damaged frames the reader left out (the rest is shown and used)
            try:
                x, sr = read_audio(path, channel=(meta or {}).get("channel"), notes=notes)
            except AudioFileError as exc:
                self._relay.failed.emit(str(exc), token)
                return
            except Exception as exc:  # never crash on a file: report it
                self._relay.failed.emit(f"{path.name}: could not be opened: {exc}", token)
                return
            copy, problem = _import_copy(self.ctx, path) if imported else (path, None)
            if imported and not problem and (meta or {}).get("channel") is not None:
                _note_channel(copy, meta["channel"])
            if problem:  # readable but not kept: reviewed from where it is, and said so
                notes.insert(0, f"{problem} It is shown, but will not be listed after a restart.")
            if notes:  # one warning banner; the file still opens
                self._relay.failed.emit(" ".join(notes), -1)
            la = LoadedAudio(copy, x, int(sr), dict(meta or {}, imported=imported))
            self._relay.loaded.emit(la, token)

        threading.Thread(target=work, name="recording-load", daemon=True).start()

    def _on_failed(self, message: str, token: int) -> None:
        if token == -1:  # about the list or the import copy, not the file being opened
            self.ctx.show_message("warning", message, "recordings")
            return
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
            if la.path not in self.recording_paths():
                self.refresh()  # the list is rebuilt with this file selected
        self._select_in_list(la.path)
        self.controls.set_audio(la.samples, la.samplerate)
        self._draw()
        secs = la.samples.size / la.samplerate
        self.title_label.setText(f"{la.path.name}  \u00b7  {secs:.1f} s  \u00b7  {la.samplerate / 1000:g} kHz")
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
        self.controls.fit()
        lim = float(np.max(np.abs(y))) * 1.1 if y.size else 1.0
        self.plot.setYRange(-lim, lim, padding=0)

    def filter_changed(self) -> None:
        self._draw()

    # ------------------------------------------------------------------ playback
    def toggle_play(self) -> None:
        """Play the selected recording, or stop it (Space)."""
        self.controls.toggle()

    def play(self, speed: float | None = None) -> None:
        """Play the selected recording from the start (or the point clicked) at ``speed``."""
        self.controls.play(speed)
