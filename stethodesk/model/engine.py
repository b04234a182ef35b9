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
may be called from any thread.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stethodesk import DISCLAIMER, paths
from stethodesk.model.bundle import REBUILD_HINT, Bundle, BundleError, base_gguf_path, load_bundle
from stethodesk.model.prompts import AudioSlot, build_prompt

TASKS = ("binary", "detection", "report", "reasoning", "differential", "comparison", "location")
FREE_TEXT = "question"  # task name for a free-text question
TASKS_FILE = paths.RESOURCES / "prompts" / "tasks.json"
DOMAINS = ("heart", "lung")

MIN_ANALYSIS_S = 2.0  # s: shorter recordings are refused (less than ~2 heartbeats)
HEAVY_CLIP_FRACTION = 0.02  # > 2 % of samples at full scale: S1/S2 of every beat flattened
CLIP_LEVEL = 0.999  # |x| at or above this counts as clipped (same as dsp)
UNUSABLE_ISSUES = ("flat", "no_contact")  # quality issues that make an answer meaningless
IS_LUNG_THRESHOLD = 0.5  # is_lung probability above which domain="auto" means lung
DEFAULT_MAX_TOKENS = 256

# Encoder site codes (encoder.SITES) in the words the prompts use, for sites the clinical
# knowledge file does not name (the site head's coarse lung regions).
SITE_WORDS = {
    "AV": "aortic area",
    "PV": "pulmonic area",
    "TV": "tricuspid area",
    "MV": "mitral area",
    "trachea": "trachea",
    "anterior": "anterior chest",
    "posterior": "posterior chest",
    "lateral": "lateral chest",
}
SITE_DOMAIN = {"AV": "heart", "PV": "heart", "TV": "heart", "MV": "heart"}  # others: lung
# Codes and words people type -> keys of resources/clinical_knowledge.json "sites".
SITE_ALIASES = {
    "av": "aortic", "pv": "pulmonic", "pulmonary": "pulmonic", "tv": "tricuspid", "mv": "mitral",
    "apex": "mitral", "erb": "erb", "erbs_point": "erb", "erbs": "erb", "phc": "other_heart",
    "tc": "trachea", "tracheal": "trachea",
    "al": "anterior_left", "ar": "anterior_right", "pl": "posterior_left", "pr": "posterior_right",
    "ll": "lateral_left", "lr": "lateral_right",
}
# Phrasings about heart sounds, never asked of a lung recording (same rule as training).
HEART_ONLY_WORDING = ("murmurs, extra heart", "extra heart sounds")
KNOWLEDGE_FILE = paths.RESOURCES / "clinical_knowledge.json"


class UnusableRecording(ValueError):
    """ask() refused: the recording cannot be analysed; ``str(err)`` is the plain reason."""


@dataclass
class AudioAnalysis:
    """What the engine knows about one recording before any question is asked.

    ``findings`` are calibrated probabilities in [0, 1] keyed by head name (binary heads)
    or ``<head>_<class>`` (multi-class heads), restricted to heads that apply to ``domain``.
    ``prefix`` is the projector output ``[K, n_embd]`` (None when unusable).
    """

    domain: str
    site: str | None
    findings: dict[str, float]
    heart_rate_bpm: float | None
    quality: object  # stethodesk.audio.dsp.Quality
    usable: bool
    unusable_reason: str | None
    encode_ms: float
    duration_s: float
    n_windows: int = 0
    domain_source: str = "given"  # "given" | "detected"
    model_name: str = ""
    model_version: str = ""
    disclaimer: str = DISCLAIMER
    prefix: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        q = self.quality
        return {
            "domain": self.domain,
            "domain_source": self.domain_source,
            "site": self.site,
            "findings": {k: round(float(v), 4) for k, v in self.findings.items()},
            "heart_rate_bpm": None if self.heart_rate_bpm is None else round(float(self.heart_rate_bpm), 1),
            "signal_quality": {
                "level": getattr(q, "level", None),
                "score": None if getattr(q, "score", None) is None else round(float(q.score), 3),
                "reason": getattr(q, "reason", None),
                "issues": list(getattr(q, "issues", [])),
            },
            "usable": self.usable,
            "unusable_reason": self.unusable_reason,
            "duration_s": round(self.duration_s, 3),
            "n_windows": self.n_windows,
            "encode_ms": round(self.encode_ms, 1),
            "model": {"name": self.model_name, "version": self.model_version},
            "disclaimer": self.disclaimer,
        }


