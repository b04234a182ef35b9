"""Inline, non-modal message banners.

A banner replaces modal message boxes everywhere in the app: it never blocks the
user (or a test), it can be dismissed, and a banner with a ``key`` replaces the
previous banner with the same key instead of piling up.

``BannerArea(one_line=True)`` is the main window's: it sits in the tab row and shows the
newest message on one line (elided; the whole text is its tooltip and accessible name), so
a message never moves the controls under the pointer; dismissing it shows the one before.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from stethodesk.gui.elided import ElidedLabel
from stethodesk.gui.style import BANNER_COLOURS

LEVELS = tuple(BANNER_COLOURS)


class Banner(QWidget):
    """One message line with a level colour and a close button."""

    def __init__(self, level: str, text: str, key: str | None = None, parent: QWidget | None = None,
                 one_line: bool = False):
        super().__init__(parent)
        if level not in BANNER_COLOURS:
            raise ValueError(f"unknown banner level {level!r}; expected one of {LEVELS}")
        self.level = level
        self.key = key
        self.dismissed = False
        bg, border, fg = BANNER_COLOURS[level]
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setObjectName("banner")
        self.setStyleSheet(
            f"QWidget#banner {{ background: {bg}; border: 1px solid {border}; border-radius: 4px; }}"
            f"QLabel {{ color: {fg}; background: transparent; }}"
            f"QPushButton {{ border: none; background: transparent; color: {fg}; font-weight: 600; }}"
        )
        lay = QHBoxLayout(self)
        if one_line:
            lay.setContentsMargins(8, 0, 2, 0)
            self.label = ElidedLabel(text)
        else:
            lay.setContentsMargins(10, 5, 6, 5)
            self.label = QLabel(text)
            self.label.setWordWrap(True)
            self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self.setAccessibleName(f"{level.capitalize()}: {text}")
        close = QPushButton("\u2715")
        close.setToolTip("Dismiss this message")
        close.setAccessibleName("Dismiss this message")
        close.setFixedWidth(24)
        close.clicked.connect(self.dismiss)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignVCenter if one_line else Qt.AlignmentFlag.AlignTop)
        self.close_button = close

    @property
    def text(self) -> str:
        return self.label.text()

    def dismiss(self) -> None:
        self.dismissed = True
        self.hide()
        area = self.parentWidget()
        self.deleteLater()
        if isinstance(area, BannerArea):
            area.show_newest()


class BannerArea(QWidget):
    """A vertical stack of banners; empty (zero height) when there is nothing to say."""

    MAX_BANNERS = 4  # older ones are dropped so the view never fills with messages

    def __init__(self, parent: QWidget | None = None, one_line: bool = False):
        super().__init__(parent)
        self.one_line = one_line
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self._lay.setSpacing(4)

    def banners(self) -> list[Banner]:
        """Banners not dismissed, oldest first (a one-line area shows only the newest of them)."""
        return [b for b in self.findChildren(Banner) if not b.dismissed]

    def show_message(self, level: str, text: str, key: str | None = None) -> Banner:
        """Show ``text``; a previous banner with the same ``key`` is replaced."""
        if key is not None:
            self.clear(key)
        banner = Banner(level, text, key, self, one_line=self.one_line)
        self._lay.addWidget(banner)
        live = self.banners()
        for old in live[: max(0, len(live) - self.MAX_BANNERS)]:
            old.dismiss()
        self.show_newest()
        return banner

    def show_newest(self) -> None:
        """Show the banners (a one-line area: only the newest, the others wait behind it)."""
        live = self.banners()
        for b in live:
            b.setVisible(not self.one_line or b is live[-1])

    def clear(self, key: str | None = None) -> None:
        """Dismiss the banners with ``key`` (all banners when ``key`` is None)."""
        for b in self.banners():
            if key is None or b.key == key:
                b.dismiss()
