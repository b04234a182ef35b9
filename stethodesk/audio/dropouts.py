"""Short dropouts: runs at the digital floor inside a recording (issue 11, item 3 re-tests; F2, F5, F6, F9).

A Bluetooth stethoscope that loses packets sends digital silence for the lost 10-500 ms: runs of
exact zeros in the middle of the sound, or of the converter's last bits of dither ({-1, 0, 1}
steps of a 16-bit file), of noise near 1e-7 in a float file, or of the last value held. Heard or
analysed as they are, they are pauses and clicks that no heart or lung made, and a train of them
(one per 0.9 s) once moved the heart rate of a 105 bpm CirCor recording to 69 bpm; dither-filled
gaps in a heart at -30 dBFS made a murmur 0.50 of a 0.06 one, held-value gaps 0.90 of 0.07
(maintainers' re-tests F2, F5, F9). Runs of :data:`DROPOUT_MAX_S` or longer are a device that
stopped sending: digital silence, cut to the sample by :func:`cut_zero_silence` and noted as
silence (:func:`stethodesk.audio.dsp.drop_silence` then takes stretches held at another value).
The short runs:

- :func:`find_dropouts` looks at each kind of floor a gap may hold (:func:`_floor_kinds`): a held
  value (exact zeros among them), and |x| within 1 and :data:`FLOOR_STEPS` steps of the file's
  own grid (or, with no grid, :data:`FLOOR_REL` and :data:`OFF_GRID_REL` of its loud level). No
  step count decides alone: a run at the floor is a gap when it is far longer than the file's own
  runs at that floor (:data:`NATURAL_RATIO` times the longest of the continuum they form, a gap's
  lengths lying a :data:`JUMP` or more above it) and the sound beside it is far above the floor
  (:data:`EDGE_GAIN`); under :data:`SURE_RATIO` times, and for dither always, the sound must also
  be cut off at one side (:data:`ABRUPT_S`), where a quiet stretch of the sound fades. So it works
  at any level and bit depth while the sound stands above its floor: dither a step high is not
  looked for where the sound's loud level is under :data:`COARSE` times it (an 8-bit heart at
  -3 dBFS peak: 3 steps; a 16-bit one 40 dB down: 10 or more), and :func:`coarse_note` says so.
  A value held at the file's extreme is clipping, not a gap; one held at its rest level (within
  :data:`REST_SHARE` of the peak or one step from its mean) is a recorder's noise gate in quiet
  diastole and cannot be told from a link holding a quiet last sample, so it is not counted
  (PhysioNet training-e files: 35 of 384 were cut without this rule, 1 with it). A held run's own
  floor is the rounding to the grid (:data:`ROUNDING_RMS` of a step), so an 8-bit heart a few
  steps loud keeps its held and exact-zero gaps findable; a run at rest (exact zeros in such a
  sound, which rests at codes 128 and 127: libsndfile's conversion floors, putting the mean half
  a step below 0) must always cut the sound off at one side, where the sound's own pauses at rest
  fade into it. Runs under :data:`DROPOUT_MIN_S` apart are one gap.
  Measured 2026-12-01 on 300 CirCor, 300 PhysioNet, 100 ICBHI and 100 SPRSound files as
  recorded: files with dropouts 0, 20, 0, 0 (the rule before: 0, 9, 0, 0, all PhysioNet
  training-d files, found now too). The 11 more are PhysioNet training-e files: 10 hold one exact
  value (their DC, 236-727 steps) for 72-920 ms inside sound of 1,500-4,800 steps RMS (the F9
  kind), one lies within +-2 steps for 182 ms inside sound of 4,200 steps RMS. In 16-bit copies
  of 100 files of each set 40, 50 and 60 dB below full scale: 7 of 1,200 (the rule before: 19),
  3 of them copies of files with gaps as recorded.
  8-bit (2026-12-01, after the held floor became the rounding and rest one step): 0.15-0.3 s gaps
  in 15 PhysioNet/CirCor hearts written as PCM_U8 at their own level, 63 of 75 exact-zero gaps
  found (before: 29; 16-bit copies 75) and 48 of 75 held-value gaps (before: 12; 16-bit 63; the
  rest hold a code at rest). Of 84 real files as 8-bit copies (own level and 0.9 of full scale)
  and 16-bit copies 40/50/60 dB down, the only file newly cut is d0008 in 8 bits, at 2 of its 6
  gaps as recorded; one -60 dB copy (e00703) lost a cut of its own pause; 693 files as recorded:
  unchanged (3 with gaps). Gaps of float noise under a step become a {-1, 0} dither in 8 bits
  (the conversion floors) and are the coarse case :func:`coarse_note` speaks of.
- :func:`cut_dropouts` cuts them out for listening and for the model, joining the sound either side
  with a :data:`CROSSFADE_S` cross-fade so the join is no click: what a clinician should hear is
  the sound that came in, not the link's gaps. Timing matters for the heart rate, so
  :mod:`stethodesk.audio.heart_rate` does not use the cut signal: it keeps the gaps where they are
  and leaves them out of its autocorrelation (:func:`dropout_mask`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CROSSFADE_S", "DROPOUT_MAX_S", "DROPOUT_MIN_S", "coarse_note", "cut_dropouts", "cut_zero_silence",
           "dropout_mask", "dropout_note", "find_dropouts", "frame_levels"]

DROPOUT_MIN_S = 0.02  # s: shorter runs of exact zeros happen in integer audio near zero crossings
# s: longer runs are a link or device that stopped, not a lost packet: left out as digital silence
# (:func:`cut_zero_silence`, noted as such); Bluetooth packet loss leaves gaps of 10 ms to a few 100 ms
DROPOUT_MAX_S = 1.0
NEIGHBOUR_S = 0.02  # s of sound each side of a run that decides whether it is a dropout (at least)
CROSSFADE_S = 0.005  # s: the join across a cut dropout (short enough to blur no heart sound)
SCAN_BLOCK = 1 << 20  # samples per block of the scan for zero runs
PRONE_S = 0.005  # s: floor runs this long or longer are listed one by one; shorter ones only counted
# The file's own runs at a floor form a continuum of lengths from the shortest up (a 16-bit heart at
# -30 dBFS peak: 1-bit runs up to 4 ms; at -40: 22 ms); its longest is the first run more than JUMP
# times the one before it. A gap is NATURAL_RATIO times longer than it (a link's gaps: 50-500 ms)
JUMP = 2.0
NATURAL_RATIO = 4.0
# ...and the sound beside it (over the run's own length, at least NEIGHBOUR_S) at least EDGE_GAIN times
# the floor RMS (about the held value): not a coarse test tone's pauses
EDGE_GAIN = 4.0
ROUNDING_RMS = 1.0 / np.sqrt(12.0)  # steps: RMS of rounding to a grid, the floor of a held run
# under SURE_RATIO times the longest own run, and for dither at any length, the sound in the ABRUPT_S
# next to one side is EDGE_GAIN times the floor too: a gap cuts the sound off, its own pauses fade
# (without it, 10 of 100 SPRSound copies at -50 dB had a breath pause "found")
SURE_RATIO = 10.0
ABRUPT_S = 0.005
REST_SHARE = 0.005  # a held value this share of the peak from the file's mean is its rest level
CLIP_SHARE = 0.99  # a value held at this share of the file's peak or more is clipping, not a gap
# near zero, for the dither or float noise some links and converters leave in a gap: |x| at most
# 1 or FLOOR_STEPS steps of the file's value grid (1-bit dither is +-1) or FLOOR_REL (-60 dB) of its
# loud level; a file on no grid (float, steps under OFF_GRID_STEP) also OFF_GRID_REL (-40 dB)
FLOOR_STEPS = 2.0
FLOOR_REL = 1e-3
OFF_GRID_STEP = 2.0 ** -24
OFF_GRID_REL = 1e-2
# a floor is looked at only where the loud level is COARSE times it or more: below, the sound's own
# quiet stretches rest at it as a gap does (16-bit copies of real recordings at -50/-60 dB: 22 of 200
# SPRSound copies had a pause "found" without it); 1-bit dither in a 16-bit heart at -40 dBFS peak
# is still looked for (loud level ~ 10 steps)
COARSE = 10.0
LEVEL_FRAME_S = 0.01  # s: frames whose RMS (about their mean) measure the sound's level
LOUD_PERCENTILE = 90.0  # of the frames: the file's loud level (gaps may fill half of the frames)
EDGE_S = 0.1  # s: a floor run this close to the start or end is the device settling (2 of 300
# PhysioNet files start with 40 ms so), not a gap inside the sound


def _zero_runs(x: np.ndarray, need: int, tol: float = 0.0, held: bool = False
               ) -> tuple[list[tuple[int, int]], float, np.ndarray]:
    """Runs ``[start, end)`` of samples with ``|x| <= tol`` (exact zeros for 0) in ``x`` at least
    ``need`` samples long, or with ``held`` runs of samples equal to the one before them (a held
    value; ``start`` is then the first sample that repeats, one after the held sample itself); the
    file's quantisation step (smallest non-zero ``|x|``; inf when ``x`` is zero throughout); and how
    many shorter runs there are of each length (shape ``(need,)``, index = length in samples).
    Scans in blocks of :data:`SCAN_BLOCK` samples (a 30-min file needs no full-length temporaries)."""
    runs, step, open_at, before = [], np.inf, -1, False
    hist = np.zeros(need, np.int64)
    for s in range(0, x.size, SCAN_BLOCK):
        b = x[s : s + SCAN_BLOCK]
        if held:
            z = b == x[max(0, s - 1) : s - 1 + b.size] if s else np.r_[False, b[1:] == b[:-1]]
        else:
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


def frame_levels(x: np.ndarray, frame: int) -> np.ndarray:
    """RMS about the mean of each whole ``frame``-sample frame of ``x``: shape ``(len(x) // frame,)``,
    computed in blocks (whole frames each, so the block size changes nothing)."""
    n = x.size // frame
    out = np.empty(n)
    per = max(1, SCAN_BLOCK // frame)
    for i in range(0, n, per):
        out[i : min(n, i + per)] = x[i * frame : min(n, i + per) * frame].reshape(-1, frame).std(
            axis=1, dtype=np.float64)
    return out


def _rms(v: np.ndarray, about: float = 0.0) -> float:
    return float(np.sqrt(np.mean(np.square(v.astype(np.float64) - about)))) if v.size else 0.0


def _floor_kinds(x: np.ndarray, sr: int, step: float) -> list[tuple[float, bool]]:
    """The kinds of floor a gap may be filled with, as ``(tol, held)`` for :func:`_zero_runs`: a held
    value (exact zeros among them), and near zero within 1 and :data:`FLOOR_STEPS` steps of the file's
    grid or :data:`FLOOR_REL` of its loud level (float noise), whichever is more."""
    frame = max(1, int(round(LEVEL_FRAME_S * sr)))
    levels = frame_levels(x, frame)
    loud = float(np.percentile(levels, LOUD_PERCENTILE)) if levels.size else 0.0
    tols = {max(k * step, FLOOR_REL * loud) for k in (1.0, FLOOR_STEPS)}
    if step < OFF_GRID_STEP:  # no grid (float): noise up to OFF_GRID_REL of the loud level
        tols.add(OFF_GRID_REL * loud)
    # dither a few steps high is told from the sound only where the sound is far above it
    return [(0.0, True)] + [(t, False) for t in sorted(tols) if loud >= COARSE * t]


def _gaps_of_kind(x: np.ndarray, sr: int, tol: float, held: bool, step: float
                  ) -> tuple[list[tuple[int, int]], int]:
    """The runs at one kind of floor (``tol``, ``held``: see :func:`_zero_runs`) that are gaps, and
    the file's own longest natural run at it (samples). A run is natural unless the sound on one side
    of it (:data:`NEIGHBOUR_S`, RMS about the run's value) is :data:`EDGE_GAIN` times the floor
    (``tol``; for a held value its rounding, :data:`ROUNDING_RMS` of ``step``) or more: a gap cuts
    the sound off, while the sound's own quiet stretches fade in and out. A gap is such an abrupt
    run of :data:`DROPOUT_MIN_S` to :data:`DROPOUT_MAX_S`, inside the sound, and
    :data:`NATURAL_RATIO` times longer than the longest natural run (the runs under
    :data:`PRONE_S` all count as natural). A value held within a step of the mean (rest) is not a
    gap unless it is exact zeros, and those must cut the sound off at one side at any length."""
    need = max(2, int(round(DROPOUT_MIN_S * sr)))
    five = max(1, int(round(PRONE_S * sr)))
    runs, _, shorter = _zero_runs(x, five, tol, held)
    if held:  # the held sample itself belongs to the run
        runs = [(a - 1, b) for a, b in runs]
    w = max(1, int(round(NEIGHBOUR_S * sr)))
    floor = EDGE_GAIN * (tol if tol else ROUNDING_RMS * step)
    # the file's own floor runs: lengths in a continuum from the shortest up; a gap's lie apart, a
    # JUMP or more above the longest of them (a quiet file's own long pauses join the continuum)
    longest = int(np.flatnonzero(shorter).max()) if shorter.any() else 1
    for length in sorted(b - a for a, b in runs):
        if length > JUMP * longest:
            break
        longest = length
    edge_n = max(need, int(round(EDGE_S * sr)))
    gaps = []
    top = max(float(x.max()), -float(x.min()))  # no full-length temporary (issue 11 item 8)
    # a value held at the file's rest level (its mean) is a recorder's noise gate in quiet diastole,
    # not a lost link holding its last sample: 35 of 384 PhysioNet training-e files were cut so
    rest, rest_tol = float(x.mean(dtype=np.float64)), max(step, REST_SHARE * top)
    e = max(1, int(round(ABRUPT_S * sr)))
    for a, b in runs:
        if not (need <= b - a < DROPOUT_MAX_S * sr and a >= edge_n and b <= x.size - edge_n
                and b - a >= NATURAL_RATIO * longest):
            continue
        c = float(x[a]) if held else 0.0
        if abs(c) >= CLIP_SHARE * top:
            continue  # held at the file's extreme: clipped, not lost
        at_rest = abs(c - rest) <= rest_tol
        if held and c != 0.0 and at_rest:
            continue  # held at rest: gated, not lost (exact zeros keep their own rule)
        n = max(w, b - a)  # sound beside it, over its own length: a gap cuts into sound
        if max(_rms(x[max(0, a - n) : a], c), _rms(x[b : b + n], c)) < floor:
            continue
        # under SURE_RATIO times its own longest run, the file's own quiet stretches may rest this
        # long too, and at rest at any length (a sound a few steps loud): a gap then cuts the sound
        # off at one side at least, where they fade
        abrupt = max(_rms(x[a - e : a], c), _rms(x[b : b + e], c)) >= floor
        if (not held or at_rest or b - a < SURE_RATIO * longest) and not abrupt:
            continue
        gaps.append((a, b))
    return gaps, longest


def _merge(spans: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """``spans`` sorted and joined where they overlap or lie under ``gap`` samples apart."""
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a - out[-1][1] < gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def find_dropouts(x: np.ndarray, sr: int) -> np.ndarray:
    """Dropouts in ``x`` (shape ``(n,)``, rate ``sr`` Hz): ``(k, 2)`` int array of ``[start, end)``
    sample indices, sorted, of runs at least :data:`DROPOUT_MIN_S` and under :data:`DROPOUT_MAX_S`
    long, at least :data:`EDGE_S` from either end, at one of the file's floors (:func:`_floor_kinds`)
    and gaps by :func:`_gaps_of_kind`; runs under :data:`DROPOUT_MIN_S` apart count as one. A file
    that is zero throughout has none. Memory: a few blocks of :data:`SCAN_BLOCK` samples and one
    level per 10 ms. See the module docstring for why."""
    x = np.asarray(x).reshape(-1)
    need = max(2, int(round(DROPOUT_MIN_S * sr)))
    none = np.zeros((0, 2), dtype=np.int64)
    if x.size < 3 * need:
        return none
    _, step, _ = _zero_runs(x, need)
    if not np.isfinite(step):
        return none
    found: list[tuple[int, int]] = []
    for tol, held in _floor_kinds(x, sr, step):
        found += _gaps_of_kind(x, sr, tol, held, step)[0]
    found = [(a, b) for a, b in _merge(found, need) if b - a < DROPOUT_MAX_S * sr]
    return np.asarray(found, dtype=np.int64).reshape(-1, 2)


def coarse_note(x: np.ndarray, sr: int) -> str:
    """"" when :func:`find_dropouts` can tell a 1-step dither gap from the sound of ``x`` (shape
    ``(n,)``, rate ``sr`` Hz); else a sentence saying that such gaps cannot be told and why (the
    sound's loud level is under :data:`COARSE` steps of its format): a gap then goes unnoticed,
    and the user is told rather than left to trust a silence."""
    x = np.asarray(x).reshape(-1)
    need = max(2, int(round(DROPOUT_MIN_S * sr)))
    if x.size < 3 * need:
        return ""
    _, step, _ = _zero_runs(x, need)
    if not np.isfinite(step) or any(not held for _, held in _floor_kinds(x, sr, step)):
        return ""
    levels = frame_levels(x, max(1, int(round(LEVEL_FRAME_S * sr))))
    loud = float(np.percentile(levels, LOUD_PERCENTILE)) / step if levels.size else 0.0
    return (f"gaps a wireless link may have left (dither a step high) cannot be told from this sound: its "
            f"loud level is only {loud:.0f} steps of its format (at least {COARSE:.0f} are needed); "
            f"runs of exact zeros or of one value held away from its rest level are still found")


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