class Answer(Iterator[str]):
    """A streamed answer: iterate for the text pieces; the attributes fill in as it goes.

    ``text`` is the concatenation of every piece yielded so far; after the iterator ends,
    ``tokens``, ``first_token_ms`` (from the ask() call to the first piece), ``total_ms``,
    ``cancelled`` and ``stop_reason`` are final. The model name/version and the disclaimer
    travel with every answer (they are not part of the token stream).
    """

    def __init__(self, pieces: Iterator[str], *, task: str, instruction: str, domain: str,
                 site: str | None, model_name: str, model_version: str, stats_fn: Callable[[], object]):
        self._pieces = pieces
        self._stats_fn = stats_fn
        self._t0 = time.perf_counter()
        self.task = task
        self.instruction = instruction
        self.domain = domain
        self.site = site
        self.model_name = model_name
        self.model_version = model_version
        self.disclaimer = DISCLAIMER
        self.text = ""
        self.tokens = 0
        self.first_token_ms: float | None = None
        self.total_ms: float | None = None
        self.cancelled = False
        self.stop_reason = ""
        self.reused_positions = 0
        self.done = False

    def __iter__(self) -> "Answer":
        return self

    def __next__(self) -> str:
        if self.done:
            raise StopIteration
        try:
            piece = next(self._pieces)
        except StopIteration:
            self._finish()
            raise
        except BaseException:
            self._finish()
            raise
        if self.first_token_ms is None:
            self.first_token_ms = (time.perf_counter() - self._t0) * 1000.0
        self.text += piece
        return piece

    def _finish(self) -> None:
        self.done = True
        self.total_ms = (time.perf_counter() - self._t0) * 1000.0
        st = self._stats_fn()
        self.tokens = int(getattr(st, "tokens", 0))
        self.cancelled = bool(getattr(st, "cancelled", False))
        self.stop_reason = str(getattr(st, "stop_reason", ""))
        self.reused_positions = int(getattr(st, "reused_positions", 0))

    def close(self) -> None:
        """Stop early and release the model (same as exhausting the iterator)."""
        if not self.done:
            close = getattr(self._pieces, "close", None)
            if close is not None:
                close()
            self._finish()

    def read(self) -> str:
        """Consume the rest of the stream and return the whole text."""
        for _ in self:
            pass
        return self.text

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "instruction": self.instruction,
            "answer": self.text,
            "cancelled": self.cancelled,
            "timing": {
                "first_token_ms": None if self.first_token_ms is None else round(self.first_token_ms, 1),
                "total_ms": None if self.total_ms is None else round(self.total_ms, 1),
                "tokens": self.tokens,
            },
            "model": {"name": self.model_name, "version": self.model_version},
            "disclaimer": self.disclaimer,
        }


