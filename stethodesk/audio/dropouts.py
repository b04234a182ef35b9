"""Short dropouts: runs at the digital floor inside a recording (issue 11, item 3 re-tests; F2).

A Bluetooth stethoscope that loses packets sends digital silence for the lost 10-500 ms: runs of
samples at 0 in the middle of the sound, often not exactly 0 but the converter's last bit of
dither ({-1, 0, 1} steps of a 16-bit file) or, in a float file, noise near 1e-7. Heard or analysed
as they are, they are pauses and clicks that no heart or lung made, and a train of them (one per
0.9 s) once moved the heart rate of a 105 bpm CirCor recording to 69 bpm (with 1-bit dither in
the gaps: 71 bpm and a murmur at 0.98, maintainers' re-test F2). Runs of :data:`DROPOUT_MAX_S` or
longer are a device that stopped sending: digital silence, cut to the sample by
:func:`cut_zero_silence` and noted as silence (:func:`stethodesk.audio.dsp.drop_silence` then
takes stretches held at another value). The short runs:

- :func:`find_dropouts` finds runs of :data:`DROPOUT_MIN_S` to :data:`DROPOUT_MAX_S` inside the
  sound (not at its very start or end: a late start or early stop), of two kinds. *Exact zeros*:
  counted when the sound beside them is clearly above the file's quantisation step
  (:data:`DROPOUT_LEVEL_STEPS`). *Near zero*, for gaps filled with dither or float noise (``|x|``
  at most :data:`FLOOR_STEPS` steps of the file's value grid or :data:`FLOOR_REL` of its loud
  level, whichever is more, with at most :data:`ZERO_SHARE_MAX` of it exact zeros): counted only
  when the quiet end of the sound around (:data:`QUIET_PERCENTILE` of 10 ms frames within
  :data:`QUIET_WIN_S`) is :data:`QUIET_GAIN` times the run's own level and step. Two thresholds
  (hysteresis): a run enters at the floor, and is a gap only if the sound around it is far
  above; a diastole that merely dips to the floor of a quiet file is itself the quiet end of
  its sound, so it never passes. Measured 2026-12-01 on 300 CirCor, 300 PhysioNet, 100 ICBHI
  and 100 SPRSound files: the near-zero rule adds no find to what the exact rule finds (which
  is 0 apart from 14 PhysioNet files holding real runs of exact zeros, e.g. d0048's 0.86 s).
  Not found: exact zeros in a 16-bit file so quiet (-50 dBFS peak and below) that its own sound
  rounds to 0 for tens of ms; there a gap and the diastole look alike sample by sample (counting
  long runs there "found" gaps in real lung pauses and diastoles quantised so).
- :func:`cut_dropouts` cuts them out for listening and for the model, joining the sound either side
  with a :data:`CROSSFADE_S` cross-fade so the join is no click: what a clinician should hear is
  the sound that came in, not the link's gaps. Timing matters for the heart rate, so
  :mod:`stethodesk.audio.heart_rate` does not use the cut signal: it keeps the gaps where they are
  and leaves them out of its autocorrelation (:func:`dropout_mask`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CROSSFADE_S", "DROPOUT_LEVEL_STEPS", "DROPOUT_MAX_S", "DROPOUT_MIN_S", "cut_dropouts", "cut_zero_silence",
           "dropout_mask", "dropout_note", "find_dropouts"]

DROPOUT_MIN_S = 0.02  # s: shorter runs of exact zeros happen in integer audio near zero crossings
# s: longer runs are a link or device that stopped, not a lost packet: left out as digital silence
# (:func:`cut_zero_silence`, noted as such); Bluetooth packet loss leaves gaps of 10 ms to a few 100 ms
DROPOUT_MAX_S = 1.0
DROPOUT_LEVEL_STEPS = 8.0  # the sound beside a dropout is at least this many quantisation steps (RMS)
NEIGHBOUR_S = 0.02  # s of sound each side of a run that decides whether it is a dropout (at least)
CROSSFADE_S = 0.005  # s: the join across a cut dropout (short enough to blur no heart sound)
SCAN_BLOCK = 1 << 20  # samples per block of the scan for zero runs
# near zero, for the dither or float noise some links and converters leave in a gap: |x| at most
# FLOOR_STEPS of the file's value grid (1-bit dither is +-1) or FLOOR_REL (-60 dB) of its loud level
FLOOR_STEPS = 2.0
FLOOR_REL = 1e-3
LEVEL_FRAME_S = 0.01  # s: frames whose RMS (about their mean) measure the sound's level
LOUD_PERCENTILE = 90.0  # of the frames: the file's loud level (gaps may fill half of the frames)
# the quiet end of the sound around a near-zero run (frames in such runs left out) must be at least
# QUIET_GAIN (18 dB) times the run's own level and the step: a diastole at the floor of a quiet file
# is its own quiet end, so it does not pass (the recording of the tests quantised 40 and 50 dB down);
# 1-bit dither gaps in a normal 16-bit heart recording pass by 40 dB and more
QUIET_PERCENTILE = 10.0
# ...and at most this share of it exact zeros: dither or noise fills every sample of a gap, while a
# quiet sound rounded to the grid of a quiet file is mostly zeros with a few +-1 (left to the exact
# rule, as before: this rule alone "found" 20 more runs in 150 real files quantised at -50/-60 dB)
ZERO_SHARE_MAX = 0.5
QUIET_WIN_S = 0.5
QUIET_GAIN = 8.0
EDGE_S = 0.1  # s: a near-zero run this close to the start or end is the device settling (2 of 300
# PhysioNet files start with 40 ms so), not a gap inside the sound


def _zero_runs(x: np.ndarray, need: int, tol: float = 0.0) -> tuple[list[tuple[int, int]], float]:
    """Runs ``[start, end)`` of samples with ``|x| <= tol`` (exact zeros for 0) in ``x`` at least
    ``need`` samples long, and the file's quantisation step (smallest non-zero ``|x|``; inf when
    ``x`` is zero throughout). Scans in blocks of :data:`SCAN_BLOCK` samples (a 30-min file needs
    no full-length temporaries)."""
    runs, step, open_at, before = [], np.inf, -1, False
    for s in range(0, x.size, SCAN_BLOCK):
        b = x[s : s + SCAN_BLOCK]
        z = b == 0 if tol == 0 else np.abs(b) <= tol
        nonzero = np.abs(b[b != 0])
        if nonzero.size:
            step = min(step, float(nonzero.min()))
        change = np.flatnonzero(np.diff(z.view(np.int8), prepend=np.int8(before))) + s
        before = bool(z[-1])
        if change.size == 0:
            continue
        rise = z[change - s]  # True: a run starts here; False: one ends here
        starts, ends = change[rise], change[~rise]
        if open_at >= 0 and ends.size:  # the run left open by the last block ends first
            runs.append((open_at, int(ends[0])))
            ends, open_at = ends[1:], -1
        paired = starts[: ends.size]
        long_ = (ends - paired) >= need
        runs.extend(zip(paired[long_].tolist(), ends[long_].tolist()))
        if starts.size > ends.size:
            open_at = int(starts[-1])
    if open_at >= 0:
        runs.append((open_at, x.size))
    return [(a, b) for a, b in runs if b - a >= need], step


def _frame_levels(x: np.ndarray, frame: int) -> np.ndarray:
    """RMS about the mean of each whole ``frame``-sample frame of ``x``: shape ``(len(x) // frame,)``,
    computed in blocks (whole frames each, so the block size changes nothing)."""
    n = x.size // frame
    out = np.empty(n)
    per = max(1, SCAN_BLOCK // frame)
    for i in range(0, n, per):
        out[i : min(n, i + per)] = x[i * frame : min(n, i + per) * frame].reshape(-1, frame).std(
            axis=1, dtype=np.float64)
    return out


def _rms(v: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(v, dtype=np.float64)))) if v.size else 0.0


def find_dropouts(x: np.ndarray, sr: int) -> np.ndarray:
    """Dropouts in ``x`` (shape ``(n,)``, rate ``sr`` Hz): ``(k, 2)`` int array of ``[start, end)``
    sample indices, sorted, of runs at least :data:`DROPOUT_MIN_S` and under :data:`DROPOUT_MAX_S`
    long, at least :data:`DROPOUT_MIN_S` (near-zero runs: :data:`EDGE_S`) from either end. Exact
    zeros: with sound of RMS at least :data:`DROPOUT_LEVEL_STEPS` quantisation steps (the smallest
    non-zero ``|x|`` in the file) within :data:`NEIGHBOUR_S` on one side. Near zero
    (:data:`FLOOR_STEPS`, :data:`FLOOR_REL`, :data:`ZERO_SHARE_MAX`): the quiet end of the sound
    around at least :data:`QUIET_GAIN` times the run's RMS and the step. A file that is zero
    throughout has none. Memory: a few blocks of :data:`SCAN_BLOCK` samples and one level per
    10 ms. See the module docstring for why."""
    x = np.asarray(x).reshape(-1)
    need = max(2, int(round(DROPOUT_MIN_S * sr)))
    none = np.zeros((0, 2), dtype=np.int64)
    if x.size < 3 * need:
        return none
    zeros, step = _zero_runs(x, need)
    if not np.isfinite(step):
        return none
    w = max(1, int(round(NEIGHBOUR_S * sr)))
    keep = [(a, b) for a, b in zeros if b - a < DROPOUT_MAX_S * sr and a >= need and b <= x.size - need
            and max(_rms(x[max(0, a - w) : a]), _rms(x[b : b + w])) >= DROPOUT_LEVEL_STEPS * step]
    frame = max(1, int(round(LEVEL_FRAME_S * sr)))
    levels = _frame_levels(x, frame)
    if levels.size < 2:
        return np.asarray(sorted(keep), dtype=np.int64).reshape(-1, 2)
    tol = max(FLOOR_STEPS * step, FLOOR_REL * float(np.percentile(levels, LOUD_PERCENTILE)))
    near, _ = _zero_runs(x, need, tol)
    floor = np.zeros(levels.size, bool)  # frames touching a near-zero run: not the sound around
    for a, b in near:
        floor[a // frame : (b + frame - 1) // frame] = True
    around_n = max(1, int(round(QUIET_WIN_S * sr)) // frame)
    edge = max(need, int(round(EDGE_S * sr)))
    for a, b in near:
        if b - a >= DROPOUT_MAX_S * sr or a < edge or b > x.size - edge:
            continue
        if any(c < b and a < d for c, d in keep):
            continue  # the exact zeros inside it were counted, to the sample
        if np.count_nonzero(x[a:b] == 0) > ZERO_SHARE_MAX * (b - a):
            continue
        fa, fb = a // frame, (b + frame - 1) // frame
        near_frames = np.r_[max(0, fa - around_n) : fa, fb : min(levels.size, fb + around_n)]
        around = levels[near_frames][~floor[near_frames]]
        if around.size and np.percentile(around, QUIET_PERCENTILE) >= QUIET_GAIN * max(_rms(x[a:b]), step):
            keep.append((a, b))
    return np.asarray(sorted(keep), dtype=np.int64).reshape(-1, 2)


def cut_zero_silence(x: np.ndarray, sr: int, in_place: bool = False) -> tuple[np.ndarray, float]:
    """``x`` (shape ``(n,)``) without its runs of exact zeros of :data:`DROPOUT_MAX_S` or longer (a
    device that stopped sending), cut to the sample and joined as :func:`cut_dropouts` joins, and
    the seconds left out. A file that is zero throughout comes back whole (0.0 s): it is "flat".
    Run before :func:`stethodesk.audio.dsp.drop_silence`, which cuts in 50 ms frames and would
    leave up to two frames of zeros at each cut, to be counted as a dropout. ``in_place``: as
    :func:`cut_dropouts`'s (the result is written over ``x``)."""
    x = np.asarray(x).reshape(-1)
    runs, step = _zero_runs(x, max(1, int(np.ceil(DROPOUT_MAX_S * sr))))
    if not runs or not np.isfinite(step):
        return x, 0.0
    kept, _ = cut_dropouts(x, sr, np.asarray(runs, dtype=np.int64), in_place=in_place)
    return kept, (x.size - kept.size) / sr


def cut_dropouts(x: np.ndarray, sr: int, spans: np.ndarray | None = None,
                 in_place: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (shape ``(n,)``) with its dropouts (``spans`` from :func:`find_dropouts`, found when
    None) cut out and each join cross-faded over :data:`CROSSFADE_S`; and the spans. ``x`` itself
    comes back when there are none. The result (float32) is shorter by the dropouts plus one
    cross-fade each. ``in_place`` (``x`` float32 and writable; its contents are then lost): the
    result is written over ``x`` and is a view of it, so a 30-min recording needs no second copy
    (issue 11 item 8); otherwise it goes into one new array."""
    x = np.asarray(x).reshape(-1)
    spans = find_dropouts(x, sr) if spans is None else spans
    if spans.size == 0:
        return x, spans
    if in_place and (x.dtype != np.float32 or not x.flags.writeable):
        raise ValueError("cut_dropouts(in_place=True) needs a writable float32 array")
    bounds = np.concatenate(([0], spans.reshape(-1), [x.size])).reshape(-1, 2)  # kept [from, to)
    out = x if in_place else np.empty(x.size, np.float32)
    fade = int(round(CROSSFADE_S * sr))
    pos = last = 0  # samples written; length of the piece written last
    for a, b in bounds:
        if b <= a:
            continue
        f = min(fade, last, b - a) if pos else 0
        if f > 0:  # what was read from x[a:] lies at or after pos: not yet overwritten
            ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(f) + 0.5) / f)).astype(np.float32)
            out[pos - f : pos] = out[pos - f : pos] * ramp[::-1] + x[a : a + f].astype(np.float32) * ramp
            a += f
        for s in range(a, b, SCAN_BLOCK):  # forward, block by block: safe where out and x overlap
            e = min(b, s + SCAN_BLOCK)
            out[pos + s - a : pos + e - a] = x[s:e]
        pos, last = pos + b - a, b - a
    return out[:pos], spans


def dropout_mask(n: int, spans: np.ndarray, widen: int = 0) -> np.ndarray:
    """Boolean ``(n,)``: True inside the spans, each widened by ``widen`` samples on both sides."""
    mask = np.zeros(n, bool)
    for a, b in spans:
        mask[max(0, a - widen) : min(n, b + widen)] = True
    return mask


def dropout_note(spans: np.ndarray, sr: int) -> str:
    """"3 dropouts (0.70 s of digital silence inside the sound, as a Bluetooth link makes) were cut
    out"."""
    k = len(spans)
    seconds = float((spans[:, 1] - spans[:, 0]).sum()) / sr if k else 0.0
    verb = "was" if k == 1 else "were"
    return (f"{k} dropout{'s' if k != 1 else ''} ({seconds:.2f} s of digital silence inside the sound, as a "
            f"wireless link makes when it loses data) {verb} cut out")
