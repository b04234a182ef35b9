"""Whether a recording's sample values alone rule out analysing it (issue 11 item 3, re-test F5):
too coarse (a sound moving by only a few steps of its file's format) or generated (a few exact
values repeated).

Something is coming in - it is not flat - but a heart at -66 dBFS in a 16-bit file, or a heart at
-30 dBFS in an 8-bit one, is a handful of quantisation levels: its shape is lost in the rounding.
The step is the file's own: the smallest change between neighbouring samples, kept only when every
change is a whole number of it (an integer format, or a float file holding one). A loud tone whose
few values lie on no fine grid (a 1 kHz beep at 8 kHz takes 5 values) is generated, not quiet; a
real float recording at any level is neither.
No Qt; numpy only.
"""

from __future__ import annotations

import numpy as np

COARSE_STEPS = 1.0  # AC RMS under this many steps of the grid: too coarse to analyse (a 16-bit
# heart at -66 dBFS peak is 0.98 steps; at -60 dBFS, 1.8 steps, its rate is still found right)
GRID_TOLERANCE = 1e-3  # a change is a whole number of steps to this fraction of a step ...
GRID_REL = 1e-6  # ... plus this fraction of the change (a float gain multiplied into the samples)
MAX_STEP = 2.0**-5  # a grid coarser than 8-bit's step with a gain of 4 is a generated signal's values
GENERATED_VALUES = 16  # a sound taking this many values or fewer, on no fine grid, was generated
PROBE = 1 << 20  # samples the grid is measured on (the first ~2 min at 8 kHz)
FORMATS = {7: "8-bit", 15: "16-bit", 23: "24-bit"}  # step 2**-k: the integer format it is


def grid_step(x: np.ndarray) -> float:
    """The step of the value grid the first :data:`PROBE` samples of ``x`` (shape ``(n,)``) sit on,
    or 0.0 when they hold one value or lie on no grid (every change between neighbours a whole
    number of the smallest change, to :data:`GRID_TOLERANCE`)."""
    probe = np.asarray(np.asarray(x).reshape(-1)[:PROBE], dtype=np.float64)
    d = np.abs(np.diff(probe))
    d = d[d > 0]
    if d.size == 0:
        return 0.0
    step = float(d.min())
    r = d / step
    on_grid = np.abs(r - np.round(r)) <= GRID_TOLERANCE + GRID_REL * r
    return step if bool(np.all(on_grid)) else 0.0


def coarse_reason(x: np.ndarray, rms: float) -> tuple[str, str] | None:
    """(issue, plain reason) when ``x`` (shape ``(n,)``, AC RMS ``rms`` in its own units) cannot be
    analysed for its values alone, else None:

    - ("too_quiet", "Too quiet to analyse ...") when its RMS is under :data:`COARSE_STEPS` steps of a
      format's grid (:func:`grid_step` at most :data:`MAX_STEP`); names the format (8/16/24-bit).
      Its own key, not "flat": something does come in, so the advice is more gain or a firmer
      chest piece, never "check the stethoscope is plugged in";
    - ("no_body_sound", "Only N exact sample values ...") when it takes at most
      :data:`GENERATED_VALUES` values and they lie on no fine grid: a generated tone, beep or
      square wave (a 1 kHz beep at 8 kHz takes 5), which no microphone and converter give.
    """
    step = grid_step(x)
    fine = 0 < step <= MAX_STEP
    if fine and not rms < COARSE_STEPS * step:
        return None  # every real recording: the values are not counted
    levels = int(np.unique(np.asarray(x).reshape(-1)[:PROBE]).size)
    if fine:
        bits = next((k for k in FORMATS if step == 2.0**-k), None)
        of = f"of the {2 ** (bits + 1):,} levels of its {FORMATS[bits]} format" if bits else "different sample values"
        return "too_quiet", (f"Too quiet to analyse: the sound is coming in but uses only {levels} {of}, too few to "
                        "tell heart or lung sounds apart from the rounding. Hold the chest piece closer or raise "
                        "the input gain, and record again.")
    if levels <= GENERATED_VALUES:
        return "no_body_sound", (f"Only {levels} exact sample values repeat throughout: a generated tone, beep "
                                 "or test signal, not a heart or lung sound.")
    return None
