"""How much of a recording is noise over the body sound (issue 11 item 3, re-test F6-F8 and round 7).

One full-scale click made a quiet clean heart "92 % above 600 Hz", while hiss through 5 of 18 s
went unseen: noise is therefore judged per second, and a recording is noisy by how many of its
seconds are. A second is noisy by any of three kinds, each judged by what it is:

- **high band**: over :data:`NOISE_RATIO` of its energy above the body-sound band (talking,
  rubbing, hiss at a rate whose band reaches far above the body sound);
- **hiss**: a flat, steady noise floor. Body sounds fall off steeply with frequency, so the floor
  is read where they have died away (the top of the band, :data:`HISS_TOP`) and spread over the
  whole band; when that flat floor makes over :data:`HISS_RATIO` of the second's energy, it is
  hiss (maintainers' re-test 7: white hiss over a lung recording at 4 kHz was never flagged: up to
  2 kHz, hiss and breath sounds share the band, and at most a quarter of the hiss lies above
  1500 Hz);
- **siren**: a tone that sweeps (a siren, a sweeping whistle): in 32-ms frames it is one narrow
  line, in most of the second's frames, moving over :data:`TONE_SWEEP_HZ` (re-test 7: a loud
  600-1200 Hz siren over a lung recording was "Clear signal": it lies inside the lung band).

The recording is noisy when its noisy seconds are at least :data:`NOISE_MIN_SHARE` of it, or, from
:data:`NOISE_LOUD_S` on, hold :data:`NOISE_MIN_POWER` of its energy while loud all through them
(a 2.5 s burst spoils a quarter of a 10 s recording; a lone knock or click is capped within its
second and decides nothing).
Split out of :mod:`stethodesk.audio.dsp`, whose quality check uses it. No Qt.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from stethodesk.audio.body_sound import LINE_DB
from stethodesk.audio.filters import LONG_BLOCK, welch_long

__all__ = ["HISS_RATIO", "NOISE_CAP", "NOISE_LOUD_S", "NOISE_MIN_POWER", "NOISE_MIN_S", "NOISE_MIN_SHARE",
           "NOISE_RATIO", "NOISE_SEGMENT_S", "QUALITY_NPERSEG", "VOICED_SHARE", "high_band_share", "judge_noise",
           "noisy_spans",
           "segment_count", "segment_shares", "segment_tones"]

NOISE_RATIO = 0.5  # fraction of energy above the split at which we call the signal noisy
NOISE_SEGMENT_S = 1.0  # s: noise is judged per segment of this length
# The recording is noisy when its noisy segments are NOISE_MIN_SHARE of its time or hold NOISE_MIN_POWER
# of its energy. Was "at least 3 s and 20 %": a 2.5 s hiss burst in a 10 s recording (a quarter of
# it), 1.5 s in a 5 s one, and a loud 2 s burst in 15 s (two thirds of the energy, and the findings
# are the mean over 7-s windows of the sound at one level) passed (re-test 7).
# By their energy, noisy seconds count from NOISE_LOUD_S, and by how loud they are for most of each
# second: a knock or a bump is loud for a moment (2 of 460 real recordings hold one second, one
# two, with over half their energy), hiss or talking all through.
NOISE_MIN_S = 1.0
NOISE_MIN_SHARE = 0.2
NOISE_MIN_POWER = 0.5
NOISE_LOUD_S = 2.0
# Within a second, a 64-ms window's noise power counts at most NOISE_CAP times the second's
# median window: a click is no hiss (sustained hiss, talking or rubbing is hardly touched).
NOISE_CAP = 10.0
QUALITY_NPERSEG = 512  # Welch segment (64 ms at 8 kHz, 16 Hz resolution)
# Hiss: the floor is the median power density over HISS_TOP (fractions of the Nyquist rate), where
# body sounds have died away (6685 s of 379 real ICBHI, SPRSound, HLS-CMDS, CirCor and PhysioNet
# recordings, seeded sample of 2026-12-01: 0.40 at most, the median second of 95 % of them 0.00;
# white hiss as loud as a lung sound 0.5-0.64). A second is hiss when that floor, spread over
# 20 Hz..Nyquist, makes over HISS_RATIO of its energy and over HISS_LEVEL of the median second's
# (a quiet pause between breaths, its sensor floor bare, is no hiss).
HISS_TOP = (0.7, 0.92)
HISS_RATIO = 0.4
HISS_LEVEL = 0.2
# Hiss is Gaussian: above HISS_TOP[0] its samples' kurtosis is 3 (6 when it fills half the second);
# clicks or knocks, flat in spectrum too (a click train, rubbing), give tens to thousands.
HISS_KURTOSIS = 8.0
# Siren: in TONE_FRAME_S Hann frames (31 Hz bins at any rate; a 2500 Hz/s sweep moves 80 Hz in
# one), the strongest bin at or above TONE_MIN_HZ is a line when it stands LINE_DB above the median
# of the ring TONE_HALF_BINS+1..TONE_RING_BINS bins beside it, and the power within TONE_HALF_BINS
# of it is the tone's. A second is a siren's when over TONE_COVER of its frames have over
# TONE_FRAME_SHARE of their power in the line, the line makes TONE_FRAME_SHARE of the second's
# power, and it moves over TONE_SWEEP_HZ (10-90 % of its frequencies; a steady tone is hum, cut by
# :mod:`stethodesk.audio.hum`). Below TONE_MIN_HZ lies the body sound's own energy. Wheezes are lines
# too, but seldom in most frames of a second while sweeping: 6 of the 6685 real s above were a
# siren's (in no recording 20 % of it); sirens over real lung sound cover 0.8-1.0 of their frames.
TONE_FRAME_S = 0.032
TONE_MIN_HZ = 250.0
TONE_HALF_BINS = 3
TONE_RING_BINS = 16
TONE_FRAME_SHARE = 0.3
TONE_COVER = 0.6
TONE_SWEEP_HZ = 150.0
# A sweeping line with a second line at half or twice its frequency in over VOICED_SHARE of its
# frames is a voice or a cry (harmonics), named so: a siren or whistle is one line (re-test 8: a
# child's voice over two CirCor hearts read "a siren or sweeping whistle").
VOICED_SHARE = 0.5


def segment_count(n: int, seg: int) -> int:
    """How many segments of ``seg`` samples ``n`` samples are judged in: the whole ones, and one
    more aligned to the end when at least half a segment is left (1.5 s of hiss at the end of a
    6.6 s recording was 1 of 6 s, 16 %, when it spoilt 23 % of it)."""
    return n // seg + (1 if n >= seg and n % seg >= seg // 2 else 0)


def _segment_blocks(x: np.ndarray, seg: int):
    """``(first index, float64 array (segments, seg))`` for the segments of ``x`` (shape ``(n,)``)
    (:func:`segment_count`), a few at a time (:data:`LONG_BLOCK` samples; no 30-min copy)."""
    whole, n = x.size // seg, segment_count(x.size, seg)
    step = max(1, LONG_BLOCK // seg)
    for a in range(0, whole, step):
        b = min(whole, a + step)
        yield a, x[a * seg : b * seg].reshape(b - a, seg).astype(np.float64)
    if n > whole:
        yield whole, x[x.size - seg :].reshape(1, seg).astype(np.float64)


def _capped_share(part: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per segment (rows): the windows' ``part`` power (shape ``(segments, windows)``, each at most
    ``total``'s) capped at :data:`NOISE_CAP` times the segment's median window, as a share of
    ``total`` with the same cap; that capped part's mean power, and the capped total's."""
    capped = np.minimum(part, NOISE_CAP * np.median(part, axis=-1, keepdims=True))
    whole = total.mean(-1) - part.mean(-1) + capped.mean(-1)
    return capped.mean(-1) / (whole + 1e-300), capped.mean(-1), whole


