"""Which autocorrelation peak is the beat: window placement and the systolic interval.

Helpers of :func:`stethodesk.audio.heart_rate.heart_rate_bpm`. No Qt here.

Clinical facts used (with sources):

* Each beat holds two main sounds, S1 (closure of the mitral and tricuspid valves, start of
  systole) and S2 (closure of the aortic and pulmonary valves, end of systole). The interval
  S1-S2 (systole) is shorter than S2-S1 (diastole) at resting rates; systole takes about a third
  of the cycle.
* Systole varies little with the heart rate: the total electromechanical systole is
  ``QS2 = 546 - 2.1 HR`` ms in men, ``549 - 2.0 HR`` in women (Weissler, Harris, Schoenfeld,
  *Systolic time intervals in heart failure in man*, Circulation 37:149-159, 1968). A change of
  rate, and so the beat-to-beat variation, falls mostly on diastole (Boudoulas et al.,
  *Changes in diastolic time with various pharmacologic agents*, Circulation, 1979).
* So the envelope autocorrelation has a sharp peak at the S1-S2 interval (it is used to find
  systole in Springer, Tarassenko, Clifford, *Logistic regression-HSMM-based heart sound
  segmentation*, IEEE TBME 63:822-832, 2016), a blurred, weak one at the S2-S1 interval, and a
  peak at their sum, the beat period, where both sounds come again.
"""

from __future__ import annotations

import numpy as np

SYSTOLE_BEAT_SHARE = 0.8  # the beat peak must be at least this share of the S1-S2 peak's height
DIASTOLE_WEAK_SHARE = 0.5  # an S2-S1 peak is under this share of the S1-S2 peak's height
SUM_TOL = 0.04  # relative tolerance of "S1-S2 + S2-S1 = beat period" and of "2 L"
DOUBLE_SHARE = 2.0  # a peak at 2 L this many times ac[L] makes 2 L the beat (1.5 also halved a
# CirCor rate: 69067_MV 85 -> 42 bpm, annotated 102)


def window_starts(n: int, win: int, hop: int) -> list[int]:
    """Start samples of windows of ``win`` samples spread evenly over ``n`` samples, first at 0,
    last ending at ``n``, about ``hop`` apart (never more). Windows that cover the whole
    recording: cutting a fraction of a second off its start shifts every window by a fraction of
    the hop instead of dropping up to a hop from the end (which moved a chosen period between two
    nearly tied candidates). Requires ``n >= win > 0`` and ``hop > 0``."""
    count = int(np.ceil((n - win) / hop)) + 1
    return [round(float(s)) for s in np.linspace(0, n - win, count)]


def beat_from_systole(ac: np.ndarray, lag: int, peaks: np.ndarray, lag_max: int) -> int:
    """The beat period (frames) when ``lag`` is the S1-S2 interval instead, else ``lag``.

    ``lag`` is read as systole when a later peak ``c`` of ``ac`` (shape ``(n,)``, peak lags
    ``peaks``) at most ``lag_max`` is at least :data:`SYSTOLE_BEAT_SHARE` of ``ac[lag]`` and
    ``c - lag`` (diastole, no shorter than ``lag``) is a peak under :data:`DIASTOLE_WEAK_SHARE` of
    ``ac[lag]``: both sounds recur at ``c``, diastole varies. A true beat ``lag`` is rarely moved:
    its own ``c - lag`` would be ``lag`` or ``2 lag``, peaks about as high as ``ac[lag]``. (Asking
    only that ``ac`` be low around ``c - lag``, peak or not, let the trough between one and two
    beats pass: CirCor 85269_AV 143 -> 61 bpm, annotated 138.)
    PhysioNet 2016 e00266 (counted 60 bpm): peaks 0.36 s (0.19), 0.69 s (0.06), 1.04 s (0.21),
    so 58 bpm, not 171."""
    for c in peaks[(peaks > lag) & (peaks <= lag_max)]:
        if ac[c] < SYSTOLE_BEAT_SHARE * ac[lag]:
            continue
        d = c - lag
        tol = max(2, round(SUM_TOL * float(c)))
        dia = peaks[(np.abs(peaks - d) <= tol) & (peaks >= lag)]
        if dia.size and ac[dia].max() < DIASTOLE_WEAK_SHARE * ac[lag]:
            return int(c)
    return lag


def beat_from_half(ac: np.ndarray, lag: int, peaks: np.ndarray, lag_max: int) -> int:
    """``2 lag`` (frames) when ``ac`` (shape ``(n,)``, peak lags ``peaks``) has a peak there at
    most ``lag_max`` and over :data:`DOUBLE_SHARE` times ``ac[lag]``, else ``lag``.

    A half period is the beat only if the sounds in between recur as strongly as the others: in a
    train of beats the (biased, tapering) autocorrelation at two beats is at most about that at
    one, since beat-to-beat variation adds up. A lag that only its double repeats well is half a
    cycle (S1 to S2 where systole about equals diastole), the harmonic score's credit for
    ``2 lag`` winning it the vote. HLS-CMDS Mix/M0125 (manikin at 72 bpm, lung sounds over it)
    with 0.22 s cut off: ac 0.05 at 0.42 s, 0.12 at 0.86 s, so 70 bpm, not 143 (or, via the
    S1-S2 rule, 50)."""
    tol = max(2, round(SUM_TOL * 2 * lag))
    near = peaks[(np.abs(peaks - 2 * lag) <= tol) & (peaks <= lag_max)]
    if near.size:
        q = int(near[np.argmax(ac[near])])
        if ac[q] > DOUBLE_SHARE * ac[lag]:
            return q
    return lag
