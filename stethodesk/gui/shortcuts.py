"""The main window's menus and keyboard shortcuts, and the Help > Keyboard shortcuts dialog.

Every shortcut is a menu entry (so it can be found without reading tooltips) and a row of the
dialog; the buttons it presses carry it in their tooltips too. Space plays or stops the audio
of the tab in view (the selected recording on the Listen tab, the sound of a tab that has a
``toggle_play()`` method), except where Space already means something: a focused button or
check box is pressed, a focused drop-down opens, text fields type a space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton, QApplication, QComboBox, QDialog, QDialogButtonBox, QHeaderView, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)


@dataclass(frozen=True)
class Shortcut:
    """One menu entry: ``menu`` title, ``text``, ``keys`` (QKeySequence strings, first one shown),
    ``slot`` called when chosen; ``scope`` says where the keys work when not everywhere."""

    menu: str
    text: str
    keys: tuple[str, ...]
    slot: Callable[[], object]
    scope: str = ""
    tooltip_of: QWidget | None = None  # a button whose tooltip names the keys


def window_shortcuts(w) -> list[Shortcut]:
    """The shortcuts of main window ``w`` (a :class:`stethodesk.gui.main_window.MainWindow`)."""
    rp, sp, rv, ap = w.record_panel, w.source_panel, w.review_panel, w.analysis_panel
    return [
        Shortcut("&File", "Import a recording\u2026", ("Ctrl+O",), rv.import_button.click, "", rv.import_button),
        Shortcut("&File", "Quit", ("Ctrl+Q",), w.close),
        Shortcut("&Recording", "Listen to the input", ("Ctrl+L",), sp.start_button.click, "", sp.start_button),
        Shortcut("&Recording", "Record / stop recording", ("Ctrl+R",), rp.record_button.click, "",
                 rp.record_button),
        Shortcut("&Recording", "Play / stop", ("Space", "Ctrl+P"), lambda: toggle_tab(w), "",
                 rv.play_button),
        Shortcut("&Recording", "Rename the selected recording\u2026", ("F2",), rv.actions.rename_selected,
                 "in the recordings list"),
        Shortcut("&Recording", "Delete the selected recording\u2026", ("Del",), rv.actions.delete_selected,
                 "in the recordings list"),
        Shortcut("&Analysis", "Analyse: write a report", ("Ctrl+Return",), lambda: ap.run_task("report"), "",
                 ap.task_buttons.get("report")),
        Shortcut("&Analysis", "Ask the typed question", ("Return",), ap.ask_question, "in the question box"),
        Shortcut("&Analysis", "Stop the answer", ("Esc",), ap.stop, "", ap.stop_button),
        Shortcut("&Help", "Keyboard shortcuts", ("F1",), lambda: show_dialog(w)),
    ]


def space_pressed(w) -> None:
    """Space: press the focused button / open the focused drop-down, else play or stop the tab's audio."""
    focus = QApplication.focusWidget()
    if isinstance(focus, QAbstractButton) and focus.isEnabled():
        focus.animateClick()
        return
    if isinstance(focus, QComboBox) and focus.isEnabled():
        focus.showPopup()
        return
    toggle_tab(w)


def toggle_tab(w) -> None:
    """Play or stop the audio of the tab in view."""
    tab = w.tabs.currentWidget()
    if tab is w.tabs.widget(0):
        w.review_panel.toggle_play()
    elif hasattr(tab, "toggle_play"):
        tab.toggle_play()


def install(w) -> dict[str, QAction]:
    """Add the menus to main window ``w``; returns the actions by text (tests use them)."""
    bar = w.menuBar()
    menus: dict[str, object] = {}
    actions: dict[str, QAction] = {}
    for s in window_shortcuts(w):
        menu = menus.get(s.menu) or menus.setdefault(s.menu, bar.addMenu(s.menu))
        action = QAction(s.text, w)
        if s.scope:  # works only there: shown, not bound window-wide
            action.setText(f"{s.text}\t{s.keys[0]}")
        elif "Space" in s.keys:  # Space is focus-aware (space_pressed); the menu entry shows it
            action.setText(f"{s.text}\t{s.keys[0]}")
            action.setShortcuts([QKeySequence(k) for k in s.keys if k != "Space"])
            space = QAction("Space", w)
            space.setShortcut(QKeySequence("Space"))
            space.triggered.connect(lambda _c=False: space_pressed(w))
            w.addAction(space)
        else:
            action.setShortcuts([QKeySequence(k) for k in s.keys])
        action.triggered.connect(lambda _c=False, f=s.slot: f())
        menu.addAction(action)
        w.addAction(action)  # the keys work while the menu bar is hidden too
        actions[s.text] = action
        if s.tooltip_of is not None:
            tip = s.tooltip_of.toolTip()
            keys = " or ".join(s.keys)
            s.tooltip_of.setToolTip(f"{tip} ({keys})".strip() if keys not in tip else tip)
    return actions


class ShortcutsDialog(QDialog):
    """A table of every shortcut: what it does, its keys, where it works."""

    def __init__(self, shortcuts: list[Shortcut], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.table = QTableWidget(len(shortcuts), 3)
        self.table.setHorizontalHeaderLabels(["Action", "Keys", "Where"])
        for row, s in enumerate(shortcuts):
            menu = s.menu.replace("&", "")
            cells = (f"{menu}: {s.text}", " or ".join(s.keys), s.scope or "anywhere in the window")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                self.table.setItem(row, col, item)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.table)
        lay.addWidget(buttons)
        self.resize(780, 440)

    def rows(self) -> list[tuple[str, str, str]]:
        return [tuple(self.table.item(r, c).text() for c in range(3)) for r in range(self.table.rowCount())]


def show_dialog(w) -> ShortcutsDialog:
    """Open the shortcuts dialog (non-modal, one at a time) and return it."""
    dlg = getattr(w, "_shortcuts_dialog", None)
    if dlg is None:
        dlg = w._shortcuts_dialog = ShortcutsDialog(window_shortcuts(w), w)
    dlg.show()
    dlg.raise_()
    return dlg
