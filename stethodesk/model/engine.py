"""The analysis engine: audio -> calibrated findings + a streamed answer. No Qt here.

Pipeline (guide section 2)::

    samples --> encode_recording (log-mel windows, torch encoder, mean over windows)
            --> calibrated findings, domain (is_lung head when domain="auto"),
                heart rate and signal quality (stethodesk.audio.dsp)
            --> projector --> K prefix embeddings (Gemma's scaled embedding space)
            --> llama.cpp: BOS [intro][K audio embeddings][instruction] --> answer tokens

:meth:`Engine.analyze_audio` does the audio part once per recording;
:meth:`Engine.ask` streams an answer to a preset task or a free-text question and
can be called again on the same :class:`AudioAnalysis` (follow-ups reuse the
KV cache of the audio prefix). One thread should own the engine; :meth:`Engine.cancel`
may be called from any thread. The preset tasks and how a request becomes the prompt are in
:mod:`stethodesk.model.tasks`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stethodesk.audio import dsp
from stethodesk.audio.hum import noted_hum, remove_hum
from stethodesk.audio.limits import MAX_SAMPLERATE, MIN_SAMPLERATE, MIN_SECONDS, short_seconds
from stethodesk.model.domain import IS_LUNG_THRESHOLD, _for_domain, domain_warning
from stethodesk.model.bundle import REBUILD_HINT, Bundle, BundleError, base_gguf_path, load_bundle
from stethodesk.model.analysis import NOT_A_BODY_SOUND, AudioAnalysis, operating_points, refuse_at
from stethodesk.model.answer import Answer
from stethodesk.model.grounded import Grounding, card_facts_for, fact_answer_for, findings_text_for, ground
from stethodesk.model.tasks import TASKS, instruction_for, load_tasks, prompt_items
from stethodesk.model.user_text import fit_user_text

DOMAINS = ("heart", "lung")

MIN_ANALYSIS_S = MIN_SECONDS  # s: shorter recordings are refused (the app's one minimum, audio.limits)
HEAVY_CLIP_FRACTION = dsp.HEAVY_CLIP_FRACTION  # > 2 % held flat at the peak: S1/S2 flattened
UNUSABLE_ISSUES = ("flat", "too_quiet", "no_contact", "no_body_sound")  # quality issues that make an answer meaningless
DEFAULT_MAX_TOKENS = 256


def _split_threads(n_threads: int | None) -> tuple[int, int]:
    """(llama.cpp threads, torch threads) that together do not exceed the cores."""
    from stethodesk.model.llama_backend import default_threads

    cores = os.cpu_count() or 1
    n_llm = int(n_threads) if n_threads else default_threads()
    n_torch = max(1, cores - n_llm)
    return n_llm, n_torch


class Engine:
    """Audio -> findings + streamed answers, on the CPU, offline.

    Parameters
    ----------
    bundle : Bundle, optional
        A loaded bundle; None = the default bundle (loaded and verified in :meth:`load`).
    n_threads : int, optional
        llama.cpp threads; default leaves one core free (guide: the 2-thread collapse).
        torch gets the remaining cores (at least 1); the two never run at the same time.
    """

    TASKS = TASKS

    def __init__(self, bundle: Bundle | None = None, n_threads: int | None = None,
                 bundle_path: str | Path | None = None):
        self.bundle = bundle
        self._bundle_path = bundle_path
        self.n_threads, self.torch_threads = _split_threads(n_threads)
        self._encoder = None
        self._projector = None
        self._frontend = None
        self._session = None
        self._tasks = load_tasks()
        self._lock = threading.Lock()  # one analysis or answer at a time
        self._cancel = threading.Event()
        self._current: Answer | None = None  # the answer being streamed, if any
        self.load_ms: float | None = None

    # ------------------------------------------------------------------ loading
    @property
    def loaded(self) -> bool:
        return self._session is not None

    @property
    def name(self) -> str:
        return self.bundle.name if self.bundle else ""

    @property
    def version(self) -> str:
        return self.bundle.version if self.bundle else ""

    def load(self, progress: Callable[[str, float], None] | None = None) -> "Engine":
        """Verify the bundle, load the encoder, projector and llama.cpp (slow: call from a worker).

        Raises
        ------
        BundleError
            Missing or damaged model files (message names the file and the fix).
        """
        def say(step: str, frac: float) -> None:
            if progress is not None:
                progress(step, frac)

        t0 = time.perf_counter()
        say("Checking the model files", 0.0)
        if self.bundle is None:
            self.bundle = load_bundle(self._bundle_path)
        say("Preparing the language model", 0.2)
        gguf = base_gguf_path(self.bundle, on_assemble=lambda message: say(message, 0.3))

        say("Loading the audio encoder", 0.4)
        import torch

        torch.set_num_threads(self.torch_threads)
        from stethodesk.model.encoder import load_encoder
        from stethodesk.model.features import FrontendConfig

        from stethodesk.model.llm import LlamaSession, LlmError

        try:  # weights that do not fit their settings are a bundle problem: say how to fix it
            self._frontend = FrontendConfig.from_dict(self.bundle.frontend)
            self._encoder = load_encoder(self.bundle.encoder_path, self.bundle.encoder_config)
            self._projector = _load_projector(self.bundle)
            say("Loading the language model", 0.6)
            self._session = LlamaSession(
                gguf, self.bundle.lora_path, self.bundle.lora_scale, n_threads=self.n_threads
            )
        except (ValueError, TypeError, KeyError, LlmError) as exc:
            raise BundleError(f"{exc}; {REBUILD_HINT}") from exc
        self._session.cancel_event = self._cancel
        self._stop_tokens = tuple(self._session.tokenize("<end_of_turn>"))
        self.load_ms = (time.perf_counter() - t0) * 1000.0
        say("Model ready", 1.0)
        return self

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _need_loaded(self) -> None:
        if self._session is None:
            raise RuntimeError("the engine is not loaded yet; call Engine.load() first")

    # ------------------------------------------------------------------ audio
    def analyze_audio(self, samples: np.ndarray, sr: int, domain: str = "auto",
                      site: str | None = None, owned: bool = False) -> AudioAnalysis:
        """Findings, heart rate, quality and the audio prefix for one recording.

        Parameters
        ----------
        samples : np.ndarray, shape (n,)
            Mono float audio in [-1, 1].
        sr : int
            Sample rate in Hz.
        domain : {"auto", "heart", "lung"}
        site : str, optional
            Chest site (code or words); None = unspecified.
        owned : bool
            The caller hands ``samples`` over and will not use them again (the CLI's reader): silence
            and dropouts may be cut out of them in place, so a 30-min recording is never held twice
            (issue 11 item 8). False (default): ``samples`` are left as they were.
        """
        self._need_loaded()
        if domain not in ("auto",) + DOMAINS:
            raise ValueError(f"domain must be auto, heart or lung, not {domain!r}")
        from stethodesk.audio.dsp import NORM_RMS, QUALITY_SR, Quality, ac_rms, clipped_fraction, signal_quality
        from stethodesk.audio.dropouts import cut_dropouts, cut_zero_silence, find_dropouts
        from stethodesk.audio.filters import resample_blocks

        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 2:  # (frames, channels) or (channels, frames): mix down to mono
            from stethodesk.audio.fileio import mixdown

            x = mixdown(x if x.shape[0] >= x.shape[1] else x.T, sr)
        x = x.reshape(-1)
        if not np.isfinite(x).all():  # a copy only when needed: a 30-min 48 kHz array is 350 MB
            x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
        if not sr or not MIN_SAMPLERATE <= sr <= MAX_SAMPLERATE:  # a 1 Hz array was once "Clear signal, 60 bpm"
            raise ValueError(f"invalid sample rate {sr!r}: a stethoscope recording has "
                             f"{MIN_SAMPLERATE} to {MAX_SAMPLERATE} Hz")
        common = dict(site=site, model_name=self.name, model_version=self.version)
        # flat or under one step of its format: judged on the samples as read, before the silence cut
        # (a too-quiet heart's zeros are cut as silence) and the resampling (a DC file's edges become a
        # transient that passed for a 179 bpm heart at 16-48 kHz), issue 11 item 3 re-test 8
        first = dsp.input_quality(x) if x.size else None
        if first is not None:
            return AudioAnalysis(domain if domain != "auto" else "heart", findings={}, heart_rate_bpm=None,
                                 quality=first, usable=False, unusable_reason=first.reason, encode_ms=0.0,
                                 duration_s=x.size / float(sr),
                                 domain_source="given" if domain != "auto" else "default", **common)
        # digital silence is left out and said so (issue 11 item 3): long runs of zeros to the sample
        # first (frame by frame would leave zeros at each cut, to be counted as a dropout), then the rest
        x, zeros_s = cut_zero_silence(x, sr, in_place=_owned(x, samples, owned))
        x, silent_s = dsp.drop_silence(x, sr, in_place=_owned(x, samples, owned))
        silent_s += zeros_s
        # short dropouts (a wireless link's runs of zeros) are cut for the model, which would hear them
        # as pauses; the quality check is given them (it says so, and the heart rate keeps their time)
        whole, whole_sr = x, sr
        dropouts = find_dropouts(x, sr)
        if dropouts.size and sr > QUALITY_SR:  # the uncut sound is judged at the quality rate: kept at it only
            whole, whole_sr = resample_blocks(x, sr, QUALITY_SR), QUALITY_SR
        # cut in place when x is the engine's own copy, not the caller's array: no second full-rate copy
        # (a 30-min 48 kHz file with dropouts once peaked at 1.9 GB, issue 11 item 8)
        own = bool(dropouts.size) and _owned(x, samples, owned)
        if own and whole is x:
            whole = x.copy()
        x, dropouts = cut_dropouts(x, sr, dropouts, in_place=own)
        duration = x.size / float(sr) if sr else 0.0
        if duration < MIN_ANALYSIS_S:
            reason = (
                f"The recording is only {short_seconds(duration, MIN_ANALYSIS_S)} s long; at least {MIN_ANALYSIS_S:g} s "
                "of sound is needed for an analysis. Record a little longer."
            ) if not silent_s else (f"{dsp.silence_note(silent_s, duration)}; at least {MIN_ANALYSIS_S:g} s "
                                     "of sound is needed for an analysis. Record again.")
            q = Quality("poor", 0.0, ["too_short"], reason)
            return AudioAnalysis(domain if domain != "auto" else "heart", findings={},
                                 heart_rate_bpm=None, quality=q, usable=False, unusable_reason=reason,
                                 encode_ms=0.0, duration_s=duration,
                                 domain_source="given" if domain != "auto" else "default", **common)

        clipped = clipped_fraction(x, sr)  # at the file's own rate: runs of held samples
        enc_x, enc_sr = x, sr
        if sr > QUALITY_SR:  # resampled in blocks straight to the rates analysis uses: bounded memory
            enc_sr = self._frontend.sample_rate
            enc_x = resample_blocks(x, sr, enc_sr) if sr > enc_sr else x
            x, sr = resample_blocks(x, sr, QUALITY_SR), QUALITY_SR
        enc_x, hum_hz = remove_hum(enc_x, enc_sr)  # loud hum under the sound: cut, and said (hum.py)
        # level normalised before encoding: the frontend's own unit-RMS step stops at its floor
        # (features.NORM_FLOOR, -120 dBFS), so a real recording 100 dB down in a float file would
        # be encoded differently from the loud one (issue 11 item 3); a pure gain changes nothing else
        level = ac_rms(enc_x)
        if level > 0:
            enc_x = (enc_x * (NORM_RMS / level)).astype(np.float32)
        with self._lock:
            import torch

            torch.set_num_threads(self.torch_threads)
            from stethodesk.model.calibration import calibrate
            from stethodesk.model.encode import encode_recording

            t0 = time.perf_counter()
            enc = encode_recording(self._encoder, enc_x, enc_sr, self._frontend)
            del enc_x
            logits = {k: np.asarray(v, dtype=np.float32).reshape(-1) for k, v in enc.logits.items()}
            all_findings = {k: float(v) for k, v in calibrate(logits, self.bundle.heads).items()}
            if domain == "auto":
                p_lung = all_findings.get("is_lung")
                dom = "lung" if (p_lung is not None and p_lung > IS_LUNG_THRESHOLD) else "heart"
                source = "detected" if p_lung is not None else "default"
            else:
                dom, source = domain, "given"
            prefix = self._project(enc.embedding, logits)
            encode_ms = (time.perf_counter() - t0) * 1000.0

        if dropouts.size:  # dropouts were cut: judge the uncut sound at the quality rate
            x = resample_blocks(whole, whole_sr, QUALITY_SR) if whole_sr > QUALITY_SR else whole
        del whole
        quality = signal_quality(x, sr, dom)  # with its hum: a recording that is only a tone is refused
        if hum_hz and not any(i in quality.issues for i in UNUSABLE_ISSUES):
            quality = noted_hum(signal_quality(remove_hum(x, sr)[0], sr, dom), hum_hz)
        quality = dsp.noted_silence(quality, silent_s, duration)
        reason = None
        if any(i in quality.issues for i in UNUSABLE_ISSUES):
            reason = quality.reason
        elif clipped > HEAVY_CLIP_FRACTION:
            reason = (
                f"The sound is heavily clipped ({clipped:.0%} of samples held flat at the peak), so its shape "
                "is lost. Lower the input gain and record again."
            )
        p_poor = all_findings.get("poor_quality")
        limit = refuse_at(self.bundle.heads)
        if reason is None and p_poor is not None and limit is not None and p_poor >= limit:
            reason = NOT_A_BODY_SOUND  # the one content rule (analysis.refuse_at): noise, talking, handling
        # a rate and findings only for a usable recording: never beside "nothing is coming in"
        # the rate the quality check found: no "no regular heartbeat" beside a rate (issue 11 item 3)
        hr = quality.heart_rate_bpm if dom == "heart" and reason is None else None
        findings = {} if reason else _for_domain(all_findings, dom, self.bundle.heads)
        return AudioAnalysis(
            dom, findings=findings, heart_rate_bpm=hr, domain_warning=domain_warning(all_findings, dom, source),
            quality=quality, usable=reason is None, unusable_reason=reason, encode_ms=encode_ms,
            duration_s=duration, n_windows=int(getattr(enc, "n_windows", 0)), domain_source=source,
            prefix=None if reason else prefix, poor_quality=p_poor, points=operating_points(self.bundle.heads),
            **common,
        )

    def _project(self, embedding: np.ndarray, logits: dict) -> np.ndarray:
        """Pooled embedding ``[D]`` (+ uncalibrated head probabilities) -> prefix ``[K, n_embd]``.

        The projector was trained on uncalibrated probabilities (projector.head_probabilities),
        so recalibrating a bundle never changes its prefix; ``d_in == D`` means embedding only.
        """
        import torch

        from stethodesk.model import projector as pj

        emb = torch.as_tensor(np.asarray(embedding, dtype=np.float32)).reshape(1, -1)
        probs = None
        if self._projector.cfg.d_in != emb.shape[1]:
            heads = self._encoder.cfg.heads
            probs = pj.head_probabilities({h: torch.as_tensor(logits[h]).reshape(1, -1) for h in heads}, heads)
        with torch.no_grad():
            out = self._projector(pj.projector_input(emb, probs))
        return out.reshape(-1, out.shape[-1]).float().numpy()

    # ------------------------------------------------------------------ answers
    def instruction(self, task: str, domain: str, site: str | None, site_b: str | None = None,
                    variant: int = 0) -> str:
        """The task's instruction with domain and site filled in (variant 0 = the default;
        :func:`stethodesk.model.tasks.instruction_for`)."""
        return instruction_for(self._tasks, task, domain, site, site_b, variant)

    def _prompt(self, analysis: AudioAnalysis, task: str, question: str | None,
                other: AudioAnalysis | None, variant: int,
                context: str | None = None) -> tuple[list, str, str | None]:
        """Prompt items, instruction and site words (:func:`stethodesk.model.tasks.prompt_items`)."""
        return prompt_items(self._tasks, self.bundle.prompt_template, analysis, task, question, other,
                            variant, context)

    def ask(self, analysis: AudioAnalysis, task: str, question: str | None = None,
            other: AudioAnalysis | None = None, max_tokens: int = DEFAULT_MAX_TOKENS, *,
            variant: int = 0, temperature: float = 0.0, context: str | None = None,
            grounded: bool = True) -> Answer:
        """Stream the answer to a preset task (or a free-text ``question``) about ``analysis``.

        ``task`` is one of :data:`TASKS` or ``"question"``; with a preset task, a ``question``
        replaces its instruction (a follow-up). ``other`` is recording B for "comparison".
        ``context`` is what the user entered about the patient (age group, known conditions,
        symptoms): it goes into the prompt as data and the answer may repeat it. Asking again
        about the same analysis reuses the audio's KV cache.

        With ``grounded`` (always, in the app) the answer is checked sentence by sentence against
        the findings card and falls back to the card's own wording where the model contradicts it
        or says what nobody told it (:mod:`stethodesk.model.grounded`); questions about heart
        rate, signal quality or the findings are answered from the card directly. ``grounded=False``
        streams the raw model tokens (tests of the token stream, evaluation of the raw model).

        Raises
        ------
        UnusableRecording
            The analysis (or ``other``) is not usable; the message is the plain reason.
        """
        self._need_loaded()
        # typed text is cut by the model's own tokens so the prompt and the answer always fit
        (items, instruction, site), question, context, notes = fit_user_text(
            self._session, lambda q, c: self._prompt(analysis, task, q, other, variant, c), question, context,
            max_tokens)
        self._close_current()
        self._cancel.clear()  # at call time, so a cancel() before the first next() still counts
        session = self._session
        grounding = Grounding()
        direct = None
        if grounded and question and question.strip():
            direct = fact_answer_for(analysis, question)
        if direct is not None:
            grounding.source = "facts"
            pieces = iter([direct])
            stats_fn = lambda: None  # noqa: E731 - nothing was generated
        else:
            pieces = session.generate(items, max_tokens=max_tokens, temperature=temperature,
                                      stop_tokens=self._stop_tokens)
            stats_fn = lambda: session.stats  # noqa: E731
            if grounded:
                pieces = ground(pieces, items, analysis, task, other, site, context, grounding,
                                is_cancelled=self._cancel.is_set)
        self._current = Answer(pieces, task=task, instruction=instruction, domain=analysis.domain,
                               site=site, model_name=self.name, model_version=self.version,
                               stats_fn=stats_fn, grounding=grounding)
        self._current.notes = notes
        return self._current

    @staticmethod
    def card_facts(analysis: AudioAnalysis) -> dict:
        """The findings card's calls for ``analysis`` (the checker's vocabulary)."""
        return card_facts_for(analysis)

    @staticmethod
    def findings_text(analysis: AudioAnalysis) -> str:
        """The card's facts in plain lines with their calibrated percentages."""
        return findings_text_for(analysis)

    def _close_current(self) -> None:
        """Finish an answer left half-read, so its hold on the model is released.

        Closing it from the thread that iterated it frees the llama.cpp session at once; if
        another thread is still streaming it, the next question simply waits for that one.
        """
        cur, self._current = self._current, None
        if cur is not None and not cur.done:
            try:
                cur.close()
            except ValueError:  # "generator already executing" in another thread
                pass

    def first_token_logits(self, analysis: AudioAnalysis, task: str = "binary",
                           other: AudioAnalysis | None = None) -> np.ndarray:
        """Next-token logits ``[n_vocab]`` right after the prompt (no generation).

        Two different recordings give different logits: the audio path is live.
        """
        self._need_loaded()
        items, _, _ = self._prompt(analysis, task, None, other, 0)
        self._close_current()
        return self._session.prefill(items)

    def cancel(self) -> None:
        """Stop the answer being streamed (thread-safe; takes effect before the next token)."""
        self._cancel.set()


def _owned(x: np.ndarray, samples, owned: bool = False) -> bool:
    """Whether ``x`` may be cut in place (no second full-rate copy, issue 11 item 8): a writable
    float32 array of the engine's own (a copy it made), or the caller's ``samples`` handed over
    (``owned``)."""
    return x.dtype == np.float32 and x.flags.writeable and (owned or not np.may_share_memory(x, samples))


def _load_projector(bundle: Bundle):
    """The projector with the bundle's weights and settings, in eval mode."""
    from stethodesk.model.projector import load_projector

    return load_projector(bundle.projector_path, bundle.projector_config)
