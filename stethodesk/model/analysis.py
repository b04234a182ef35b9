"""What the engine knows about one recording before any question is asked. No Qt, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stethodesk import DISCLAIMER


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
    domain_warning: str | None = None  # the given domain disagrees with the lung-sound detector
    model_name: str = ""
    model_version: str = ""
    disclaimer: str = DISCLAIMER
    prefix: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        q = self.quality
        return {
            "domain": self.domain,
            "domain_source": self.domain_source,
            "domain_warning": self.domain_warning,
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
