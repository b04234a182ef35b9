"""Left-hand controls: input source, channel, rate, stethoscope filter, gain, window."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from stethodesk.audio.fileio import FILE_DIALOG_FILTER
from stethodesk.gui import sources
from stethodesk.gui.live_view import WINDOW_CHOICES_S

FILTER_TITLES = {
    "bell": ("Bell", "Low sounds: S3, S4, diastolic rumbles (about 20-200 Hz)"),
    "diaphragm": ("Diaphragm", "High sounds: S1/S2, most murmurs, lung sounds (about 100-1000 Hz)"),
    "wide": ("Wide", "Everything the stethoscope picks up (about 20-2000 Hz)"),
}
GAIN_RANGE_DB = (-12, 36)
FILE_FILTER = FILE_DIALOG_FILTER


class _Relay(QObject):
    listed = Signal(list, object)  # device offers, error text or None


class SourcePanel(QWidget):
    """Signals: sourceChosen(dict), devicesListed(int, str), filterChanged(str), gainChanged(float),
    windowChanged(float)."""

    sourceChosen = Signal(dict)
    devicesListed = Signal(int, str)  # number of inputs found, error text ("" = none)
    filterChanged = Signal(str)
    gainChanged = Signal(float)
    windowChanged = Signal(float)

    def __init__(self, ctx, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.offers: list[sources.Offer] = []
        self.device_error: str | None = None
        self._relay = _Relay()
        self._relay.listed.connect(self._apply_devices)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)

        box = QGroupBox("Input")
        form = QFormLayout(box)
        self.source_combo = QComboBox()
        self.source_combo.setMinimumContentsLength(18)
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        form.addRow(self.source_combo)
        self.rate_combo = QComboBox()
        form.addRow("Rate", self.rate_combo)
        self.channel_combo = QComboBox()
        form.addRow("Channel", self.channel_combo)
        row = QHBoxLayout()
        self.start_button = QPushButton("Listen")
        self.start_button.setObjectName("primary")
        self.start_button.setToolTip("Start the chosen input")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Look for newly connected inputs")
        row.addWidget(self.start_button)
        row.addWidget(self.refresh_button)
        form.addRow(row)
        lay.addWidget(box)

        view = QGroupBox("Stethoscope")
        vform = QFormLayout(view)
        frow = QHBoxLayout()
        self.filter_group = QButtonGroup(self)
        self.filter_buttons = {}
        for mode, (title, tip) in FILTER_TITLES.items():
            b = QPushButton(title)
            b.setCheckable(True)
            b.setToolTip(tip)
            self.filter_group.addButton(b)
            self.filter_buttons[mode] = b
            frow.addWidget(b)
        vform.addRow(frow)
        self.gain_slider = QSlider(Qt.Orientation.Horizontal)
        self.gain_slider.setRange(*GAIN_RANGE_DB)
        self.gain_label = QLabel()
        grow = QHBoxLayout()
        grow.addWidget(self.gain_slider, 1)
        grow.addWidget(self.gain_label)
        vform.addRow("Gain", grow)
        self.window_combo = QComboBox()
        for s in WINDOW_CHOICES_S:
            self.window_combo.addItem(f"{s} s", float(s))
        vform.addRow("Window", self.window_combo)
        lay.addWidget(view)

        st = ctx.settings
        mode = st.get("filter", "bell")
        self.filter_buttons.get(mode, self.filter_buttons["bell"]).setChecked(True)
        self.gain_slider.setValue(int(st.get("gain_db", 0)))
        self._show_gain(self.gain_slider.value())
        idx = self.window_combo.findData(float(st.get("window_s", 8)))
        self.window_combo.setCurrentIndex(max(0, idx))

        self.source_combo.currentIndexChanged.connect(self._offer_changed)
        self.source_combo.activated.connect(self._offer_picked)
        self.start_button.clicked.connect(self._start_clicked)
        self.refresh_button.clicked.connect(self.refresh_async)
        self.filter_group.buttonClicked.connect(self._filter_clicked)
        self.gain_slider.valueChanged.connect(self._gain_moved)
        self.window_combo.currentIndexChanged.connect(
            lambda _i: self.windowChanged.emit(float(self.window_combo.currentData()))
        )

    # ------------------------------------------------------------------ offers
    def refresh(self) -> None:
        """Re-list devices and simulated sounds now (start-up: the remembered input is needed at once)."""
        self._apply_devices(*sources.device_offers())

    def refresh_async(self) -> None:
        """Re-list devices in a helper thread (probing rates takes 0.1-0.3 s), then update the picker."""
        self.refresh_button.setEnabled(False)
        self.refresh_button.setText("Looking\u2026")
        threading.Thread(target=lambda: self._relay.listed.emit(*sources.device_offers()),
                         name="device-list", daemon=True).start()

    def _apply_devices(self, dev: list, error) -> None:
        self.refresh_button.setEnabled(True)
        self.refresh_button.setText("Refresh")
        current = self.current_choice()
        self.device_error = error
        self.offers = dev + sources.synth_offers()
        self.offers.append(sources.Offer("Play a file\u2026", {"kind": "file", "path": ""},
                                         tooltip="Stream a WAV/FLAC/OGG/MP3 file as if it were a stethoscope"))
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        for i, o in enumerate(self.offers):
            self.source_combo.addItem(o.text)
            self.source_combo.setItemData(i, o.tooltip, Qt.ItemDataRole.ToolTipRole)
        if dev:
            self.source_combo.insertSeparator(len(dev))
        self.source_combo.blockSignals(False)
        if current:
            self.select_choice(current)
        self._offer_changed()
        self.devicesListed.emit(len(dev), error or "")

    def device_count(self) -> int:
        return sum(1 for o in self.offers if o.choice["kind"] == "device")

    def _offer_at(self, combo_index: int) -> sources.Offer | None:
        n_dev = self.device_count()
        if n_dev and combo_index == n_dev:
            return None  # the separator
        i = combo_index - (1 if n_dev and combo_index > n_dev else 0)
        return self.offers[i] if 0 <= i < len(self.offers) else None

    def _combo_index(self, offer_index: int) -> int:
        n_dev = self.device_count()
        return offer_index + (1 if n_dev and offer_index >= n_dev else 0)

    def current_offer(self) -> sources.Offer | None:
        return self._offer_at(self.source_combo.currentIndex())

    def current_choice(self) -> dict | None:
        o = self.current_offer()
        if o is None:
            return None
        choice = dict(o.choice)
        if choice["kind"] == "device":
            choice["samplerate"] = self.rate_combo.currentData() or choice["samplerate"]
            choice["channel"] = self.channel_combo.currentData()
        return choice

    def select_choice(self, choice: dict) -> bool:
        """Select the offer matching a remembered choice; False if it is not available now."""
        for i, o in enumerate(self.offers):
            c = o.choice
            if c["kind"] != choice.get("kind"):
                continue
            if c["kind"] == "file" or c.get("name") == choice.get("name"):
                self.source_combo.setCurrentIndex(self._combo_index(i))
                self._offer_changed()
                if c["kind"] == "device":
                    j = self.rate_combo.findData(choice.get("samplerate"))
                    if j >= 0:
                        self.rate_combo.setCurrentIndex(j)
                    j = self.channel_combo.findData(choice.get("channel"))
                    if j >= 0:
                        self.channel_combo.setCurrentIndex(j)
                return True
        return False

    def _offer_changed(self, *_args) -> None:
        o = self.current_offer()
        self.rate_combo.clear()
        self.channel_combo.clear()
        is_dev = o is not None and o.choice["kind"] == "device"
        self.rate_combo.setEnabled(is_dev)
        self.channel_combo.setEnabled(is_dev)
        if not is_dev:
            return
        d = o.device
        rates = sorted({int(r) for r in (getattr(d, "supported_rates", None) or [])} | {int(d.default_samplerate)})
        for r in rates:
            self.rate_combo.addItem(f"{r / 1000:g} kHz" + (" (native)" if r == int(d.default_samplerate) else ""), r)
        self.rate_combo.setCurrentIndex(rates.index(int(d.default_samplerate)))
        self.channel_combo.addItem("Mix all channels" if d.max_input_channels > 1 else "Mono", None)
        if d.max_input_channels > 1:
            for c in range(d.max_input_channels):
                self.channel_combo.addItem(f"Channel {c + 1}", c)

    def _offer_picked(self, _index: int) -> None:
        """The user picked an entry (not a programmatic change): a simulated sound plays at once,
        as the picker says; a device or a file still waits for Listen (probing, a file dialog)."""
        choice = self.current_choice()
        if choice is not None and choice["kind"] == "synth":
            self.sourceChosen.emit(choice)

    def _start_clicked(self) -> None:
        choice = self.current_choice()
        if choice is None:
            return
        if choice["kind"] == "file":
            path, _ = QFileDialog.getOpenFileName(self, "Stream a file as the stethoscope", "", FILE_FILTER)
            if not path:
                return
            choice["path"] = path
        self.sourceChosen.emit(choice)

    # ------------------------------------------------------------------ view controls
    def current_filter(self) -> str:
        for mode, b in self.filter_buttons.items():
            if b.isChecked():
                return mode
        return "bell"

    def _filter_clicked(self, _button) -> None:
        self.filterChanged.emit(self.current_filter())

    def _show_gain(self, value: int) -> None:
        self.gain_label.setText(f"{value:+d} dB")

    def _gain_moved(self, value: int) -> None:
        self._show_gain(value)
        self.gainChanged.emit(float(value))
