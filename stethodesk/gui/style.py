"""Colours and the application style sheet: a calm, light, clinical look.

One place for colours so plots, bars and banners agree. The look stays light on a dark
desktop (``stethodesk.gui.app`` sets a light palette under this sheet, so no control takes
the desktop's dark backgrounds under this dark text); sizes follow the desktop's font size
(:func:`style_sheet`); a focused control shows an accent outline.
"""

from __future__ import annotations

from string import Template

ACCENT = "#0f766e"  # teal: primary actions, the live trace
ACCENT_DARK = "#115e59"
TEXT = "#1f2937"
MUTED = "#6b7280"
BORDER = "#d1d5db"
PANEL = "#f8fafc"
RECORD = "#b91c1c"  # red: the record button while recording
PLAYHEAD = "#c2410c"

# Banner levels -> (background, border, text)
BANNER_COLOURS = {
    "info": ("#eff6ff", "#93c5fd", "#1e3a8a"),
    "success": ("#f0fdf4", "#86efac", "#14532d"),
    "warning": ("#fffbeb", "#fcd34d", "#78350f"),
    "error": ("#fef2f2", "#fca5a5", "#7f1d1d"),
}

# Signal-quality level -> pill colour
QUALITY_COLOURS = {"good": "#15803d", "fair": "#b45309", "poor": "#b91c1c", None: MUTED}

MIN_FONT_PT = 10.0  # the app's text is never smaller than this, whatever the desktop says

# $names are filled by style_sheet(): colours above, sizes from the desktop's font size
_SHEET = Template("""
QWidget { color: $TEXT; font-size: ${pt}pt; }
QMainWindow, QWidget#central { background: white; }
QGroupBox { border: 1px solid $BORDER; border-radius: 6px; margin-top: 14px; padding: 8px 6px 6px 6px;
            background: $PANEL; font-weight: 600; }
QGroupBox::title { subcontrol-origin: margin; left: 8px; padding: 0 4px; color: $ACCENT_DARK; }
QPushButton { border: 1px solid $BORDER; border-radius: 4px; padding: 4px 10px; background: white; }
QPushButton:hover { border-color: $ACCENT; }
QPushButton:checked { background: $ACCENT; color: white; border-color: $ACCENT; }
QPushButton:disabled { color: #9ca3af; background: #f3f4f6; }
QPushButton#primary { background: $ACCENT; color: white; border-color: $ACCENT; font-weight: 600; }
QPushButton#record { background: white; color: $RECORD; border: 1px solid $RECORD; font-weight: 600; }
QPushButton#record:checked { background: $RECORD; color: white; }
QPushButton#task { text-align: left; padding: 5px 8px; }
QPushButton:focus, QPushButton#primary:focus, QPushButton#record:focus { border: 2px solid $FOCUS; }
QLineEdit:focus, QComboBox:focus, QAbstractSpinBox:focus, QListView:focus, QTableView:focus,
QTextEdit:focus, QSlider:focus { border: 2px solid $FOCUS; border-radius: 3px; }
QLabel#muted { color: $MUTED; }
QLabel#heartRate { font-size: ${big}pt; font-weight: 600; color: $ACCENT_DARK; }
QLabel#disclaimer { color: $MUTED; font-size: ${small}pt; font-style: italic; }
QTextBrowser { border: 1px solid $BORDER; border-radius: 4px; background: white; }
QProgressBar { border: 1px solid $BORDER; border-radius: 3px; background: #f3f4f6; text-align: center;
               max-height: 12px; font-size: ${tiny}pt; }
QProgressBar::chunk { background: $ACCENT; border-radius: 2px; }
QListWidget { border: 1px solid $BORDER; border-radius: 4px; background: white; }
""")
FOCUS = "#2563eb"  # blue: the outline of the control with the keyboard focus (not the teal of a pressed button)


def style_sheet(base_pt: float = MIN_FONT_PT) -> str:
    """The application style sheet for body text of ``base_pt`` points (the desktop's font
    size, at least :data:`MIN_FONT_PT`); the heart rate and the notes scale with it."""
    pt = max(MIN_FONT_PT, float(base_pt))
    return _SHEET.substitute(TEXT=TEXT, BORDER=BORDER, PANEL=PANEL, ACCENT=ACCENT, ACCENT_DARK=ACCENT_DARK,
                             RECORD=RECORD, MUTED=MUTED, FOCUS=FOCUS, pt=f"{pt:g}", big=f"{2 * pt:g}",
                             small=f"{0.9 * pt:g}", tiny=f"{0.8 * pt:g}")


STYLE_SHEET = style_sheet()  # at the default size (tests and tools that style one widget)
