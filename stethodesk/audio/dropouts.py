"""Short dropouts: runs of exact zeros inside a recording (issue 11, re-test of item 3).

A Bluetooth stethoscope that loses packets sends digital silence for the lost 10-500 ms: runs of
samples exactly 0.0 in the middle of the sound. Heard or analysed as they are, they are pauses and
clicks that no heart or lung made, and a train of them (one per 0.9 s) once moved the heart rate of
a 105 bpm CirCor recording to 69 bpm. Long digital silence (>= 0.5 s of held 50 ms frames) is left
out by :func:`stethodesk.audio.dsp.drop_silence`; this module handles the short runs:

- :func:`find_dropouts` finds runs of exact zeros of at least :data:`DROPOUT_MIN_S` whose
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

__all__ = ["CROSSFADE_S", "DROPOUT_LEVEL_STEPS", "DROPOUT_MIN_S", "cut_dropouts", "dropout_mask",
           "dropout_note", "find_dropouts"]

DROPOUT_MIN_S = 0.02  # s: shorter runs of exact zeros happen in integer audio near zero crossings
DROPOUT_LEVEL_STEPS = 8.0  # the sound beside a dropout is at least this many quantisation steps (RMS)
NEIGHBOUR_S = 0.02  # s of sound each side of a run that decides whether it is a dropout
CROSSFADE_S = 0.005  # s: the join across a cut dropout (short enough to blur no heart sound)


def find_dropouts(x: np.ndarray, sr: int) -> np.ndarray:
    """Dropouts in ``x`` (shape ``(n,)``, rate ``sr`` Hz): ``(k, 2)`` int array of ``[start, end)``
    sample indices of runs of exact zeros at least :data:`DROPOUT_MIN_S` long, with sound of RMS at
    least :data:`DROPOUT_LEVEL_STEPS` quantisation steps (the smallest non-zero ``|x|`` in the file)
    within :data:`NEIGHBOUR_S` on one side. A file that is zero throughout has none."""
    x = np.asarray(x).reshape(-1)
    none = np.zeros((0, 2), dtype=np.int64)
    need = max(2, int(round(DROPOUT_MIN_S * sr)))
    if x.size < need:
        return none
    zero = x == 0
    if not zero.any() or zero.all():
        return none
    edges = np.flatnonzero(np.diff(np.concatenate(([0], zero.view(np.int8), [0]))))
    starts, ends = edges[::2], edges[1::2]
    long_ = (ends - starts) >= need
    if not long_.any():
        return none
    step = float(np.abs(x[~zero]).min())
    w = max(1, int(round(NEIGHBOUR_S * sr)))
    keep = []
    for a, b in zip(starts[long_], ends[long_]):
        sides = [x[max(0, a - w) : a], x[b : b + w]]
        level = max(float(np.sqrt(np.mean(np.square(s, dtype=np.float64)))) if s.size else 0.0 for s in sides)
        if level >= DROPOUT_LEVEL_STEPS * step:
            keep.append((a, b))
    return np.asarray(keep, dtype=np.int64).reshape(-1, 2)


def cut_dropouts(x: np.ndarray, sr: int, spans: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (shape ``(n,)``) with its dropouts (``spans`` from :func:`find_dropouts`, found when
    None) cut out and each join cross-faded over :data:`CROSSFADE_S`; and the spans. ``x`` itself
    comes back when there are none. The result is shorter by the dropouts plus one cross-fade each."""
    x = np.asarray(x).reshape(-1)
    spans = find_dropouts(x, sr) if spans is None else spans
    if spans.size == 0:
        return x, spans
    bounds = np.concatenate(([0], spans.reshape(-1), [x.size])).reshape(-1, 2)  # kept [from, to)
    pieces = [x[a:b] for a, b in bounds if b > a]
    out = [pieces[0].astype(np.float32)]
    for p in pieces[1:]:
        f = min(int(round(CROSSFADE_S * sr)), out[-1].size, p.size)
        p = p.astype(np.float32)
        if f > 0:
            ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(f) + 0.5) / f)).astype(np.float32)
            out[-1] = out[-1].copy()
            out[-1][-f:] = out[-1][-f:] * ramp[::-1] + p[:f] * ramp
            p = p[f:]
        out.append(p)
    return np.concatenate(out), spans


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
