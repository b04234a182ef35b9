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
  counted when :data:`NATURAL_RATIO` times longer than the file's own longest natural zero run
  and beside sound above its quantisation step (:data:`DROPOUT_LEVEL_STEPS`), except in a
  "zero-prone" file whose own sound rounds to 0 often (a 16-bit file at -50 dBFS peak and
  below): there a gap and its own pauses look alike sample by sample, and none is counted.
  *Near zero*, for gaps filled with dither or float noise (``|x|`` at most :data:`FLOOR_STEPS`
  steps of the file's value grid or :data:`FLOOR_REL` of its loud level, whichever is more,
  with at most :data:`ZERO_SHARE_MAX` of it exact zeros): counted only when the quiet end of
  the sound around (:data:`QUIET_PERCENTILE` of 10 ms frames within :data:`QUIET_WIN_S`) is
  :data:`QUIET_GAIN` times the run's own level and step. Two thresholds (hysteresis): a run
  enters at the floor, and is a gap only if the sound around it is far above; a diastole that
  merely dips to the floor of a quiet file is itself the quiet end of its sound, so it never
  passes. Measured 2026-12-01 on 300 CirCor, 300 PhysioNet, 100 ICBHI and 100 SPRSound files:
  dropouts in 0, 9, 0 and 0 of them (the 9: PhysioNet training-d files holding runs of exact
  zeros of 110-860 ms inside loud sound, digital gaps the rule before found too, in 14 files);
  in copies of 100 files of each set quantised to 16 bits 40, 50 and 60 dB below full scale,
  in 19 of 1,200 (the rule before, "sound 8 steps loud within 20 ms beside exact zeros": 92).
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
# the sound beside a run of exact zeros (over the run's own length, at least NEIGHBOUR_S) is at least this
# many quantisation steps RMS: not a coarse test tone's pauses (5 levels, 0.9 s of zeros between beeps)
DROPOUT_LEVEL_STEPS = 2.0
NEIGHBOUR_S = 0.02  # s of sound each side of a run that decides whether it is a dropout (at least)
CROSSFADE_S = 0.005  # s: the join across a cut dropout (short enough to blur no heart sound)
SCAN_BLOCK = 1 << 20  # samples per block of the scan for zero runs
# A file whose own sound rounds to exact 0 now and then (a 16-bit heart at -50 dBFS) holds natural
# zero runs of 2.5-20 ms; a run of 20 ms or more is then a dropout only when NATURAL_RATIO times
# longer than its longest natural one (a link's gaps: 100-500 ms; a 16-bit heart at -40 dBFS
# peak: at most 4 ms). A "zero-prone" file (at least PRONE_COUNT natural runs of PRONE_S-20 ms, and
# PRONE_COUNT a minute; or more than ZERO_SHARE_PRONE of its sound outside the runs exact 0) holds
# long natural runs too, as pauses between breaths or long diastoles: there a gap and its own
# sound look alike sample by sample, and exact zeros are not counted. A heart at -40 dBFS peak
# with 0.3-s gaps every 1.1 s has all 16 found (the rule before: 7); the quantised copies in the
# module docstring show how rarely a natural run passes.
NATURAL_RATIO = 10.0
SHORT_GAP_STEPS = 8.0  # a 5-20 ms zero run with sound this many steps RMS within NEIGHBOUR_S is a short
# gap, not natural: it does not raise the yardstick (a 15-ms gap beside 100-ms ones)
PRONE_S = 0.005
PRONE_COUNT = 10
ZERO_SHARE_PRONE = 0.5
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


def _zero_runs(x: np.ndarray, need: int, tol: float = 0.0) -> tuple[list[tuple[int, int]], float, np.ndarray]:
    """Runs ``[start, end)`` of samples with ``|x| <= tol`` (exact zeros for 0) in ``x`` at least
    ``need`` samples long; the file's quantisation step (smallest non-zero ``|x|``; inf when ``x``
    is zero throughout); and how many shorter runs there are of each length (shape ``(need,)``,
    index = length in samples). Scans in blocks of :data:`SCAN_BLOCK` samples (a 30-min file
    needs no full-length temporaries)."""
    runs, step, open_at, before = [], np.inf, -1, False
    hist = np.zeros(need, np.int64)
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
        hist += np.bincount((ends - paired)[~long_], minlength=need)[:need]
        if starts.size > ends.size:
            open_at = int(starts[-1])
    if open_at >= 0:
        runs.append((open_at, x.size))
    for a, b in runs:
        if b - a < need:
            hist[b - a] += 1
    return [(a, b) for a, b in runs if b - a >= need], step, hist


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


