"""A one-line label that elides long text instead of widening the layout.

A plain ``QLabel`` asks for the width of its whole text, so one long file name in a status
line pushed the main window's minimum width past a laptop screen. This label asks for
:data:`MIN_CHARS` characters at most and draws the rest as "\u2026"; the full text is
its tooltip and its accessible name.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

MIN_CHARS = 12  # characters the label asks room for; the rest is elided
NAME_CHARS = 40  # a file name inside a sentence keeps at most this many characters


def elide_middle(text: str, max_chars: int = NAME_CHARS) -> str:
    """``text`` cut in the middle to ``max_chars`` characters with "\u2026" (for names inside
    wrapped sentences, where a label cannot elide one word)."""
    if len(text) <= max_chars:
        return text
    keep = max_chars - 1
    return text[: (keep + 1) // 2] + "\u2026" + text[len(text) - keep // 2:]


class ElidedLabel(QLabel):
    """``QLabel`` for plain one-line text; ``text()`` is the full text, what is drawn is elided
    in the middle (file names keep their start and their extension)."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt name)
        super().setText(text)
        self.setToolTip(text)
        self.setAccessibleName(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        fm = self.fontMetrics()
        m = self.contentsMargins()
        return QSize(fm.averageCharWidth() * MIN_CHARS + m.left() + m.right(),
                     fm.height() + m.top() + m.bottom())

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt name)
        full = super().sizeHint()
        return QSize(min(full.width(), 40 * self.fontMetrics().averageCharWidth()), full.height())

    def elided_text(self) -> str:
        """The text as drawn at the current width."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideMiddle,
                                             max(0, self.contentsRect().width()))

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt name)
        p = QPainter(self)
        p.setPen(self.palette().color(self.foregroundRole()))
        p.drawText(self.contentsRect(), int(self.alignment()) | int(Qt.TextFlag.TextSingleLine),
                   self.elided_text())
