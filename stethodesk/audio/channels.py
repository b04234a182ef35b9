"""Which channels of a multi-channel recording to use, and how to combine them. No Qt here.

A plain average destroys the sound in common stethoscope wirings (issue 11 item 2): a channel
inverted and a few samples late (``R = -0.9 x`` delayed 0.75 ms) cancels most of the heart band,
and a noise channel beside the stethoscope's channel buries it. So, from a survey of the first
:data:`SURVEY_S` seconds (block by block, as the reader decodes):

1. channels with a heart or lung sound in them (:func:`stethodesk.audio.dsp.no_body_sound_reason`,
   the quality check's own content test) are used, the others left out; when none has one, or
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

from stethodesk.audio.decode import Downsampler
from stethodesk.audio.dsp import no_body_sound_reason

__all__ = ["CORR_MIN", "MAX_LAG_S", "SURVEY_S", "ChannelMixer", "ChannelPlan", "ChannelSurvey", "mix_array"]

SURVEY_S = 30.0  # s of the file the choice is made from (the wiring does not change within a file)
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


class ChannelSurvey:
    """Survey of the first :data:`SURVEY_S` s of a ``channels``-channel stream at ``sr`` Hz:
    lagged cross-correlations ``(channels, channels, 2 * max_lag + 1)`` and a :data:`PROBE_SR`
    copy of each channel for the body-sound test. Feed blocks ``(n, channels)`` to :meth:`add`."""

    def __init__(self, channels: int, sr: int):
        self.channels, self.sr = int(channels), int(sr)
        self.max_lag = max(1, round(MAX_LAG_S * sr))
        # chunks several lags long, so the lags gathered per chunk stay a small part of its FFT
        self.chunk = max(CHUNK, min(65536, 1 << (8 * self.max_lag).bit_length()))  # a few MB per channel pair
        self.xcorr = np.zeros((self.channels, self.channels, 2 * self.max_lag + 1))
        self.seen = 0
        self._limit = int(SURVEY_S * sr)
        self.probe_sr = self.sr if self.sr <= 2 * PROBE_SR else PROBE_SR
        self._down = [Downsampler(self.sr, PROBE_SR) for _ in range(self.channels)] if self.probe_sr != self.sr else None
        self._parts: list[list[np.ndarray]] = [[] for _ in range(self.channels)]

    @property
    def done(self) -> bool:
        """Whether the survey has all it takes (the rest of the file need not be decoded for it)."""
        return self.seen >= self._limit

    def add(self, block: np.ndarray) -> None:
        """One block ``(n, channels)``; what comes after the survey's length is ignored."""
        if self.seen >= self._limit:
            return
        b = np.asarray(block[: self._limit - self.seen], dtype=np.float64)
        self.seen += b.shape[0]
        if b.shape[0] == 0:
            return
        # r[i, j, L + l] += sum_t b[t, i] b[t + l, j], in chunks (a few MB whatever the block) each
        # against itself widened by L on both sides (lags across the decoder's blocks are left out)
        lag = self.max_lag
        for s in range(0, b.shape[0], self.chunk):
            a = b[s : s + self.chunk]
            lo = max(0, s - lag)
            e = b[lo : s + a.shape[0] + lag]
            nfft = 1 << (a.shape[0] + e.shape[0]).bit_length()
            fa, fe = np.fft.rfft(a, nfft, axis=0), np.fft.rfft(e, nfft, axis=0)
            r = np.fft.irfft(np.conj(fa)[:, :, None] * fe[:, None, :], nfft, axis=0)  # r[k] = sum a[t] e[t + k]
            k = np.arange(-lag, lag + 1) + (s - lo)  # e[t + k] = b[s + t + l]
            self.xcorr += np.moveaxis(r[k % nfft], 0, -1)
        for k in range(self.channels):
            x = b[:, k].astype(np.float32)
            self._parts[k].append(self._down[k].process(x) if self._down else x)
        if self.seen >= self._limit:
            self._flush()

    def _flush(self) -> None:
        if self._down:
            for k in range(self.channels):
                self._parts[k].append(self._down[k].flush())
            self._down = None

    def _probe(self, k: int) -> np.ndarray:
        self._flush()
        return np.concatenate(self._parts[k]) if self._parts[k] else np.zeros(0, np.float32)

    def plan(self) -> ChannelPlan:
        """The channels to use and how (rules in the module docstring)."""
        c, lag0 = self.channels, self.max_lag
        energy = np.array([self.xcorr[k, k, lag0] for k in range(c)])
        live = [k for k in range(c) if energy[k] > SILENT * max(float(energy.max()), 1e-300)]
        if not live:
            return ChannelPlan(np.full(c, 1.0 / c), np.zeros(c, int), list(range(c)), "all channels are silent")
        # content decides only on a probe long enough to judge it (under JUDGE_S the notch filters'
        # edges pass for beats: two 2-s tones at 100 and 400 Hz were judged differently)
        judged = all(self._probe(k).size >= JUDGE_S * self.probe_sr for k in live)
        body = [k for k in live if not judged or no_body_sound_reason(self._probe(k), self.probe_sr) is None]
        used = body or live
        ref = max(used, key=lambda k: energy[k])
        lags, signs, notes = {}, {}, []
        for k in used:
            corr = self.xcorr[ref, k] / np.sqrt(energy[ref] * energy[k])
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
        return ChannelPlan(weights, delays, used, self._rule(used, live, body, ref, notes))

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