def segment_shares(x: np.ndarray, sr: int, split: float) -> tuple[np.ndarray, ...]:
    """Per :data:`NOISE_SEGMENT_S` segment of ``x`` (shape ``(n,)``, rate ``sr`` Hz), each shape
    ``(segments,)`` (empty when ``x`` is shorter than a segment): the share 0..1 of its energy
    above 20 Hz that lies above ``split`` Hz and that power relative to the median segment's power
    above 20 Hz; the share a flat floor (:data:`HISS_TOP`) makes of it, that floor's power
    relative to the median segment's, and how loud the segment is for most of it (its median 64-ms
    window's power above 20 Hz over the median segment's: a knock inside a second hardly moves it).
    Each 64-ms window's part counts at most :data:`NOISE_CAP` times the segment's median window, so
    a click or knock inside a second does not make it noisy."""
    nperseg = min(QUALITY_NPERSEG, x.size)
    seg = max(nperseg, int(NOISE_SEGMENT_S * sr))
    n = segment_count(x.size, seg)
    if n == 0:
        return (np.zeros(0),) * 5
    f = np.fft.rfftfreq(nperseg, 1.0 / sr)
    band, high = f >= 20.0, f >= split
    top = (f >= HISS_TOP[0] * sr / 2) & (f <= HISS_TOP[1] * sr / 2)
    out: list[list[np.ndarray]] = [[], [], [], [], [], []]
    sos = signal.butter(4, HISS_TOP[0], btype="highpass", output="sos")  # the floor's band, as a signal
    for _, blocks in _segment_blocks(x, seg):  # blocks of segments: no 30-min copy at once
        _, _, p = signal.spectrogram(blocks, fs=sr, nperseg=nperseg, axis=-1)  # (segments, freq, windows)
        total = p[:, band, :].sum(axis=1)
        floor = np.minimum(total, np.median(p[:, top, :], axis=1) * band.sum()) if top.any() else 0 * total
        hp = signal.sosfiltfilt(sos, blocks, axis=-1) ** 2
        steady = np.mean(hp**2, axis=-1) < HISS_KURTOSIS * np.mean(hp, axis=-1) ** 2 + 1e-300
        floor = floor * steady[:, None]  # clicks or knocks at every pitch are no hiss
        hi = _capped_share(p[:, high, :].sum(axis=1), total)
        for k, v in enumerate(hi + _capped_share(floor, total)[:2] + (np.median(total, axis=-1),)):
            out[k].append(v)
    hi, hi_p, bd, hiss, hiss_p, most = (np.concatenate(v) for v in out)
    ref = float(np.median(bd)) + 1e-300  # the median segment's power above 20 Hz (high band capped)
    return hi, hi_p / ref, hiss, hiss_p / ref, most / (float(np.median(most)) + 1e-300)


