"""Mains hum (or any steady tone) under a body sound, filtered out before analysis. No Qt here.

A recording that is only a tone is refused (:func:`stethodesk.audio.body_sound.no_body_sound_reason`);
a real heart or lung sound under loud hum passes that check, as it should, but the hum then
reached the model and the heart-rate step: a CirCor heart under 60 Hz hum 30 dB louder read
murmur 0.96, abnormal 0.84 and 171 bpm with "Clear signal"; under 50 Hz hum 20-40 dB louder it
was taken for a lung sound (issue 11, maintainers' re-test F1, 2026-12-01). So when narrow
spectral lines (found and cut by :func:`stethodesk.audio.body_sound.without_lines`) hold at least
:data:`HUM_SHARE` of a block's power, the block is analysed with them cut, and the quality note
says so. Weaker hum is left as it is (10 dB of hum over the same heart changed nothing).
"""

from __future__ import annotations

import numpy as np

from stethodesk.audio.body_sound import without_lines
from stethodesk.audio.dsp import Quality, noted

__all__ = ["HUM_SHARE", "noted_hum", "remove_hum"]

HUM_SHARE = 0.5  # lines holding at least this share of the power (>= 20 Hz) are cut out
BLOCK_S = 30.0  # s: judged and cut block by block (bounded memory, hum that starts part-way)
MIN_S = 2.0  # s: without_lines needs 1 Hz bins over a few frames


def remove_hum(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """``x`` (shape ``(n,)``, rate ``sr`` Hz) with its spectral lines cut in every block of
    :data:`BLOCK_S` where they hold at least :data:`HUM_SHARE` of the power, and the strongest
    line's frequency in Hz; ``(x, 0.0)``, the very array given, when no block has such hum (or ``x`` is under
    :data:`MIN_S`)."""
    given, x = x, np.asarray(x).reshape(-1)
    if x.size < MIN_S * sr:
        return given, 0.0
    n_blocks = max(1, int(x.size // (BLOCK_S * sr)))
    size = x.size // n_blocks
    out, hz = None, 0.0
    for i in range(n_blocks):
        a, b = i * size, (x.size if i == n_blocks - 1 else (i + 1) * size)
        block = x[a:b].astype(np.float64)
        rest, left, peak = without_lines(block - block.mean(), sr)
        if left <= 1.0 - HUM_SHARE:
            if out is None:
                out = np.array(x, dtype=np.float32)
            out[a:b] = rest
            hz = hz or peak
    return (given, 0.0) if out is None else (out, hz)


def noted_hum(q: Quality, hum_hz: float) -> Quality:
    """``q`` (the :class:`~stethodesk.audio.dsp.Quality` of the sound with its hum cut) with the
    note that hum at ``hum_hz`` was filtered out (issue "hum", level at most "fair")."""
    return noted(q, f"A steady tone at about {hum_hz:.0f} Hz (mains hum or a nearby device) was louder than "
                 "the body sound and was filtered out before analysis; move away from mains-powered equipment "
                 "if you can", "hum")
