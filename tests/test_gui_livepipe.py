"""The live view's signal path without Qt: decimation, filtering, spectrogram, heart rate.

Uses the project's own synthesizer (a neighbour, run for real) at a 48 kHz device rate.
"""

from __future__ import annotations

import numpy as np
import pytest

from stethodesk.audio import dsp, synth
from stethodesk.gui.livepipe import LivePipeline, decimation_for
from stethodesk.gui.spectrogram import LiveSpectrogram

BLOCK = 1600  # samples per GUI tick at 48 kHz and 30 Hz


@pytest.mark.parametrize(
    "rate, factor, display",
    [(48000, 12, 4000), (44100, 10, 4410), (22050, 5, 4410), (16000, 4, 4000), (8000, 2, 4000), (4000, 1, 4000),
     (11025, 1, 11025)],
)
def test_decimation_keeps_an_integer_display_rate_of_at_least_4k(rate, factor, display):
    assert decimation_for(rate) == factor
    assert LivePipeline(rate).rate == display


def test_heart_rate_from_a_48k_stream_pushed_in_ticks():
    r = synth.render("normal_heart", seconds=8.0, samplerate=48000, heart_rate=72.0)
    pipe = LivePipeline(48000, "bell")
    for i in range(0, r.samples.size, BLOCK):
        pipe.push(r.samples[i : i + BLOCK])
    assert pipe.raw.total == r.samples.size // 12
    bpm = dsp.heart_rate_bpm(pipe.latest_raw(6.0), pipe.rate)
    direct = dsp.heart_rate_bpm(r.samples[-6 * 48000 :], 48000)
    assert bpm is not None and abs(bpm - 72.0) < 4.0  # "within a few bpm" of the synthesizer's rate
    assert abs(bpm - direct) < 1.0  # decimating to the display rate does not change the estimate


def test_block_boundaries_do_not_change_the_output():
    """Same input in different block sizes gives the same display samples (state is carried)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(48000).astype(np.float32) * 0.1
    a, b = LivePipeline(48000, "diaphragm"), LivePipeline(48000, "diaphragm")
    a.push(x)
    for i in range(0, x.size, 777):  # odd block size: the decimation phase must carry over
        b.push(x[i : i + 777])
    np.testing.assert_allclose(a.latest_shown(1.0), b.latest_shown(1.0), atol=1e-5)


def test_a_click_survives_decimation_and_shows_in_the_trace():
    x = np.zeros(48000, dtype=np.float32)
    x[30000:30048] = 0.8  # 1 ms click
    pipe = LivePipeline(48000, "wide")
    pipe.push(x)
    shown = pipe.latest_shown(1.0)
    peak = int(np.argmax(np.abs(shown)))
    assert abs(shown[peak]) > 0.1
    assert abs(peak - 30000 / 12) < 40  # within 10 ms of where it was


def test_gain_scales_the_trace():
    x = synth.render("normal_heart", seconds=2.0, samplerate=4000).samples
    a, b = LivePipeline(4000, "bell", 0.0), LivePipeline(4000, "bell", 20.0)
    a.push(x)
    b.push(x)
    np.testing.assert_allclose(b.latest_shown(2.0), 10.0 * a.latest_shown(2.0), rtol=1e-4, atol=1e-6)


def test_spectrogram_columns_match_a_batch_stft_and_find_the_tone():
    sr = 4000
    t = np.arange(sr * 2) / sr
    x = (0.5 * np.sin(2 * np.pi * 250.0 * t)).astype(np.float32)
    inc = LiveSpectrogram(sr, max_seconds=3.0)
    for i in range(0, x.size, 333):
        inc.push(x[i : i + 333])
    whole = LiveSpectrogram(sr, max_seconds=3.0)
    whole.push(x)
    np.testing.assert_allclose(inc.latest(1.5), whole.latest(1.5), atol=1e-3)
    cols = inc.latest(1.0)
    peak_hz = np.argmax(cols.mean(axis=0)) * sr / inc.n_fft
    assert abs(peak_hz - 250.0) <= sr / inc.n_fft
    assert abs(cols.max() - 20 * np.log10(0.5)) < 1.0  # a half-scale sine reads -6 dB


def test_findings_card_rows_hide_conditional_murmur_details_and_classifiers():
    from stethodesk.gui.findings_card import shown_findings, top_differential

    f = {"murmur": 0.3, "murmur_timing_systolic": 1.0, "abnormal": 0.8, "site_MV": 0.9, "is_lung": 0.1,
         "lesion_N": 0.6, "lesion_AS": 0.25, "lesion_MR": 0.1}
    keys = [k for k, _ in shown_findings(f)]
    # lesions are the called murmur's cause: hidden, and no "top differential", without one
    assert keys == ["abnormal", "murmur"]
    assert top_differential(f) is None
    f["murmur"] = 0.7
    assert "murmur_timing_systolic" in [k for k, _ in shown_findings(f)]
    assert "lesion_AS" in [k for k, _ in shown_findings(f)]
    assert top_differential(f) == ("Aortic stenosis", 0.25)