def segment_tones(x: np.ndarray, sr: int) -> tuple[np.ndarray, ...]:
    """Per :data:`NOISE_SEGMENT_S` segment of ``x`` (shape ``(n,)``, rate ``sr`` Hz), each shape
    ``(segments,)``: the share of its power in a narrow line at or above :data:`TONE_MIN_HZ`
    (:data:`TONE_FRAME_S` frames), the share of its frames the line holds :data:`TONE_FRAME_SHARE`
    of, how far the line's frequency moves in those frames (Hz, 10-90 %), its median frequency
    (Hz; 0 without such frames), and the share of those frames where a line also stands at half or
    twice its frequency (a harmonic: a voice or a cry, not a siren's one line)."""
    seg = int(NOISE_SEGMENT_S * sr)
    nper = max(16, int(TONE_FRAME_S * sr))
    n = segment_count(x.size, seg) if seg >= 4 * nper else 0
    if n == 0:
        return (np.zeros(0),) * 5
    f = np.fft.rfftfreq(nper, 1.0 / sr)
    lo = int(np.searchsorted(f, TONE_MIN_HZ))
    share, cover, sweep, hz, voiced = (np.zeros(n) for _ in range(5))
    if lo >= f.size:
        return share, cover, sweep, hz, voiced
    first = int(np.searchsorted(f, 20.0))
    ring = np.concatenate((np.arange(-TONE_RING_BINS, -TONE_HALF_BINS),
                           np.arange(TONE_HALF_BINS + 1, TONE_RING_BINS + 1)))
    for a, blocks in _segment_blocks(x, seg):
        b = a + blocks.shape[0]
        _, _, z = signal.stft(blocks, fs=sr, window="hann", nperseg=nper, noverlap=nper // 2,
                              boundary=None, padded=False, axis=-1)
        p = np.moveaxis(np.abs(z) ** 2, 1, 2)  # (segments, frames, bins)
        total = p[..., first:].sum(axis=-1) + 1e-300
        peak = lo + np.argmax(p[..., lo:], axis=-1)  # (segments, frames)
        around = np.clip(peak[..., None] + ring, first, f.size - 1)  # the ring of bins beside the peak
        context = np.median(np.take_along_axis(p, around, axis=-1), axis=-1)
        line = np.take_along_axis(p, peak[..., None], axis=-1)[..., 0] > context * 10 ** (LINE_DB / 10)
        near = np.abs(np.arange(f.size) - peak[..., None]) <= TONE_HALF_BINS
        tone = np.where(near, p, 0.0).sum(axis=-1) * line
        on = tone / total > TONE_FRAME_SHARE
        harm = np.zeros_like(on)
        for ratio in (0.5, 2.0):  # a voice's or a cry's line has its octave beside it; a siren's is alone
            k = np.rint(peak * ratio).astype(np.int64)
            ok = (k >= first) & (k < f.size) & (np.abs(k - peak) > TONE_HALF_BINS)
            k = np.clip(k, first, f.size - 1)
            ctx = np.median(np.take_along_axis(p, np.clip(k[..., None] + ring, first, f.size - 1), axis=-1), axis=-1)
            harm |= ok & (np.take_along_axis(p, k[..., None], axis=-1)[..., 0] > ctx * 10 ** (LINE_DB / 10))
        share[a:b] = tone.sum(-1) / total.sum(-1)
        voiced[a:b] = (on & harm).sum(-1) / np.maximum(on.sum(-1), 1)
        cover[a:b] = on.mean(-1)
        for i in np.flatnonzero(on.sum(-1) >= 5):
            q = np.quantile(f[peak[i][on[i]]], [0.1, 0.5, 0.9])
            sweep[a + i], hz[a + i] = q[2] - q[0], q[1]
    return share, cover, sweep, hz, voiced


