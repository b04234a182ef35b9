"""Inline, non-modal message banners.

A banner replaces modal message boxes everywhere in the app: it never blocks the
user (or a test), it can be dismissed, and a banner with a ``key`` replaces the
previous banner with the same key instead of piling up.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from stethodesk.gui.style import BANNER_COLOURS

LEVELS = tuple(BANNER_COLOURS)


class Banner(QWidget):
    """One message line with a level colour and a close button."""

    def __init__(self, level: str, text: str, key: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        if level not in BANNER_COLOURS:
            raise ValueError(f"unknown banner level {level!r}; expected one of {LEVELS}")
        self.level = level
        self.key = key
        bg, border, fg = BANNER_COLOURS[level]
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setObjectName("banner")
        self.setStyleSheet(
            f"QWidget#banner {{ background: {bg}; border: 1px solid {border}; border-radius: 4px; }}"
            f"QLabel {{ color: {fg}; background: transparent; }}"
            f"QPushButton {{ border: none; background: transparent; color: {fg}; font-weight: 600; }}"
        )
        lay = QHBoxLayout(self)
        lay.setContentsMargins(10, 5, 6, 5)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        close = QPushButton("\u2715")
        close.setToolTip("Dismiss")
        close.setFixedWidth(24)
        close.clicked.connect(self.dismiss)
        lay.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)

    @property
    def text(self) -> str:
        return self.label.text()

    def dismiss(self) -> None:
        self.hide()
        self.deleteLater()


class BannerArea(QWidget):
    """A vertical stack of banners; empty (zero height) when there is nothing to say."""

    MAX_BANNERS = 4  # older ones are dropped so the view never fills with messages

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._lay = QVBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        self._lay.setSpacing(4)

    def banners(self) -> list[Banner]:
        """Visible banners, oldest first."""
        return [b for b in self.findChildren(Banner) if not b.isHidden()]

    def show_message(self, level: str, text: str, key: str | None = None) -> Banner:
        """Show ``text``; a previous banner with the same ``key`` is replaced."""
        if key is not None:
            self.clear(key)
        banner = Banner(level, text, key, self)
        self._lay.addWidget(banner)
        banner.show()  # not hidden until the next event loop turn (tests read it at once)
        live = self.banners()
        for old in live[: max(0, len(live) - self.MAX_BANNERS)]:
            old.dismiss()
        return banner

    def clear(self, key: str | None = None) -> None:
        """Dismiss the banners with ``key`` (all banners when ``key`` is None)."""
        for b in self.banners():
            if key is None or b.key == key:
                b.dismiss()
