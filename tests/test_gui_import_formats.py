"""The file dialogs and the recordings list know every format the reader takes (issue 11 item 1):
an M4A from a phone app is offered and listed with its length; an MP3 whose header only guesses
its length is listed without the guess until it is opened. Importing a multi-channel file asks
for the channel, like the input does (item 2)."""

from __future__ import annotations

import numpy as np

from audio_files import encode, overwrite, tone_and_noise
from gui_fixtures import isolated_home, no_qt_bug_warnings, open_main_window  # noqa: F401 (autouse fixtures)
from stethodesk.gui.review_panel import IMPORT_FILTER, _describe
from stethodesk.gui.source_panel import FILE_FILTER


def test_dialogs_offer_m4a_and_the_list_shows_only_lengths_it_knows(tmp_path):
    for f in (IMPORT_FILTER, FILE_FILTER):
        assert "*.m4a" in f and "*.M4A" in f and "*.mp3" in f and "*.wav" in f
    m4a, mp3 = tmp_path / "phone.m4a", tmp_path / "phone.mp3"
    x = tone_and_noise(22050, 21.3)
    encode(m4a, x[:, None], 22050, "aac", "mp4")
    encode(mp3, x[:, None], 22050, "libmp3lame", "mp3", {"write_xing": "0"}, vbr_quality=4)
    text, _ = _describe(m4a)
    assert "21.3 s" in text
    text, _ = _describe(mp3)
    assert text == "phone"  # the name, no guessed length


def test_importing_a_stereo_file_asks_for_the_channel_and_keeps_it(qtbot, tmp_path, monkeypatch):
    """Issue 11 item 2: import offers a channel choice like the input does; the choice holds when
    the recording is opened again from the list, and goes with it when it is deleted. The file
    and channel dialogs' answers are the only stand-ins."""
    import soundfile as sf
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    from stethodesk.audio.fileio import read_audio
    from stethodesk.gui.review_panel import _describe, channel_choices, shelf_of
    from stethodesk.paths import shared_data_dir

    heart, sr = read_audio(shared_data_dir() / "circor2022" / "training_data" / "13918_MV.flac")
    heart = heart[: 6 * sr]
    talk = 0.3 * np.random.default_rng(0).standard_normal(heart.size).astype(np.float32)
    stereo = tmp_path / "two inputs.wav"
    sf.write(stereo, np.stack([talk, heart], axis=1), sr, subtype="FLOAT")
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(stereo), ""))

    def pick(parent, title, label, items, *rest):
        asked.append((label, list(items)))
        return "Channel 2", True

    monkeypatch.setattr(QInputDialog, "getItem", pick)
    w = open_main_window(qtbot)
    try:
        rv = w.review_panel
        rv._import_clicked()
        assert asked == [("two inputs.wav has 2 channels. Which one holds the stethoscope?", channel_choices(2))]
        qtbot.waitUntil(lambda: rv.loaded is not None and rv.loaded.meta.get("imported"), timeout=5000)
        copy = rv.loaded.path
        assert copy != stereo and np.array_equal(w.ctx.selected_audio[0], heart)
        rv.load(copy, _describe(copy)[1])  # opened again from the list, as after a restart
        qtbot.waitUntil(lambda: rv.loaded is not None and not rv.loaded.meta.get("imported"), timeout=5000)
        assert np.array_equal(w.ctx.selected_audio[0], heart)
        removed = shelf_of(w.ctx).delete(copy)
        assert copy.with_suffix(".json") in removed and not copy.with_suffix(".json").exists()
    finally:
        w.close()


def test_importing_a_damaged_mp3_opens_it_and_says_what_was_left_out(qtbot, tmp_path, monkeypatch):
    """Issue 11 item 1: bytes overwritten in the middle of an MP3 (FFmpeg decodes around them) ->
    the rest opens, and a warning banner carries the reader's note. The file dialog is the only
    stand-in."""
    from PySide6.QtWidgets import QFileDialog

    from stethodesk.audio.fileio import read_audio

    mp3 = tmp_path / "phone.mp3"
    encode(mp3, tone_and_noise(8000, 20.0)[:, None], 8000, "libmp3lame", "mp3")
    overwrite(mp3)
    notes = []
    expected, _ = read_audio(mp3, notes=notes)
    assert len(notes) == 1 and "could not be decoded and were left out" in notes[0]
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(mp3), ""))
    w = open_main_window(qtbot)
    try:
        rv = w.review_panel
        rv._import_clicked()
        qtbot.waitUntil(lambda: rv.loaded is not None and rv.loaded.meta.get("imported"), timeout=5000)
        assert np.array_equal(w.ctx.selected_audio[0], expected)  # opened, without the damage
        qtbot.waitUntil(lambda: any(notes[0] in b.text for b in w.banners.banners()), timeout=5000)
    finally:
        w.close()


def test_comparing_with_a_damaged_file_says_what_was_left_out_with_the_answer(tmp_path, qtbot):
    """The Listen tab's comparison reads the second file in the inference worker: its damage note
    travels with the answer (``notes``, shown under the answer), not dropped. The engine is the
    workflow tests' scripted stand-in; the damaged MP3 is made here from a real recording."""
    import soundfile as sf

    from audio_files import damaged_real_mp3
    from stethodesk.audio.fileio import scan
    from stethodesk.gui.inference import AskRequest, InferenceWorker
    from stethodesk.paths import shared_data_dir
    from test_workflow_gui_flows import ScriptedEngine

    mp3 = tmp_path / "other.mp3"
    damaged_real_mp3(mp3)
    note = scan(mp3).note
    assert "could not be decoded and were left out" in note
    x, sr = sf.read(str(shared_data_dir() / "circor2022" / "training_data" / "50111_AV.flac"), dtype="float32")
    worker = InferenceWorker()
    worker.engine = ScriptedEngine()
    done, failed = [], []
    worker.answerDone.connect(lambda rid, info: done.append(info))
    worker.failed.connect(lambda rid, msg: failed.append(msg))
    worker.ask(AskRequest(1, "comparison", samples=x, samplerate=sr, domain="heart", other_path=str(mp3)))
    assert not failed and len(done) == 1 and done[0]["notes"] == [note]
    assert ("ask", "comparison", True) in worker.engine.calls  # the damaged file was compared, not refused
