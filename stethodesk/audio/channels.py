"""Which channels of a multi-channel recording to use, and how to combine them. No Qt here.

A plain average destroys the sound in common stethoscope wirings (issue 11 item 2): a channel
inverted and a few samples late (``R = -0.9 x`` delayed 0.75 ms) cancels most of the heart band,
and a noise channel beside the stethoscope's channel buries it. So, from a survey of
:data:`SURVEY_S` seconds *of sound* (block by block, as the reader decodes):

0. the file is surveyed in stretches of :data:`SEGMENT_S` (10 s) from its start; a stretch counts
   only when some channel in it is not silent and holds a heart or lung sound, so silence or
   steady noise before the stethoscope is placed (re-test F4: 35 s of it, then a stereo heart with
   one channel inverted, was mixed to silence) is passed over. The survey stops once
   :data:`SURVEY_S` of counted stretches are gathered; a file with none is judged from its first
   :data:`SURVEY_S`, as before. Every stretch is tested (on its :data:`PROBE_SR` copy, cheap);
   after :data:`DENSE_S` of noise only one stretch a minute (:data:`SPARSE_EVERY`) and those after
   a stretch with sound are cross-correlated (as they stream: no raw audio is held, and the
   reader's memory stays what it was); a stretch with sound that was not correlated counts by its
   energy (re-test F4: a heart from 150 to 168 s fell between the stretches tested once a minute).
   A stretch counts only beside another with sound (two running, or a file of two stretches at
   most): one stretch of noise in ~40 passes the test by chance, and minutes of noise tested
   stretch by stretch would otherwise fill the survey with it;
1. channels with a heart or lung sound in them (:func:`stethodesk.audio.dsp.no_body_sound_reason`,
   the quality check's own content test) over the survey and in at least half its stretches are
   used, the others left out (re-test F4: a noise channel passed by chance once and was chosen); when none has one, or
   the survey is shorter than :data:`JUDGE_S` (too short to judge content), every channel that
   is not silent is used (the quality check then says what is wrong);
2. each used channel is lined up with the loudest one by the lag (within +-:data:`MAX_LAG_S`, 25 ms)
   and the polarity of its strongest cross-correlation, when that correlation is clear
   (:data:`CORR_MIN`); unrelated channels are averaged as they are.

:class:`ChannelSurvey` gathers the survey, :meth:`ChannelSurvey.plan` gives a :class:`ChannelPlan`
whose :class:`ChannelMixer` mixes blocks ``(n, channels)`` into mono with the delays applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

from stethodesk.audio.decode import Downsampler
from stethodesk.audio.dsp import no_body_sound_reason

__all__ = ["CORR_MIN", "MAX_LAG_S", "SURVEY_S", "ChannelMixer", "ChannelPlan", "ChannelSurvey", "mix_array"]

SURVEY_S = 30.0  # s of sound the choice is made from (the wiring does not change within a file)
# s: the stretch judged at a time. The body-sound test tells steady noise from breathing only on 8 s
# or more (body_sound.NOISE_JUDGE_S, lung: one breath cut at its edges can score like noise); 10 s
# leaves the band-pass settling (0.25 s) out and still finds sound that starts late within 10 s.
SEGMENT_S = 10.0
# After DENSE_S s of noise passed over (no sound since the start or the last sound), one stretch in
# SPARSE_EVERY (one a minute) and each after a stretch with sound is cross-correlated, ~0.1-0.2 s of
# CPU per 10 s of 48 kHz stereo; every stretch gets the (cheaper) body-sound test. A file of noise only then costs 2 min plus one stretch a minute of that, not
# all of it, and sound lasting a minute or more is still found wherever it starts. Silence is told by
# its energy alone, so silence of any length before the sound is passed over exactly.
DENSE_S = 120.0
SPARSE_EVERY = 6
# s: the largest delay between two channels that carry the same sound. Acoustically two pickups on
# one chest piece, or two tubes of unequal length, differ by well under 5 ms (1 m of air is 2.9 ms);
# the rest is digital: interfaces and recording apps that start one channel a buffer late (256-1024
# frames, 5.8-21.3 ms at 48 kHz). 25 ms covers those and stays far below the S1-S2 interval (~300 ms);
# within it a copy's true lag correlates near 1, above any lag of one heart-sound component on another.
MAX_LAG_S = 0.025
CORR_MIN = 0.2  # |normalised cross-correlation| at which two channels carry the same sound
PROBE_SR = 4000  # Hz: the body-sound test needs the band below 2 kHz only (files above 8 kHz are resampled)
CHUNK = 8192  # frames per cross-correlation FFT at least (memory: ~1 MB per channel pair at 48 kHz)
JUDGE_S = 4.0  # s of a channel the body-sound test needs before it may leave the channel out
SILENT = 1e-12  # energy relative to the loudest channel under which a channel is empty


@dataclass(frozen=True)
class ChannelPlan:
    """``weights`` ``(channels,)`` signed (polarity), ``delays`` ``(channels,)`` in samples >= 0,
    ``used`` the 0-based channels kept, ``rule`` one sentence saying how they were combined."""

    weights: np.ndarray
    delays: np.ndarray
    used: list[int]
    rule: str

    def as_dict(self) -> dict:
        """For JSON output: ``{"used": [...] (0-based, as --channel), "rule": "..."}``."""
        return {"used": list(self.used), "rule": self.rule}


class _Gathered:
    """Lagged cross-correlations ``(channels, channels, 2 * max_lag + 1)`` and probe pieces per
    channel of the stretches added to it."""

    def __init__(self, channels: int, max_lag: int):
        self.xcorr = np.zeros((channels, channels, 2 * max_lag + 1))
        self.parts: list[list[np.ndarray]] = [[] for _ in range(channels)]
        self.frames = 0

    def add(self, xcorr: np.ndarray, probes: list[np.ndarray], frames: int) -> None:
        self.xcorr += xcorr
        for k, p in enumerate(probes):
            self.parts[k].append(p)
        self.frames += frames

    def probe(self, k: int) -> np.ndarray:
        return np.concatenate(self.parts[k]) if self.parts[k] else np.zeros(0, np.float32)


class ChannelSurvey:
    """Survey of :data:`SURVEY_S` s of sound in a ``channels``-channel stream at ``sr`` Hz, found
    stretch by stretch (:data:`SEGMENT_S`): lagged cross-correlations and a :data:`PROBE_SR` copy
    of each channel for the body-sound test. Feed blocks ``(n, channels)`` to :meth:`add` until
    :attr:`done` (or the stream ends), then call :meth:`plan`. Memory: the correlations of a few
    stretches and up to 2 x (:data:`SURVEY_S` + :data:`SEGMENT_S`) s of probes; no raw audio is held."""

    def __init__(self, channels: int, sr: int):
        self.channels, self.sr = int(channels), int(sr)
        self.max_lag = max(1, round(MAX_LAG_S * sr))
        # chunks several lags long, so the lags gathered per chunk stay a small part of its FFT
        self.chunk = max(CHUNK, min(65536, 1 << (8 * self.max_lag).bit_length()))  # a few MB per channel pair
        self.seen = 0  # frames fed
        self.sound_from: int | None = None  # frame at which the first stretch with sound starts
        self._limit = int(SURVEY_S * sr)
        self.probe_sr = self.sr if self.sr <= 2 * PROBE_SR else PROBE_SR
        self._down = [Downsampler(self.sr, PROBE_SR) for _ in range(self.channels)] if self.probe_sr != self.sr else None
        self._seg_len = max(1, round(SEGMENT_S * sr))
        self._seg_n = 0
        self._seg_probe: list[list[np.ndarray]] = [[] for _ in range(self.channels)]
        self._seg_energy = np.zeros(self.channels)
        self._seg_xcorr: np.ndarray | None = None  # gathered while the stretch streams, when it is tested
        self._quiet = 0  # frames of noise (not silence) passed over since the start or the last sound
        self._untested = 0  # stretches passed over untested since the last one tested (after DENSE_S)
        self._first = _Gathered(self.channels, self.max_lag)  # the file's first SURVEY_S s (the fallback)
        self._sound = _Gathered(self.channels, self.max_lag)  # the stretches that hold a body sound
        self._passes = np.zeros(self.channels, int)  # per channel: the stretches of _sound it holds sound in
        self._stretches = 0  # stretches in _sound
        self._last_sound = False  # whether the stretch before held a body sound
        self._pending: tuple | None = None  # a stretch with sound, kept once the next one has sound too

    @property
    def done(self) -> bool:
        """Whether the survey has all it takes (the rest of the file need not be decoded for it)."""
        return self._sound.frames >= self._limit

    def add(self, block: np.ndarray) -> None:
        """One block ``(n, channels)``; what comes after the survey is done is ignored."""
        i, n = 0, block.shape[0]
        while i < n and not self.done:
            if self._seg_n == 0:  # a stretch starts: correlated as it streams only if it will be tested
                tested = (self.seen < self._limit or self._quiet < DENSE_S * self.sr
                          or self._untested >= SPARSE_EVERY - 1 or self._last_sound)
                self._seg_xcorr = np.zeros((self.channels, self.channels, 2 * self.max_lag + 1)) if tested else None
                self._seg_energy = np.zeros(self.channels)
            take = min(n - i, self._seg_len - self._seg_n)
            piece = block[i : i + take]
            self._seg_energy += np.einsum("tk,tk->k", piece, piece, dtype=np.float64)
            if self._seg_xcorr is not None:
                self._seg_xcorr += self._xcorr(piece)
            for k in range(self.channels):
                x = np.asarray(piece[:, k], np.float32)
                self._seg_probe[k].append(self._down[k].process(x) if self._down else x)
            self._seg_n += take
            self.seen += take
            i += take
            if self._seg_n == self._seg_len:
                self._close()

    def _close(self) -> None:
        """Judge the stretch that ended and keep what is used of it."""
        n, start = self._seg_n, self.seen - self._seg_n
        self._seg_n = 0
        probes = [np.concatenate(p) if p else np.zeros(0, np.float32) for p in self._seg_probe]
        self._seg_probe = [[] for _ in range(self.channels)]
        if n == 0:
            return
        passed = self._holds_sound(probes, n)
        if start < self._limit:
            self._first.add(self._seg_xcorr, probes, n)
        if passed.any():
            xcorr = self._seg_xcorr
            if xcorr is None:  # not correlated: its energies only (the channels count as unrelated)
                xcorr = np.zeros((self.channels, self.channels, 2 * self.max_lag + 1))
                xcorr[np.arange(self.channels), np.arange(self.channels), self.max_lag] = self._seg_energy
            stretch = (xcorr, probes, n, passed, start)
            if self._last_sound:  # sound in two stretches running: no chance pass of one stretch of noise
                for kept in ((self._pending,) if self._pending else ()) + (stretch,):
                    self._keep(*kept)
                self._pending = None
            else:
                self._pending = stretch
        else:
            self._pending = None
        self._last_sound = bool(passed.any())
        self._seg_xcorr = None

    def _keep(self, xcorr: np.ndarray, probes: list[np.ndarray], n: int, passed: np.ndarray, start: int) -> None:
        """Count a stretch with sound (its correlations, probes, frames, channels with sound, start)."""
        self._sound.add(xcorr, probes, n)
        self._passes += passed
        self._stretches += 1
        self.sound_from = start if self.sound_from is None else min(self.sound_from, start)

    def _holds_sound(self, probes: list[np.ndarray], n: int) -> np.ndarray:
        """Which channels ``(channels,)`` bool of the stretch (``n`` frames) are not silent and hold
        a heart or lung sound."""
        energy = self._seg_energy
        if not energy.any():
            return np.zeros(self.channels, bool)  # silence: passed over at no cost, however long
        self._untested = 0 if self._seg_xcorr is not None else self._untested + 1
        passed = np.array([energy[k] > 0.0 and no_body_sound_reason(probes[k], self.probe_sr) is None
                           for k in range(self.channels)])
        self._quiet = 0 if passed.any() else self._quiet + n
        return passed

    def _xcorr(self, b: np.ndarray) -> np.ndarray:
        """``r[i, j, L + l] = sum_t b[t, i] b[t + l, j]`` of one piece ``(n, channels)``, in chunks
        (a few MB whatever the piece) each against itself widened by L on both sides (lags across
        the decoder's blocks are left out)."""
        lag = self.max_lag
        out = np.zeros((self.channels, self.channels, 2 * lag + 1))
        for s in range(0, b.shape[0], self.chunk):
            a = np.asarray(b[s : s + self.chunk], np.float64)
            lo = max(0, s - lag)
            e = np.asarray(b[lo : s + a.shape[0] + lag], np.float64)
            nfft = next_fast_len(a.shape[0] + e.shape[0], real=True)  # no wrap-around for |l| <= L
            fa, fe = rfft(a, nfft, axis=0), rfft(e, nfft, axis=0)
            r = irfft(np.conj(fa)[:, :, None] * fe[:, None, :], nfft, axis=0)  # r[k] = sum a[t] e[t + k]
            k = np.arange(-lag, lag + 1) + (s - lo)  # e[t + k] = b[s + t + l]
            out += np.moveaxis(r[k % nfft], 0, -1)
        return out

    def _finish(self) -> None:
        """At the end of the stream (or of the survey): the resamplers' last samples, the last stretch."""
        if self._down:
            for k in range(self.channels):
                self._seg_probe[k].append(self._down[k].flush())
            self._down = None
        if self._seg_n:
            self._close()
        if self._pending and self.seen <= 2 * self._seg_len:  # a short file: no stretch after it to agree
            self._keep(*self._pending)
        self._pending = None

    def plan(self) -> ChannelPlan:
        """The channels to use and how (rules in the module docstring)."""
        self._finish()
        got = self._sound if self._sound.frames else self._first
        c, lag0 = self.channels, self.max_lag
        energy = np.array([got.xcorr[k, k, lag0] for k in range(c)])
        live = [k for k in range(c) if energy[k] > SILENT * max(float(energy.max()), 1e-300)]
        if not live:
            return ChannelPlan(np.full(c, 1.0 / c), np.zeros(c, int), list(range(c)), "all channels are silent")
        # content decides only on a probe long enough to judge it (under JUDGE_S the notch filters'
        # edges pass for beats: two 2-s tones at 100 and 400 Hz were judged differently)
        judged = all(got.probe(k).size >= JUDGE_S * self.probe_sr for k in live)
        # a channel's sound must persist: in at least half the stretches with sound, not by chance in one
        persists = [k for k in live if got is not self._sound or 2 * self._passes[k] >= self._stretches]
        body = [k for k in persists if not judged or no_body_sound_reason(got.probe(k), self.probe_sr) is None]
        used = body or live
        ref = max(used, key=lambda k: energy[k])
        lags, signs, notes = {}, {}, []
        for k in used:
            corr = got.xcorr[ref, k] / np.sqrt(energy[ref] * energy[k])
            best = int(np.argmax(np.abs(corr)))
            related = k != ref and abs(corr[best]) >= CORR_MIN
            lags[k] = best - lag0 if related else 0
            signs[k] = -1.0 if related and corr[best] < 0 else 1.0
            if related and (signs[k] < 0 or lags[k]):
                turned = "turned over" if signs[k] < 0 else ""
                moved = f"moved {abs(lags[k]) / self.sr * 1000:.2f} ms" if lags[k] else ""
                notes.append(f"channel {k} {' and '.join(t for t in (turned, moved) if t)}")
        latest = max(lags.values())
        weights, delays = np.zeros(c), np.zeros(c, int)
        for k in used:
            weights[k] = signs[k] / len(used)
            delays[k] = latest - lags[k]
        rule = self._rule(used, live, body, ref, notes)
        if got is self._sound and self.sound_from:
            rule += (f"; chosen from the sound from {self.sound_from / self.sr:.1f} s on "
                     "(no heart or lung sound was found before it)")
        return ChannelPlan(weights, delays, used, rule)

    def _rule(self, used, live, body, ref, notes) -> str:
        text = f"{_names(used)} (counting from 0)"
        if len(used) == 1:
            text += " only"
        else:
            text += f" averaged, lined up with channel {ref} by cross-correlation"
            text += f" ({'; '.join(notes)})" if notes else ""
        silent = [k for k in range(self.channels) if k not in live]
        noise = [k for k in live if k not in used]
        if noise:
            text += f"; {_names(noise)} {'holds' if len(noise) == 1 else 'hold'} no heart or lung sound, left out"
        if silent:
            text += f"; {_names(silent)} {'is' if len(silent) == 1 else 'are'} silent, left out"
        if not body:
            text += "; none holds a clear heart or lung sound"
        return text


def _names(ks: list[int]) -> str:
    return ("channel " if len(ks) == 1 else "channels ") + ", ".join(map(str, ks))


class ChannelMixer:
    """Blocks ``(n, channels)`` -> mono ``(n,)`` float32 by a :class:`ChannelPlan`, each channel
    delayed by its ``delays`` (held across blocks, so the joined output equals mixing the joined
    input; the first ``delay`` samples of a delayed channel are zeros)."""

    def __init__(self, plan: ChannelPlan):
        self.plan = plan
        self._tails = [np.zeros(int(d), np.float32) for d in plan.delays]

    def process(self, block: np.ndarray) -> np.ndarray:
        n = block.shape[0]
        out = np.zeros(n, np.float64)
        for k, w in enumerate(self.plan.weights):
            if w == 0.0:
                continue
            x = block[:, k]
            d = self._tails[k].size
            if d:
                joined = np.concatenate((self._tails[k], x))
                x, self._tails[k] = joined[:n], joined[n:]
            out += w * x
        return out.astype(np.float32)


def mix_array(data: np.ndarray, sr: int) -> tuple[np.ndarray, ChannelPlan]:
    """Channels ``(frames, channels)`` at ``sr`` Hz -> mono ``(frames,)`` float32 and the plan used."""
    survey = ChannelSurvey(data.shape[1], sr)
    survey.add(data)
    plan = survey.plan()
    return ChannelMixer(plan).process(np.asarray(data, np.float32)), plan