def load_tasks(path: Path = TASKS_FILE) -> dict:
    """The preset tasks (``resources/prompts/tasks.json``): name -> title, instructions, ..."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


def task_titles() -> dict[str, str]:
    """Task name -> button title, in :data:`TASKS` order."""
    tasks = load_tasks()["tasks"]
    return {name: tasks[name]["title"] for name in TASKS}


@functools.lru_cache(maxsize=1)
def _site_titles() -> dict[str, str]:
    """clinical_knowledge.json site key -> title ("posterior_left" -> "left posterior chest")."""
    try:
        sites = json.loads(KNOWLEDGE_FILE.read_text(encoding="utf-8")).get("sites", {})
    except (OSError, ValueError):
        return {}
    return {k: str(v.get("title", k.replace("_", " "))) for k, v in sites.items()}


def site_words(site: str | None) -> str | None:
    """A site as the prompts say it (training uses this very function for its prompts).

    Accepts the dataset keys of ``resources/clinical_knowledge.json`` ("mitral",
    "posterior_left"), their titles, valve codes ("MV", "apex"), ICBHI codes ("Pl") and
    plain words ("left posterior"). Returns the knowledge title ("mitral area", "left posterior
    chest"), else the site head's words, else the text as given; None for no site.
    """
    if site is None or not str(site).strip():
        return None
    text = str(site).strip()
    titles = _site_titles()
    key = text.lower().replace("-", "_").replace(" ", "_").replace("'", "")
    key = SITE_ALIASES.get(key, key)
    if key in titles:
        return titles[key]
    for title in titles.values():
        if title.lower() == text.lower():
            return title
    parts = key.split("_")
    if len(parts) >= 2 and parts[0] in ("left", "right"):  # "left_posterior" -> "posterior_left"
        swapped = "_".join(parts[1:] + parts[:1])
        if swapped in titles:
            return titles[swapped]
    from stethodesk.model.encoder import normalise_site

    code = normalise_site(text)
    return SITE_WORDS.get(code, text) if code else text


def _split_threads(n_threads: int | None) -> tuple[int, int]:
    """(llama.cpp threads, torch threads) that together do not exceed the cores."""
    from stethodesk.model.llm import default_threads

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
        gguf = base_gguf_path(self.bundle)

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
                      site: str | None = None) -> AudioAnalysis:
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
        """
        self._need_loaded()
        if domain not in ("auto",) + DOMAINS:
            raise ValueError(f"domain must be auto, heart or lung, not {domain!r}")
        from stethodesk.audio.dsp import Quality, heart_rate_bpm, signal_quality

        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 2:  # (frames, channels) or (channels, frames): mix down to mono
            x = x.mean(axis=int(np.argmin(x.shape)))
        x = np.nan_to_num(x.reshape(-1), nan=0.0, posinf=1.0, neginf=-1.0)
        if not sr or sr <= 0:
            raise ValueError(f"invalid sample rate {sr!r}")
        duration = x.size / float(sr) if sr else 0.0
        common = dict(site=site, model_name=self.name, model_version=self.version)
        if duration < MIN_ANALYSIS_S:
            reason = (
                f"The recording is only {duration:.1f} s long; at least {MIN_ANALYSIS_S:.0f} s "
                "of sound is needed for an analysis. Record a little longer."
            )
            q = Quality("poor", 0.0, ["too_short"], reason)
            return AudioAnalysis(domain if domain != "auto" else "heart", findings={},
                                 heart_rate_bpm=None, quality=q, usable=False, unusable_reason=reason,
                                 encode_ms=0.0, duration_s=duration,
                                 domain_source="given" if domain != "auto" else "default", **common)

        with self._lock:
            import torch

            torch.set_num_threads(self.torch_threads)
            from stethodesk.model.calibration import calibrate
            from stethodesk.model.encode import encode_recording

            t0 = time.perf_counter()
            enc = encode_recording(self._encoder, x, sr, self._frontend)
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

        quality = signal_quality(x, sr, dom)
        hr = heart_rate_bpm(x, sr) if dom == "heart" else None
        clipped = float(np.mean(np.abs(x) >= CLIP_LEVEL))
        reason = None
        if any(i in quality.issues for i in UNUSABLE_ISSUES):
            reason = quality.reason
        elif clipped > HEAVY_CLIP_FRACTION:
            reason = (
                f"The sound is heavily clipped ({clipped:.0%} of samples at full scale), so its shape "
                "is lost. Lower the input gain and record again."
            )
        return AudioAnalysis(
            dom, findings=_for_domain(all_findings, dom, self.bundle.heads), heart_rate_bpm=hr,
            quality=quality, usable=reason is None, unusable_reason=reason, encode_ms=encode_ms,
            duration_s=duration, n_windows=int(getattr(enc, "n_windows", 0)), domain_source=source,
            prefix=None if reason else prefix, **common,
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
        """The task's instruction with domain and site filled in (variant 0 = the default).

        Phrasings naming ``{site}``/``{site_b}`` are used only when that site is known - the
        rule the training data follows (training/instructions.py), so no prompt says
        "recorded at the unspecified site".
        """
        phrasings = [
            p for p in self._tasks["tasks"][task]["instructions"]
            if ("{site}" not in p or site) and ("{site_b}" not in p or site_b)
            and not (domain == "lung" and any(w in p for w in HEART_ONLY_WORDING))
        ]
        if not phrasings:
            raise ValueError(f"the {task} task needs the chest site of the recording")
        text = phrasings[variant % len(phrasings)]
        return text.format(domain=domain, site=site or "", site_b=site_b or "")

    def _prompt(self, analysis: AudioAnalysis, task: str, question: str | None,
                other: AudioAnalysis | None, variant: int) -> tuple[list, str, str | None]:
        from stethodesk.model.llm import Embeddings

        for a, label in ((analysis, ""), (other, "The second recording: ")):
            if a is not None and not a.usable:
                raise UnusableRecording(label + (a.unusable_reason or "the recording cannot be analysed"))
        site = site_words(analysis.site)
        if task == "location" and site is None:  # the location task needs a site: take the head's
            site = site_words(_predicted_site(analysis))
            if site is None:
                raise ValueError("the location task needs the chest site of the recording")
        site_b = site_words(other.site) if other is not None else None
        if task == "comparison":
            if other is None:
                raise ValueError("the comparison task needs a second recording (other=...)")
            n_audio = 2
        else:
            n_audio = 1
        if task == FREE_TEXT or (question and task not in TASKS):
            if not question or not question.strip():
                raise ValueError("a free-text question is empty")
            instruction = question.strip()
        elif task in TASKS:
            instruction = question.strip() if question and question.strip() else \
                self.instruction(task, analysis.domain, site, site_b, variant)
        else:
            raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)} or ask a question")
        segs = build_prompt(instruction, domain=analysis.domain, site=site, site_b=site_b,
                            n_audio=n_audio, template=self.bundle.prompt_template)
        prefixes = [analysis.prefix, other.prefix if other is not None else None]
        items = [Embeddings(prefixes[s.index]) if isinstance(s, AudioSlot) else s for s in segs]
        return items, instruction, site

    def ask(self, analysis: AudioAnalysis, task: str, question: str | None = None,
            other: AudioAnalysis | None = None, max_tokens: int = DEFAULT_MAX_TOKENS, *,
            variant: int = 0, temperature: float = 0.0) -> Answer:
        """Stream the answer to a preset task (or a free-text ``question``) about ``analysis``.

        ``task`` is one of :data:`TASKS` or ``"question"``; with a preset task, a ``question``
        replaces its instruction (a follow-up). ``other`` is recording B for "comparison".
        Asking again about the same analysis reuses the audio's KV cache.

        Raises
        ------
        UnusableRecording
            The analysis (or ``other``) is not usable; the message is the plain reason.
        """
        self._need_loaded()
        items, instruction, site = self._prompt(analysis, task, question, other, variant)
        self._close_current()
        self._cancel.clear()  # at call time, so a cancel() before the first next() still counts
        session = self._session
        pieces = session.generate(items, max_tokens=max_tokens, temperature=temperature,
                                  stop_tokens=self._stop_tokens)
        self._current = Answer(pieces, task=task, instruction=instruction, domain=analysis.domain,
                               site=site, model_name=self.name, model_version=self.version,
                               stats_fn=lambda: session.stats)
        return self._current

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


def _predicted_site(analysis: AudioAnalysis) -> str | None:
    """The most probable site from the site head, among sites of the analysis's domain."""
    best, best_p = None, 0.0
    for key, p in analysis.findings.items():
        if key.startswith("site_"):
            code = key[len("site_"):]
            if SITE_DOMAIN.get(code, "lung") == analysis.domain and p > best_p:
                best, best_p = code, p
    return best


def _for_domain(findings: dict[str, float], domain: str, heads_cfg: dict) -> dict[str, float]:
    """Keep findings whose head applies to ``domain`` ("any" heads always)."""
    from stethodesk.model.encoder import HEADS

    out = {}
    for key, p in findings.items():
        head = max((h for h in HEADS if key == h or key.startswith(h + "_")), key=len, default=None)
        dom = (heads_cfg.get(head) or {}).get("domain") or (HEADS[head].domain if head else "any")
        if dom in ("any", domain):
            out[key] = p
    return out


def _load_projector(bundle: Bundle):
    """The projector with the bundle's weights and settings, in eval mode."""
    from stethodesk.model.projector import load_projector

    return load_projector(bundle.projector_path, bundle.projector_config)
