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


def user_home() -> Path:
    """The user's StethoDesk folder, created on first use with user-only permissions."""
    env = os.environ.get("STETHODESK_HOME")
    if env:
        root = Path(env)
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        root = Path(base) / "stethodesk"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


def recordings_dir() -> Path:
    d = user_home() / "recordings"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


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
