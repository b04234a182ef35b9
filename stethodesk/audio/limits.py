"""The limits every part of the app applies to audio, each one number kept in one place.

No Qt, no numpy: the reader, the quality check, the analysis engine and the GUI all import
these, so a recording refused by one is refused by all with the same figure in the message.
"""

from __future__ import annotations

import math

# s: shortest recording that is analysed or called usable: about 3 heartbeats at 60 bpm, one
# breath cycle at 20 breaths/min (issue 11 item 7: 2.4 s was answered while the quality check
# said "at least 3 s is needed").
MIN_SECONDS = 3.0


def short_seconds(seconds: float, limit: float = MIN_SECONDS) -> str:
    """``seconds`` as shown in a "too short" message, never rounded up to ``limit`` or past it
    (a 2.99 s file once read "only 3.0 s long; at least 3 s is needed"): one decimal, or two
    rounded down when one would reach the limit ("2.99")."""
    text = f"{seconds:.1f}"
    if seconds < limit <= float(text):
        text = f"{math.floor(seconds * 100) / 100:.2f}"
    return text
# s: longest file that is read (30 min); longer ones are refused, before decoding when the
# container gives an exact length, else as soon as decoding passes it.
MAX_SECONDS = 30 * 60
# Hz: sample rates a file may have. Heart sounds and murmurs reach ~500 Hz, so below 1 kHz the
# sound itself is missing; above 768 kHz no sound card records (a 1 Hz file was once answered
# "Clear signal, 60 bpm", issue 11 item 8).
MIN_SAMPLERATE = 1000
MAX_SAMPLERATE = 768_000
# Hz: files above this rate are resampled to it while they are decoded (body sounds lie below
# 2 kHz), so a 30-min 384 kHz file takes 48 kHz worth of memory, not 8x that.
MAX_OUTPUT_RATE = 48_000
# channels a file may have: audio interfaces reach 64; a header claiming thousands is damaged
# (and its mixing matrix alone would not fit in memory).
MAX_CHANNELS = 64
