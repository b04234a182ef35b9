"""Rename and delete recordings in the Listen tab's list (Delete key, F2, context menu, buttons).

The records work is :class:`stethodesk.store.Shelf`'s (SQLite row first, then the files);
this module asks the user and keeps the panel's state honest: a deleted recording that was
selected stops playing, leaves the waveform and is no longer the "selected recording" that
the analysis panel and the workflow tabs read.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QInputDialog, QLineEdit, QMenu, QMessageBox, QPushButton, QWidget

from stethodesk.store import Shelf, StoreError

DELETE_KEYS = (QKeySequence.StandardKey.Delete, QKeySequence("Backspace"))
RENAME_KEY = "F2"


def shelf_of(ctx) -> Shelf:
    """The recordings list of ``ctx.recordings_dir``, kept in ``ctx.store`` (opened here when absent).

    Raises :class:`StoreError` when the records database cannot be opened.
    """
    store = getattr(ctx, "store", None)
    if store is None:
        from stethodesk.store import open_store

        store = open_store()
        ctx.store = store  # the workflow tabs use the same records
    return Shelf(store, ctx.recordings_dir)


def _ask_confirm(parent: QWidget, text: str) -> bool:
    box = QMessageBox(QMessageBox.Icon.Warning, "Delete recording", text,
                      QMessageBox.StandardButton.Cancel, parent)
    delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    return box.clickedButton() is delete


def _ask_name(parent: QWidget, current: str) -> str | None:
    text, ok = QInputDialog.getText(parent, "Rename recording",
                                    "Name shown in the list (empty: the automatic description):",
                                    QLineEdit.EchoMode.Normal, current)
    return text if ok else None


class RecordingActions(QObject):
    """Rename / delete for ``panel`` (a :class:`stethodesk.gui.review_panel.ReviewPanel`).

    ``confirm(text) -> bool`` and ``ask_name(current) -> str | None`` are the dialogs
    (replaceable, e.g. by tests). ``rename_button`` and ``delete_button`` go in the panel's layout.
    """

    def __init__(self, panel):
        super().__init__(panel)
        self.panel = panel
        self.confirm = lambda text: _ask_confirm(panel, text)
        self.ask_name = lambda current: _ask_name(panel, current)
        self.rename_button = QPushButton("Rename\u2026")
        self.rename_button.setToolTip(f"Give the selected recording a name ({RENAME_KEY})")
        self.delete_button = QPushButton("Delete\u2026")
        self.delete_button.setToolTip("Delete the selected recording and its audio file (Delete)")
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        lst = panel.list
        for key in DELETE_KEYS:
            QShortcut(key, lst, self.delete_selected, context=Qt.ShortcutContext.WidgetShortcut)
        QShortcut(QKeySequence(RENAME_KEY), lst, self.rename_selected, context=Qt.ShortcutContext.WidgetShortcut)
        lst.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        lst.customContextMenuRequested.connect(self._show_menu)
        lst.currentItemChanged.connect(lambda *_a: self.update_buttons())
        panel.listChanged.connect(lambda _p: self.update_buttons())  # rebuilt with signals blocked
        panel.ctx.recordingSelected.connect(lambda _p: self.update_buttons())
        self.update_buttons()

    def update_buttons(self) -> None:
        on = self.panel.current_path() is not None
        self.rename_button.setEnabled(on)
        self.delete_button.setEnabled(on)

    def context_menu(self) -> QMenu:
        """The list's right-click menu for the current recording."""
        menu = QMenu(self.panel.list)
        on = self.panel.current_path() is not None
        play = menu.addAction("Play / Stop", self.panel.toggle_play)
        play.setShortcut(QKeySequence("Space"))
        rename = menu.addAction("Rename\u2026", self.rename_selected)
        rename.setShortcut(QKeySequence(RENAME_KEY))
        delete = menu.addAction("Delete\u2026", self.delete_selected)
        delete.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        for a in (play, rename, delete):
            a.setEnabled(on)
        return menu

    def _show_menu(self, pos) -> None:
        item = self.panel.list.itemAt(pos)
        if item is not None:
            self.panel.list.setCurrentItem(item)
        self.context_menu().exec(self.panel.list.viewport().mapToGlobal(pos))

    # ------------------------------------------------------------------ actions
    def _say(self, level: str, text: str) -> None:
        self.panel.ctx.show_message(level, text, "recordings")

    def _being_recorded(self, path: Path) -> bool:
        rp = getattr(getattr(self.panel.ctx, "main_window", None), "record_panel", None)
        rec = getattr(rp, "recorder", None)
        return rec is not None and Path(getattr(rec, "path", "")) == path

    def rename_selected(self) -> bool:
        """Ask for a name and keep it; True when the name changed."""
        path = self.panel.current_path()
        if path is None:
            self._say("info", "Select a recording to rename.")
            return False
        try:
            shelf = shelf_of(self.panel.ctx)
            name = self.ask_name(shelf.entry(path).title)
            if name is None:
                return False
            shelf.rename(path, name)
        except StoreError as exc:
            self._say("error", f"Could not rename the recording: {exc}")
            return False
        self.panel.ctx.clear_message("recordings")
        self.panel.refresh()
        return True

    def delete_selected(self) -> bool:
        """Ask, then delete the selected recording and its audio file; True when deleted."""
        path = self.panel.current_path()
        if path is None:
            self._say("info", "Select a recording to delete.")
            return False
        if self._being_recorded(path):
            self._say("warning", f"{path.name} is being recorded. Stop the recording before deleting it.")
            return False
        try:
            shelf = shelf_of(self.panel.ctx)
            entry = shelf.entry(path)
            kept = (" The file you imported it from stays where it is." if entry.imported else "")
            name = entry.title or path.name
            if not self.confirm(f"Delete the recording \u201c{name}\u201d? Its audio file {path.name} is removed "
                                f"from this computer and cannot be brought back.{kept}"):
                return False
            if self.panel.ctx.selected_recording is not None and Path(self.panel.ctx.selected_recording) == path:
                self.panel.forget_selection()
            removed = shelf.delete(path)
        except StoreError as exc:
            self._say("error", f"Could not delete the recording: {exc}")
            return False
        self._say("info", f"Deleted {name} ({len([p for p in removed if p.suffix != '.json'])} audio file).")
        self.panel.refresh()
        return True