def segment_starts(n: int, seg: int) -> np.ndarray:
    """First sample (int64, shape ``(segments,)``) of each of the :func:`segment_count` segments of
    ``seg`` samples in ``n`` samples, the last one aligned to the end when it is the part-one."""
    starts = np.arange(segment_count(n, seg), dtype=np.int64) * seg
    if starts.size and starts[-1] + seg > n:
        starts[-1] = n - seg
    return starts


def _kinds(x: np.ndarray, sr: int, shares, level, hiss, hiss_level) -> tuple[dict, np.ndarray, np.ndarray]:
    """Per segment, each kind's ``(noisy mask, share)`` (from :func:`segment_shares`' first four and
    :func:`segment_tones`, all shape ``(segments,)``), the line's Hz and its voiced share."""
    t_share, cover, sweep, hz, voiced = segment_tones(x, sr)
    kinds = {  # on a tie, the kind named is the first: the most specific
        "siren": ((cover > TONE_COVER) & (sweep > TONE_SWEEP_HZ) & (t_share > TONE_FRAME_SHARE), t_share),
        "hiss": ((hiss > HISS_RATIO) & (hiss_level > HISS_LEVEL), hiss),
        "high": ((shares > NOISE_RATIO) & (level > NOISE_RATIO), shares),
    }
    return kinds, hz, voiced


def _is_noisy(k: int, n: int, power: np.ndarray, noisy: np.ndarray) -> bool:
    """Whether ``k`` noisy segments of ``n`` (``noisy`` their mask, ``power`` each one's level, shape
    ``(n,)``) make a recording noisy: :data:`NOISE_MIN_SHARE` of them, or loud (module docstring)."""
    loud = k >= round(NOISE_LOUD_S / NOISE_SEGMENT_S) and power[noisy].sum() >= NOISE_MIN_POWER * power.sum()
    return k >= round(NOISE_MIN_S / NOISE_SEGMENT_S) and (k >= NOISE_MIN_SHARE * n or loud)


