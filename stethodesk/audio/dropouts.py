"""Short dropouts: runs of exact zeros inside a recording (issue 11, re-test of item 3).

A Bluetooth stethoscope that loses packets sends digital silence for the lost 10-500 ms: runs of
samples exactly 0.0 in the middle of the sound. Heard or analysed as they are, they are pauses and
clicks that no heart or lung made, and a train of them (one per 0.9 s) once moved the heart rate of
a 105 bpm CirCor recording to 69 bpm. Runs of :data:`DROPOUT_MAX_S` or longer are a device that
stopped sending: digital silence, cut to the sample by :func:`cut_zero_silence` and noted as silence
(:func:`stethodesk.audio.dsp.drop_silence` then takes stretches held at another value). The short runs:

- :func:`find_dropouts` finds runs of exact zeros of :data:`DROPOUT_MIN_S` to :data:`DROPOUT_MAX_S` whose
  neighbourhood is clearly above the file's own quantisation step. Real recordings hold exact zero
  for at most 1 ms (80 CirCor/ICBHI/PhysioNet files, measured 2026-11-30); a quiet integer file
  may hold it for much longer around zero crossings, but then the sound beside it is within a few
  steps of zero too, so it is not counted (:data:`DROPOUT_LEVEL_STEPS`).
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
NEIGHBOUR_S = 0.02  # s of sound each side of a run that decides whether it is a dropout
CROSSFADE_S = 0.005  # s: the join across a cut dropout (short enough to blur no heart sound)
SCAN_BLOCK = 1 << 20  # samples per block of the scan for zero runs


def _zero_runs(x: np.ndarray, need: int) -> tuple[list[tuple[int, int]], float]:
    """Runs ``[start, end)`` of exact zeros in ``x`` at least ``need`` samples long, and the file's
    quantisation step (smallest non-zero ``|x|``; inf when ``x`` is zero throughout). Scans in
    blocks of :data:`SCAN_BLOCK` samples (a 30-min file needs no full-length temporaries)."""
    runs, step, open_at, before = [], np.inf, -1, False  # open_at: start of a zero run still open
    for s in range(0, x.size, SCAN_BLOCK):
        b = x[s : s + SCAN_BLOCK]
        z = b == 0
        nonzero = np.abs(b[~z])
        if nonzero.size:
            step = min(step, float(nonzero.min()))
        change = np.flatnonzero(np.diff(z.view(np.int8), prepend=np.int8(before))) + s
        before = bool(z[-1])
        if change.size == 0:
            continue
        rise = z[change - s]  # True: a zero run starts here; False: one ends here
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


def find_dropouts(x: np.ndarray, sr: int) -> np.ndarray:
    """Dropouts in ``x`` (shape ``(n,)``, rate ``sr`` Hz): ``(k, 2)`` int array of ``[start, end)``
    sample indices of runs of exact zeros at least :data:`DROPOUT_MIN_S` and under
    :data:`DROPOUT_MAX_S` long, with sound of RMS at least :data:`DROPOUT_LEVEL_STEPS` quantisation
    steps (the smallest non-zero ``|x|`` in the file) within :data:`NEIGHBOUR_S` on one side, and
    sound on both sides (runs at the very start or end are no dropouts). A file that is zero
    throughout has none."""
    x = np.asarray(x).reshape(-1)
    need = max(2, int(round(DROPOUT_MIN_S * sr)))
    if x.size < need:
        return np.zeros((0, 2), dtype=np.int64)
    runs, step = _zero_runs(x, need)
    w = max(1, int(round(NEIGHBOUR_S * sr)))
    keep = []
    for a, b in runs:
        if b - a >= DROPOUT_MAX_S * sr:
            continue  # digital silence, not a dropout: :func:`cut_zero_silence`
        if a == 0 or b == x.size:
            continue  # not inside the sound: a late start or early stop (or the gap channel alignment leaves)
        sides = [x[max(0, a - w) : a], x[b : b + w]]
        level = max(float(np.sqrt(np.mean(np.square(s, dtype=np.float64)))) if s.size else 0.0 for s in sides)
        if level >= DROPOUT_LEVEL_STEPS * step:
            keep.append((a, b))
    return np.asarray(keep, dtype=np.int64).reshape(-1, 2)


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
