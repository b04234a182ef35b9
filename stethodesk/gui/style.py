"""Colours and the application style sheet: a calm, light, clinical look.

One place for colours so plots, bars and banners agree.
"""

from __future__ import annotations

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

STYLE_SHEET = f"""
QWidget {{ color: {TEXT}; font-size: 10pt; }}
QMainWindow, QWidget#central {{ background: white; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 6px; margin-top: 14px; padding: 8px 6px 6px 6px;
            background: {PANEL}; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: {ACCENT_DARK}; }}
QPushButton {{ border: 1px solid {BORDER}; border-radius: 4px; padding: 4px 10px; background: white; }}
QPushButton:hover {{ border-color: {ACCENT}; }}
QPushButton:checked {{ background: {ACCENT}; color: white; border-color: {ACCENT}; }}
QPushButton:disabled {{ color: #9ca3af; background: #f3f4f6; }}
QPushButton#primary {{ background: {ACCENT}; color: white; border-color: {ACCENT}; font-weight: 600; }}
QPushButton#record {{ background: white; color: {RECORD}; border: 1px solid {RECORD}; font-weight: 600; }}
QPushButton#record:checked {{ background: {RECORD}; color: white; }}
QPushButton#task {{ text-align: left; padding: 5px 8px; }}
QLabel#muted {{ color: {MUTED}; }}
QLabel#heartRate {{ font-size: 20pt; font-weight: 600; color: {ACCENT_DARK}; }}
QLabel#disclaimer {{ color: {MUTED}; font-size: 9pt; font-style: italic; }}
QTextBrowser {{ border: 1px solid {BORDER}; border-radius: 4px; background: white; }}
QProgressBar {{ border: 1px solid {BORDER}; border-radius: 3px; background: #f3f4f6; text-align: center;
               max-height: 12px; font-size: 8pt; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QListWidget {{ border: 1px solid {BORDER}; border-radius: 4px; background: white; }}
"""