def judge_noise(x: np.ndarray, sr: int, split: float) -> tuple[float, np.ndarray, str | None]:
    """Whether ``x`` (shape ``(n,)``, rate ``sr`` Hz) is noisy, by how much of it is (see the module
    docstring): ``(share, noisy, what)``. ``noisy`` bool per :data:`NOISE_SEGMENT_S` segment
    (shape ``(segments,)``) is True where a segment is noisy when the noisy ones make the recording
    noisy (all False otherwise); ``what`` names the kind most of them are in plain words with its
    share of their energy and where (``"62% of the energy is above 1500 Hz in 5 of 12 s (rubbing,
    talking or hiss)"``), or None when not noisy;
    ``share`` is that share (0..1). Under 3 segments only the high band is judged, over the whole."""
    nperseg = min(QUALITY_NPERSEG, x.size)
    f, pxx = welch_long(x - x.mean(), sr, nperseg)
    band, high = f >= 20.0, f >= split
    whole = float(np.sum(pxx[high])) / (float(np.sum(pxx[band])) + 1e-20)
    shares, level, hiss, hiss_level, power = segment_shares(x, sr, split)
    above = f"{{:.0%}} of the energy is above {split:.0f} Hz"
    if shares.size < 3:  # too few segments to outvote one
        noisy = whole > NOISE_RATIO
        what = above.format(whole) + " (rubbing, talking or hiss)" if noisy else None
        return whole, np.full(shares.size, noisy), what
    kinds, hz, voiced = _kinds(x, sr, shares, level, hiss, hiss_level)
    noisy = np.logical_or.reduce([m for m, _ in kinds.values()])
    k = int(noisy.sum())
    seg, half, on_grid = int(NOISE_SEGMENT_S * sr), int(NOISE_SEGMENT_S * sr) // 2, None
    if not _is_noisy(k, shares.size, power, noisy) and x.size - half >= 3 * seg:
        # not noisy by whole seconds: the seconds again, half a second later, so that a burst
        # straddling two of them counts both (re-test 8: 1.5 s of loud hiss in 6 s, a quarter of it,
        # lay in one whole second and two part ones: 'Clear signal', 14 of 14 files)
        later = x[half : half + (x.size - half) // seg * seg]  # whole seconds only: none counted twice
        moved = segment_shares(later, sr, split)
        kinds2, hz2, voiced2 = _kinds(later, sr, *moved[:4])
        # a tone's seconds are not moved: a lung recording whose own line sweeps a little (HLS-CMDS
        # F_N_LUA, 566-594 Hz) then read "a siren in 3 of 15 s"
        kinds2["siren"] = (np.zeros_like(kinds2["siren"][0]), kinds2["siren"][1])
        noisy2 = np.logical_or.reduce([m for m, _ in kinds2.values()])
        if _is_noisy(int(noisy2.sum()), noisy2.size, moved[4], noisy2):  # judged on the grid that holds it
            shares, power, kinds, hz, voiced = moved[0], moved[4], kinds2, hz2, voiced2
            noisy, k = noisy2, int(noisy2.sum())
            grid = segment_starts(x.size, seg)
            spots = half + segment_starts(later.size, seg)[noisy]  # on the seconds' grid, for the rate
            on_grid = ((grid[:, None] < spots + seg) & (spots < grid[:, None] + seg)).any(axis=1)
    if not _is_noisy(k, shares.size, power, noisy):
        n = segment_count(x.size, seg)
        return min(whole, float(np.median(shares)), NOISE_RATIO), np.zeros(n, bool), None
    name = max(kinds, key=lambda kind: int(kinds[kind][0].sum()))
    mask, values = kinds[name]
    share = float(np.median(values[mask]))
    part = "" if noisy.all() else f" in {k} of {segment_count(x.size, seg)} s"
    if on_grid is not None:
        noisy = on_grid  # the seconds the heart rate leaves out: every one the noisy ones touch
    if name == "hiss":  # hiss, or band noise like babble: the floor is read at the top of the band only
        return share, noisy, (f"broadband noise makes {share:.0%} of the sound{part} (hiss, voices in the "
                              "background, a fan or rubbing: noise spread over a wide range of pitches)")
    if name == "siren" and float(np.median(voiced[mask])) > VOICED_SHARE:
        return share, noisy, (f"a loud sound over the body sound, like a voice or a cry, makes {share:.0%} of "
                              f"the sound{part} (a tone with harmonics)")
    if name == "siren":
        lo, hi = np.quantile(hz[mask], [0.05, 0.95])
        return share, noisy, (f"a siren or sweeping whistle makes {share:.0%} of the sound{part} (a tone moving "
                              f"between about {lo:.0f} and {hi:.0f} Hz)")
    return share, noisy, above.format(share) + part + " (rubbing, talking or hiss)"


def high_band_share(x: np.ndarray, sr: int, split: float) -> tuple[float, np.ndarray]:
    """:func:`judge_noise`'s ``(share, noisy)`` of ``x`` (shape ``(n,)``, rate ``sr`` Hz)."""
    share, noisy, _ = judge_noise(x, sr, split)
    return share, noisy
def noisy_spans(noisy: np.ndarray, sr: int, dropouts: np.ndarray | None = None, fade: int = 0,
                seconds: float | None = None) -> np.ndarray:
    """Sample spans ``(k, 2)`` (int64, at ``sr``) of the noisy segments (``noisy`` from
    :func:`judge_noise`), for :func:`heart_rate_bpm` to leave out. ``seconds``: how long the
    judged sound was, to place a last segment aligned to its end (:func:`segment_count`); without
    it, the last segment is taken to follow the one before. With ``dropouts`` (spans at ``sr`` that
    were cut before the segments were judged, each with a ``fade``-sample crossfade), the spans are
    placed on the uncut timeline."""
    seg = int(NOISE_SEGMENT_S * sr)
    starts = np.arange(noisy.size, dtype=np.int64) * seg
    if seconds is not None and noisy.size > round(seconds * sr) // seg:
        starts[-1] = max(0, round(seconds * sr) - seg)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], noisy.astype(np.int8), [0]))))
    spans = np.stack([starts[edges[::2]], starts[edges[1::2] - 1] + seg], axis=1).astype(np.int64)
    if dropouts is not None and dropouts.size and spans.size:
        cut = (dropouts[:, 1] - dropouts[:, 0]) + fade  # samples each cut removed
        starts = dropouts[:, 0] - np.concatenate(([0], np.cumsum(cut)[:-1]))  # where each lies when cut
        spans = spans + np.array([[cut[starts <= v].sum() for v in row] for row in spans], dtype=np.int64)
    return spans
