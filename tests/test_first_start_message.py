"""The first start says that it is assembling the base model instead of sitting silent.

On a new laptop the 253 MB base GGUF is written into the user's cache from its package before
llama.cpp can load it (stethodesk.model.bundle.base_gguf_path). With an empty cache, the real
engine on the real bundle: the window's model line shows the sentence while it happens, and
``stethodesk analyze`` prints it on stderr (stdout stays the answer).
"""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from gui_fixtures import isolated_home, no_qt_bug_warnings  # noqa: F401 (autouse fixtures)
from stethodesk import paths
from stethodesk.model.bundle import ASSEMBLING

pytestmark = [pytest.mark.llm, pytest.mark.slow]
LOAD_TIMEOUT_MS = 180_000  # torch, the encoder and llama.cpp on a busy 2-core machine
HEART = "circor2022/training_data/13918_MV.flac"


def test_window_shows_the_assembly_of_the_base_model(qtbot, tmp_path, monkeypatch):
    from stethodesk.gui.app import make_app
    from stethodesk.gui.main_window import MainWindow
    from stethodesk.model.bundle import load_bundle
    from stethodesk.model.engine import Engine
    from test_engine_fixture import runtime_bundle_dir

    monkeypatch.setenv("STETHODESK_CACHE", str(tmp_path / "empty-cache"))
    folder, _kind = runtime_bundle_dir(tmp_path / "bundle")
    make_app([])
    w = MainWindow(autostart=False, load_model=True,
                   engine_factory=lambda: Engine(load_bundle(folder), n_threads=1))
    qtbot.addWidget(w)
    w.show()
    ap = w.analysis_panel
    shown: list[tuple[str, str, bool]] = []  # (step, the model line's text, progress bar visible)
    # connected before the event loop runs, so no queued step is missed
    w.ctx.engineProgress.connect(
        lambda step, _f: shown.append((step, ap.model_label.text(), ap.progress.isVisible())))
    with qtbot.waitSignal(w.ctx.engineReady, timeout=LOAD_TIMEOUT_MS):
        pass
    assert (ASSEMBLING, ASSEMBLING, True) in shown, shown
    steps = [s for s, _t, _v in shown]
    assert steps.index(ASSEMBLING) < steps.index("Loading the language model"), steps
    assert (tmp_path / "empty-cache" / "gemma-3-270m-q4_k_m.gguf").is_file()
    w.close()


def test_analyze_prints_the_assembly_on_stderr(tmp_path):
    from test_engine_fixture import runtime_bundle_dir

    folder, _kind = runtime_bundle_dir(tmp_path / "bundle")
    env = {**os.environ, "STETHODESK_CACHE": str(tmp_path / "empty-cache")}
    proc = subprocess.run([sys.executable, "-m", "stethodesk", "analyze", str(paths.shared_data_dir() / HEART),
                           "--bundle", str(folder), "--format", "jsonl", "--max-tokens", "4", "--threads", "1"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"stethodesk analyze: {ASSEMBLING}" in proc.stderr, proc.stderr[-2000:]
    assert ASSEMBLING not in proc.stdout and proc.stdout.lstrip().startswith("{"), proc.stdout[:500]
