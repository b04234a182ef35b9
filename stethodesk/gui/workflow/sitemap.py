"""The chest-site map: the body diagram with clickable auscultation sites.

The art is ``resources/bodymap.svg`` (rendered with QSvgRenderer); the
status of each site is painted on top: fill colour = main finding of its
newest recording, ring colour = signal quality, a black ring = the selected
site, numbers = the order of a guided protocol, a dashed red ring with
"loudest" = the exam's most audible murmur site (whole-exam findings).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from stethodesk.paths import RESOURCES
from stethodesk.store import SITES, Store, site_title
from stethodesk.store.summary import MainFinding, main_finding

BODYMAP = RESOURCES / "bodymap.svg"
VIEW = QRectF(0, -24, 800, 504)  # the SVG viewBox (user units), see stethodesk/store/sites.py
HIT_RADIUS = 16.0  # SVG units: a click this close to a site selects it
MARK_RADIUS = 8.0  # SVG units
FINDING_COLOURS = {"normal": "#2e7d32", "finding": "#f29d0b", "strong": "#c62828", "none": "#8e9aa3"}
QUALITY_COLOURS = {"good": "#2e7d32", "fair": "#f29d0b", "poor": "#c62828"}
LOUDEST_COLOUR = "#b71c1c"  # the whole exam's most audible site


@dataclass(frozen=True)
class SiteStatus:
    quality: str | None  # good | fair | poor | None
    finding: MainFinding
    recording_id: int


def exam_site_status(store: Store, exam_id: int | None) -> dict[str, SiteStatus]:
    """Status of every recorded site of an exam (the newest recording per site wins)."""
    if exam_id is None:
        return {}
    out = {}
    for r in store.list_recordings(exam_id):
        mf = main_finding(store.latest_findings(r.id), r.domain, store.latest_points(r.id))  # as analysed
        out[r.site] = SiteStatus(r.quality_level, mf, r.id)
    return out


class SiteMapWidget(QWidget):
    """Signals: ``siteClicked(str)`` with the site key."""

    siteClicked = Signal(str)

    def __init__(self, parent: QWidget | None = None, domain: str | None = None):
        super().__init__(parent)
        self._svg = QSvgRenderer(str(BODYMAP))
        if not self._svg.isValid():
            raise RuntimeError(f"The body map {BODYMAP} could not be read.")
        self.status: dict[str, SiteStatus] = {}
        self.selected: str | None = None
        self.order: list[str] = []  # protocol order, drawn as numbers
        self.loudest: str | None = None  # the exam's most audible site (map key)
        self.domain = domain  # None: all sites clickable; else only that domain's
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMinimumSize(360, 230)

    def sizeHint(self) -> QSize:
        return QSize(640, 400)

    # ----------------------------------------------------------------- state
    def set_status(self, status: dict[str, SiteStatus]) -> None:
        self.status = dict(status)
        self.update()

    def set_selected(self, site: str | None) -> None:
        self.selected = site
        self.update()

    def set_loudest(self, site: str | None) -> None:
        """Mark ``site`` (a map key, or None for no mark) as the exam's most audible site."""
        self.loudest = site if site in SITES else None
        self.update()

    def set_order(self, sites: list[str]) -> None:
        self.order = list(sites)
        self.update()

    def set_domain(self, domain: str | None) -> None:
        self.domain = domain
        self.update()

    # -------------------------------------------------------------- geometry
    def _scale(self) -> tuple[float, float, float]:
        s = min(self.width() / VIEW.width(), self.height() / VIEW.height())
        ox = (self.width() - VIEW.width() * s) / 2 - VIEW.left() * s
        oy = (self.height() - VIEW.height() * s) / 2 - VIEW.top() * s
        return s, ox, oy

    def to_widget(self, x: float, y: float) -> QPointF:
        s, ox, oy = self._scale()
        return QPointF(ox + x * s, oy + y * s)

    def site_at(self, pos: QPointF) -> str | None:
        s, ox, oy = self._scale()
        x, y = (pos.x() - ox) / s, (pos.y() - oy) / s
        best, dist = None, HIT_RADIUS
        for key, site in SITES.items():
            if self.domain and site.domain != self.domain:
                continue
            d = ((site.x - x) ** 2 + (site.y - y) ** 2) ** 0.5
            if d <= dist:
                best, dist = key, d
        return best

    # ----------------------------------------------------------------- paint
    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.Antialiasing)
        p.fillRect(self.rect(), QColor("#ffffff"))
        s, ox, oy = self._scale()
        self._svg.render(p, QRectF(ox + VIEW.left() * s, oy + VIEW.top() * s, VIEW.width() * s, VIEW.height() * s))
        r = MARK_RADIUS * s
        font = QFont(self.font())
        font.setPixelSize(max(8, int(9 * s)))
        font.setBold(True)
        p.setFont(font)
        for key, site in SITES.items():
            c = self.to_widget(site.x, site.y)
            dim = self.domain is not None and site.domain != self.domain
            st = self.status.get(key)
            if st is not None:
                p.setBrush(QBrush(QColor(FINDING_COLOURS[st.finding.level])))
                p.setPen(QPen(QColor(QUALITY_COLOURS.get(st.quality or "", "#555555")), max(2.0, 3 * s)))
                p.drawEllipse(c, r, r)
            elif dim:
                p.setBrush(QBrush(QColor(255, 255, 255, 170)))
                p.setPen(Qt.NoPen)
                p.drawEllipse(c, r * 1.2, r * 1.2)
            if key in self.order:
                p.setPen(QPen(QColor("#ffffff" if st else "#222222")))
                p.drawText(QRectF(c.x() - r, c.y() - r, 2 * r, 2 * r), Qt.AlignCenter, str(self.order.index(key) + 1))
            if key == self.selected:
                p.setBrush(Qt.NoBrush)
                p.setPen(QPen(QColor("#111111"), max(2.0, 2.5 * s)))
                p.drawEllipse(c, r * 1.6, r * 1.6)
            if key == self.loudest:
                self._loudest_mark(p, c, r, s)
        self._legend(p)
        p.end()

    def _loudest_mark(self, p: QPainter, c: QPointF, r: float, s: float) -> None:
        """A dashed red ring around the site and the word "loudest" above it."""
        pen = QPen(QColor(LOUDEST_COLOUR), max(2.0, 2.5 * s), Qt.DashLine)
        p.setBrush(Qt.NoBrush)
        p.setPen(pen)
        p.drawEllipse(c, r * 2.2, r * 2.2)
        font = QFont(self.font())
        font.setPixelSize(max(10, int(11 * s)))
        font.setBold(True)
        p.setFont(font)
        p.setPen(QColor(LOUDEST_COLOUR))
        w = p.fontMetrics().horizontalAdvance("loudest")
        p.drawText(QPointF(c.x() - w / 2, c.y() - r * 2.2 - 3), "loudest")  # above: the neighbours sit beside

    def _legend(self, p: QPainter) -> None:
        items = [("no abnormal finding", FINDING_COLOURS["normal"]), ("finding", FINDING_COLOURS["finding"]),
                 ("strong finding", FINDING_COLOURS["strong"]), ("not analysed", FINDING_COLOURS["none"])]
        font = QFont(self.font())
        font.setPixelSize(11)
        p.setFont(font)
        x, y = 8, 8
        for text, colour in items:
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(colour))
            p.drawEllipse(QPointF(x + 6, y + 6), 5, 5)
            p.setPen(QColor("#333333"))
            p.drawText(x + 16, y + 10, text)
            y += 16
        p.drawText(x, y + 10, "ring = signal quality")

    # ----------------------------------------------------------------- mouse
    def mousePressEvent(self, event) -> None:
        key = self.site_at(event.position())
        if key is not None:
            self.set_selected(key)
            self.siteClicked.emit(key)

    def mouseMoveEvent(self, event) -> None:
        key = self.site_at(event.position())
        self.setCursor(Qt.PointingHandCursor if key else Qt.ArrowCursor)
        if key:
            st = self.status.get(key)
            extra = ""
            if st is not None:
                extra = f"\n{st.finding.text}; quality {st.quality or 'not measured'}"
            if key == self.loudest:
                extra += "\nMost audible murmur site of the whole exam"
            QToolTip.showText(event.globalPosition().toPoint(), site_title(key) + extra, self)
