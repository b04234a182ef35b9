"""The recordings list and the file dialogs know every format the reader takes (issue 11 item 1):
an M4A from a phone app is offered and listed with its length; an MP3 whose header only guesses
its length is listed without the guess (4.7 s for a 21.3 s file) until it is opened."""

from __future__ import annotations

from audio_files import encode, tone_and_noise
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
