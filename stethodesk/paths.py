"""Where StethoDesk keeps its files. No Qt here.

Everything is overridable with environment variables so tests and portable
installs can point the app at a temporary folder:

- ``STETHODESK_HOME``: user data (recordings, database, settings).
- ``STETHODESK_DATA``: the shared real-recordings folder (default ``../shared/data``
  beside the checkout).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESOURCES = REPO_ROOT / "resources"
MODELS = REPO_ROOT / "models"
DIR_MODE = 0o700  # every folder the app creates for patient data: user-only


def private_dir(path: Path | str) -> Path:
    """Create folder ``path`` and its missing parents user-only (0700) whatever the umask.

    ``Path.mkdir(parents=True, mode=...)`` gives the parents it makes the umask's default mode
    (0777 under ``umask 000``, issue 11 item 11), so each missing folder is made here with 0700
    and set to exactly 0700; folders that already exist (``/tmp``, the user's Desktop) are left
    as they are. Returns ``path``. Raises ``FileExistsError`` when ``path`` is a file, else
    ``OSError`` from ``mkdir``.
    """
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)  # never wider than 0700 meanwhile: the umask only takes bits away
        except FileExistsError:
            continue  # made by someone else meanwhile: not ours to change
        os.chmod(d, DIR_MODE)
    if not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a folder")
    return path


def user_home() -> Path:
    """The user's StethoDesk folder, created on first use with user-only permissions."""
    env = os.environ.get("STETHODESK_HOME")
    if env:
        root = Path(env)
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        root = Path(base) / "stethodesk"
    return private_dir(root)


def recordings_dir() -> Path:
    return private_dir(user_home() / "recordings")


def shared_data_dir() -> Path:
    """The folder of real labelled recordings (``../shared/data`` by default)."""
    env = os.environ.get("STETHODESK_DATA")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "data")


def settings_path() -> Path:
    return user_home() / "settings.json"


def load_settings() -> dict:
    """Settings remembered between runs; a damaged file is ignored, never fatal."""
    try:
        return json.loads(settings_path().read_text())
    except (OSError, ValueError):
        return {}


def save_settings(values: dict) -> None:
    """Merge ``values`` into the settings file atomically (write + rename)."""
    merged = load_settings()
    merged.update(values)
    tmp = settings_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, indent=2, sort_keys=True))
    os.replace(tmp, settings_path())