def _exact_dropouts(x: np.ndarray, sr: int, zeros: list[tuple[int, int]], shorter: np.ndarray,
                    step: float) -> list[tuple[int, int]]:
    """The runs of exact zeros among ``zeros`` (all at least ``need = shorter.size`` samples) that
    are dropouts: inside the sound, under :data:`DROPOUT_MAX_S`, in a file that is not zero-prone,
    :data:`NATURAL_RATIO` times longer than the file's longest natural zero run (``shorter``: the
    histogram of run lengths under ``need``; runs of :data:`PRONE_S` or more with sound of
    :data:`SHORT_GAP_STEPS` steps right beside them are short gaps, not natural), with sound of
    :data:`DROPOUT_LEVEL_STEPS` steps RMS over the run's own length (at least
    :data:`NEIGHBOUR_S`) on one side. ``step``: the file's quantisation step. See the constants."""
    need = shorter.size
    w = max(1, int(round(NEIGHBOUR_S * sr)))
    five = max(1, int(round(PRONE_S * sr)))
    natural = [b - a for a, b in _zero_runs(x, five)[0]  # 5-20 ms, not abrupt (else a short gap)
               if b - a < need and max(_rms(x[max(0, a - w) : a]), _rms(x[b : b + w])) < SHORT_GAP_STEPS * step]
    held = sum(b - a for a, b in zeros)
    if (len(natural) >= max(PRONE_COUNT, PRONE_COUNT * x.size / sr / 60.0)
            or int(shorter @ np.arange(need)) > ZERO_SHARE_PRONE * max(1, x.size - held)):
        return []
    longest = max([int(np.flatnonzero(shorter[:five]).max()) if shorter[:five].any() else 1, *natural])
    return [(a, b) for a, b in zeros if b - a < DROPOUT_MAX_S * sr and a >= need and b <= x.size - need
            and b - a >= NATURAL_RATIO * longest and max(
                _rms(x[max(0, a - max(w, b - a)) : a]), _rms(x[b : b + max(w, b - a)])) >= DROPOUT_LEVEL_STEPS * step]


def find_dropouts(x: np.ndarray, sr: int) -> np.ndarray:
    """Dropouts in ``x`` (shape ``(n,)``, rate ``sr`` Hz): ``(k, 2)`` int array of ``[start, end)``
    sample indices, sorted, of runs at least :data:`DROPOUT_MIN_S` and under :data:`DROPOUT_MAX_S`
    long, at least :data:`DROPOUT_MIN_S` (near-zero runs: :data:`EDGE_S`) from either end: exact
    zeros as :func:`_exact_dropouts` counts them, and near-zero runs (:data:`FLOOR_STEPS`,
    :data:`FLOOR_REL`, :data:`ZERO_SHARE_MAX`) whose quiet end of the sound around is at least
    :data:`QUIET_GAIN` times their RMS and the step (the smallest non-zero ``|x|`` in the file).
    A file that is zero throughout has none. Memory: a few blocks of :data:`SCAN_BLOCK` samples
    and one level per 10 ms. See the module docstring for why."""
    x = np.asarray(x).reshape(-1)
    need = max(2, int(round(DROPOUT_MIN_S * sr)))
    none = np.zeros((0, 2), dtype=np.int64)
    if x.size < 3 * need:
        return none
    zeros, step, shorter = _zero_runs(x, need)
    if not np.isfinite(step):
        return none
    keep = _exact_dropouts(x, sr, zeros, shorter, step) if zeros else []
    frame = max(1, int(round(LEVEL_FRAME_S * sr)))
    levels = _frame_levels(x, frame)
    if levels.size < 2:
        return np.asarray(sorted(keep), dtype=np.int64).reshape(-1, 2)
    tol = max(FLOOR_STEPS * step, FLOOR_REL * float(np.percentile(levels, LOUD_PERCENTILE)))
    near, _, _ = _zero_runs(x, need, tol)
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
    runs, step, _ = _zero_runs(x, max(1, int(np.ceil(DROPOUT_MAX_S * sr))))
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
