"""The Listen tab's recordings list in the store: import copies, rename, delete, restart.

Real SQLite files in a temporary folder and real recordings from the shared data.
"""

from __future__ import annotations

import json
import shutil

import pytest

from stethodesk import paths
from stethodesk.store import Shelf, Store, StoreError


def _circor(n: int = 2):
    files = sorted((paths.shared_data_dir() / "circor2022").rglob("*.flac"))[:n]
    assert len(files) == n, "the shared CirCor recordings are missing"
    return files


def _recorder_file(folder, name, src):
    """A file as the recorder leaves it: FLAC plus its JSON sidecar."""
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / f"{name}.flac"
    shutil.copyfile(src, dst)
    dst.with_suffix(".json").write_text(json.dumps({"site": "mitral", "domain": "heart", "complete": True}))
    return dst


def test_an_imported_file_is_copied_and_listed_again_after_a_restart(tmp_path):
    src = _circor(1)[0]
    before = src.read_bytes()
    store = Store(tmp_path / "home")
    copy = Shelf(store).import_copy(src)
    assert copy.parent == store.root / "recordings" / "imported" and copy.name == src.name
    assert copy.read_bytes() == before
    assert Shelf(store).import_copy(src) == copy  # the same file twice is one entry
    store.close()

    store = Store(tmp_path / "home")  # a restart, and the store's own orphan cleaning
    (entry,) = Shelf(store).entries()
    assert entry.path == copy and entry.imported and entry.original == str(src.absolute())
    assert copy.is_file() and src.read_bytes() == before
    store.close()


@pytest.fixture
def two_entries(tmp_path):
    """A store with one recorder file and one imported copy: ``(store, shelf, rec, imported, original)``."""
    a, b = _circor(2)
    store = Store(tmp_path / "home")
    shelf = Shelf(store)
    rec = _recorder_file(shelf.folder, "20261130-101500", a)
    yield store, shelf, rec, shelf.import_copy(b), b
    store.close()


def test_delete_removes_row_audio_and_sidecar_and_survives_a_restart(tmp_path, two_entries):
    store, shelf, rec, imported, b = two_entries
    shelf.rename(rec, "Mrs K apex")
    assert [e.path for e in shelf.entries()] == [imported, rec]

    removed = shelf.delete(rec)
    assert set(removed) == {rec, rec.with_suffix(".json")}
    assert not rec.exists() and not rec.with_suffix(".json").exists()
    removed = shelf.delete(imported)
    assert removed == [imported] and not imported.exists()
    assert b.is_file(), "the original of an imported file is never deleted"
    assert shelf.entries() == []
    assert store._query("SELECT COUNT(*) FROM listen_entries")[0][0] == 0
    assert store.integrity_check() == "ok"
    with pytest.raises(StoreError, match="already deleted"):
        shelf.delete(rec)
    again = Store(tmp_path / "home")  # a restart
    assert Shelf(again).entries() == []
    again.close()


def test_delete_refuses_files_outside_the_recordings_folder(tmp_path):
    src = _circor(1)[0]
    outside = tmp_path / "elsewhere.flac"
    shutil.copyfile(src, outside)
    store = Store(tmp_path / "home")
    with pytest.raises(StoreError, match="nothing was deleted"):
        Shelf(store).delete(outside)
    assert outside.is_file()
    store.close()


def test_rename_persists_is_cleaned_and_can_be_undone(tmp_path, two_entries):
    store, shelf, rec, imported, b = two_entries
    assert shelf.rename(rec, "  Mrs K\n  apex  ").title == "Mrs K apex"
    shelf.rename(imported, "Teaching: VSD")
    with pytest.raises(StoreError, match="at most 120"):
        shelf.rename(rec, "x" * 121)
    with pytest.raises(StoreError, match="cannot be renamed"):
        shelf.rename(b, "not mine")

    again = Store(tmp_path / "home")  # a restart
    shelf = Shelf(again)
    titles = {e.path: e.title for e in shelf.entries()}
    assert titles == {rec: "Mrs K apex", imported: "Teaching: VSD"}
    assert rec.is_file(), "renaming changes the name shown, not the file"
    shelf.rename(rec, "")
    shelf.rename(imported, "")
    titles = {e.path: e.title for e in shelf.entries()}
    assert titles == {rec: "", imported: ""}  # the imported copy stays listed without a name
    again.close()


def test_a_file_removed_behind_the_apps_back_leaves_no_row(tmp_path):
    src = _circor(1)[0]
    store = Store(tmp_path / "home")
    shelf = Shelf(store)
    copy = shelf.import_copy(src)
    copy.unlink()
    assert shelf.entries() == []
    assert shelf.forget_missing() == [copy]
    assert store._query("SELECT COUNT(*) FROM listen_entries")[0][0] == 0
    assert shelf.import_copy(src).is_file()  # importing it again works
    store.close()
