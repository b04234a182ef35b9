"""The analysis panel offscreen with the real engine (real llama.cpp on the real base GGUF).

The bundle is the installed default one, or the runtime tests' dev bundle when none is
installed yet (``test_engine_fixture.runtime_bundle_dir``).

Also: a broken bundle leaves the app usable for recording. The screenshot for the README
(live view + analysis panel with an answer) is written to tests/_out/screenshots/main_window.png (docs/screenshots with STETHODESK_SCREENSHOTS=docs/screenshots).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import soundfile as sf

from stethodesk import paths
from gui_fixtures import isolated_home, no_qt_bug_warnings, open_main_window  # noqa: F401 (autouse fixtures)
from screens import screenshot_path

SCREENSHOT = screenshot_path("main_window.png")
LOAD_TIMEOUT_MS = 180_000  # first load may assemble the base GGUF into the cache
ANSWER_TIMEOUT_MS = 60_000




def _circor(n: int = 1):
    files = sorted((paths.shared_data_dir() / "circor2022").rglob("*.flac"))
    assert len(files) >= n, "the shared CirCor recordings are missing"
    return files[:n]


def _window(qtbot, **kw):
    return open_main_window(qtbot, **kw)


def test_broken_bundle_keeps_recording_usable(qtbot, tmp_path):
    from stethodesk.model.bundle import BundleError, load_bundle
    from stethodesk.model.engine import Engine

    bad = tmp_path / "bundle"
    bad.mkdir()
    (bad / "bundle.json").write_text(json.dumps({"format": "stethodesk-bundle/1", "files": {}}))
    with pytest.raises(BundleError) as expected:
        load_bundle(bad)
    w = _window(qtbot, load_model=True, engine_factory=lambda: Engine(load_bundle(bad)))
    ap = w.analysis_panel
    qtbot.waitUntil(lambda: w.ctx.engine_error is not None, timeout=30_000)
    assert str(expected.value).rstrip(".") in w.ctx.engine_error
    assert any(str(expected.value).rstrip(".") in b.text for b in ap.banners.banners())
    assert not ap.task_buttons["binary"].isEnabled()
    # Recording still works.
    w.start_source({"kind": "synth", "name": "normal_heart"})
    path = w.record_panel.start_recording()
    qtbot.wait(1200)
    with qtbot.waitSignal(w.ctx.recordingSaved, timeout=10_000):
        w.record_panel.stop_recording()
    assert sf.info(str(path)).duration > 0.8
    w.close()


@pytest.mark.llm
@pytest.mark.slow
def test_panel_streams_answers_from_the_real_engine(qtbot, tmp_path):
    from stethodesk.model.bundle import load_bundle
    from stethodesk.model.engine import Engine
    from test_engine_fixture import runtime_bundle_dir

    # The installed default bundle, or the runtime tests' random-weights dev bundle until
    # training has produced one (real llama.cpp either way; the text is meaningless with the dev one).
    folder, kind = runtime_bundle_dir(tmp_path / "bundle")
    print(f"GUI analysis test on the {kind} bundle {folder}")
    w = _window(qtbot, load_model=True, engine_factory=lambda: Engine(load_bundle(folder), n_threads=1))
    ap = w.analysis_panel
    with qtbot.waitSignal(w.ctx.engineReady, timeout=LOAD_TIMEOUT_MS) as ready:
        pass
    engine = ready.args[0]
    assert ap.task_buttons["report"].isEnabled()
    assert engine.name in ap.disclaimer.text() and "Decision support, not a diagnosis" in ap.disclaimer.text()

    # 1. Too little live audio: a banner instead of an answer.
    w.start_source({"kind": "synth", "name": "normal_heart"})
    ap.source_combo.setCurrentIndex(ap.source_combo.findData("live"))
    assert ap.run_task("binary") is None
    assert any("at least 3 s" in b.text for b in ap.banners.banners())

    # 2. A real CirCor recording, task "report": tokens stream in one signal at a time.
    rec = _circor()[0]
    w.review_panel.import_file(rec)
    qtbot.waitUntil(lambda: w.ctx.selected_audio is not None, timeout=10_000)
    ap.source_combo.setCurrentIndex(ap.source_combo.findData("recording"))
    pieces: list[str] = []
    ap.client.worker.token.connect(lambda _i, p: pieces.append(p))
    with qtbot.waitSignal(ap.answerFinished, timeout=ANSWER_TIMEOUT_MS) as done:
        assert ap.run_task("report") is not None
    info = done.args[0]
    assert "error" not in info, info
    assert len(pieces) >= 3 and "".join(pieces) == info["text"] and info["text"].strip()
    html = ap.answer_view.toPlainText()
    assert info["text"].strip()[:20] in html and "Decision support, not a diagnosis" in html and engine.name in html
    assert ap.card.bars, "the findings card shows calibrated probabilities as bars"
    assert all(0 <= b.value() <= 100 for b in ap.card.bars.values())

    # 3. A follow-up question reuses the analysed recording.
    ap.question_edit.setText("Is there a murmur?")
    with qtbot.waitSignal(ap.answerFinished, timeout=ANSWER_TIMEOUT_MS) as done2:
        assert ap.ask_followup() is not None
    assert "error" not in done2.args[0] and done2.args[0]["text"].strip()

    # 3b. Both answers are kept with the recording and come back after a restart (issue 10 item 4):
    # a second connection to the same SQLite file stands for the app started again.
    from stethodesk.store import open_store
    from stethodesk.store.history import listen_answers

    assert info.get("saved") is True and done2.args[0].get("saved") is True
    reopened = open_store()
    kept = listen_answers(reopened, ap.analysed_path)
    assert [(a.task, a.question) for a in kept] == [("report", None), ("question", "Is there a murmur?")]
    assert kept[0].answer == info["text"].strip() and kept[1].answer == done2.args[0]["text"].strip()
    assert kept[0].findings == pytest.approx(ap.analysis.findings)

    # 4. Stop cancels within a token or two.
    stopped: list[int] = []

    def stop_on_first(_i, _p):
        if not stopped:
            stopped.append(1)
            ap.stop()

    ap.client.worker.token.connect(stop_on_first)
    n0 = len(pieces)
    with qtbot.waitSignal(ap.answerFinished, timeout=ANSWER_TIMEOUT_MS) as done3:
        ap.run_task("reasoning")
    ap.client.worker.token.disconnect(stop_on_first)
    assert done3.args[0].get("cancelled") is True
    assert len(pieces) - n0 <= 3

    # 5. A silent recording: the signal is unusable -> a banner, no answer.
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(4000 * 5, dtype=np.float32), 4000)
    w.review_panel.import_file(silent)
    qtbot.waitUntil(lambda: w.ctx.selected_recording is not None and w.ctx.selected_recording.name == silent.name and w.ctx.selected_audio is not None, timeout=10_000)
    with qtbot.waitSignal(ap.answerFinished, timeout=ANSWER_TIMEOUT_MS) as done4:
        ap.run_task("binary")
    assert done4.args[0].get("unusable") or "error" in done4.args[0]
    assert any("No answer" in b.text or "silent" in b.text.lower() or "flat" in b.text.lower()
               for b in ap.banners.banners())

    # 6. The last N seconds of live input (the simulated heart has been playing meanwhile).
    ap.source_combo.setCurrentIndex(ap.source_combo.findData("live"))
    ap.seconds_spin.setValue(4)
    qtbot.waitUntil(lambda: w.ctx.pipeline.raw.total >= 4.2 * w.ctx.pipeline.rate, timeout=10_000)
    analyses: list = []
    ap.client.worker.analysisReady.connect(lambda _i, a: analyses.append(a))
    with qtbot.waitSignal(ap.answerFinished, timeout=ANSWER_TIMEOUT_MS) as done5:
        assert ap.run_task("binary") is not None
    assert "error" not in done5.args[0] and done5.args[0]["text"].strip()
    assert analyses and analyses[-1].domain == "heart" and 3.5 < analyses[-1].duration_s < 4.5
    assert "live input" in ap.answer_view.toPlainText()

    # Screenshot for the README: live view of the simulated heart + an answer about a real recording.
    ap.source_combo.setCurrentIndex(ap.source_combo.findData("recording"))
    w.review_panel.import_file(rec)
    qtbot.waitUntil(lambda: w.ctx.selected_recording is not None and w.ctx.selected_recording.name == rec.name, timeout=10_000)
    with qtbot.waitSignal(ap.answerFinished, timeout=ANSWER_TIMEOUT_MS):
        ap.run_task("report")
    qtbot.wait(7000)  # let the live trace fill the window and the heart rate settle
    w.banners.clear()  # e.g. "no audio input" on a machine without a sound card
    qtbot.wait(200)  # let the dismissed banners go before the grab
    ap.answer_view.verticalScrollBar().setValue(0)  # the question heading at the top
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert w.grab().save(str(SCREENSHOT))
    w.close()
