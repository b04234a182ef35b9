"""What the engine knows about one recording before any question is asked. No Qt, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stethodesk import DISCLAIMER


class UnusableRecording(ValueError):
    """ask() refused: the recording cannot be analysed; ``str(err)`` is the plain reason."""


# The one rule that refuses what is not a heart or lung sound: the calibrated poor-quality finding
# at or above the bundle's operating point ``heads.poor_quality.refuse_at`` in ``bundle.json``,
# chosen on the validation split by ``python -m training.refusal`` (real recordings vs held-out
# artifacts: speech, rubbing, handling, hum, noise; the choice and its figures are stored beside
# it as ``refuse_source``). A bundle without one refuses on the signal checks only (too short,
# flat, no contact, heavy clipping): an operating point is never guessed for weights it was not
# chosen on.
NOT_A_BODY_SOUND = ("This does not sound like a heart or lung recording (noise, talking or handling): "
                    "record again with the chest piece on the skin.")


def refuse_at(heads: dict) -> float | None:
    """The bundle's poor-quality operating point (calibrated probability in (0, 1]), or None.

    ``heads`` is the bundle's ``"heads"`` section. Raises ValueError for a value outside (0, 1].
    """
    v = (heads or {}).get("poor_quality", {}).get("refuse_at")
    if v is None:
        return None
    v = float(v)
    if not 0.0 < v <= 1.0:
        raise ValueError(f"heads.poor_quality.refuse_at must lie in (0, 1], not {v}")
    return v


def operating_points(heads: dict) -> dict[str, float]:
    """The bundle's operating points by finding key (``{"crackle": 0.22, ...}``).

    Each head of the ``"heads"`` section may carry ``call_at``: {finding key: calibrated
    probability in (0, 1)} chosen on the validation split by ``python -m training.operating_points``
    (its ``call_source`` says how); a finding without one is called at 0.5
    (``stethodesk.model.facts``). Raises ValueError for a point outside (0, 1) or a key that is
    not one of the head's findings.
    """
    out: dict[str, float] = {}
    for head, cfg in (heads or {}).items():
        for key, v in ((cfg or {}).get("call_at") or {}).items():
            if not (key == head or key.startswith(f"{head}_")):
                raise ValueError(f"heads.{head}.call_at names {key!r}, which is not a finding of that head")
            v = float(v)
            if not 0.0 < v < 1.0:
                raise ValueError(f"heads.{head}.call_at.{key} must lie in (0, 1), not {v}")
            out[key] = v
    return out


@dataclass
class AudioAnalysis:
    """What the engine knows about one recording before any question is asked.

    ``findings`` are calibrated probabilities in [0, 1] keyed by head name (binary heads)
    or ``<head>_<class>`` (multi-class heads), restricted to heads that apply to ``domain``.
    ``prefix`` is the projector output ``[K, n_embd]`` (None when unusable). ``points`` are the
    bundle's operating points by finding key (:func:`operating_points`; a key it lacks is called
    at 0.5): every call about these findings passes them on.
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
    # calibrated poor-quality probability, kept when the recording is refused (None: not computed)
    poor_quality: float | None = None
    points: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        q = self.quality
        return {
            "domain": self.domain,
            "domain_source": self.domain_source,
            "domain_warning": self.domain_warning,
            "site": self.site,
            "findings": {k: round(float(v), 4) for k, v in self.findings.items()},
            "operating_points": {k: round(float(v), 4) for k, v in self.points.items() if k in self.findings},
            "heart_rate_bpm": None if self.heart_rate_bpm is None else round(float(self.heart_rate_bpm), 1),
            "signal_quality": {
                "level": getattr(q, "level", None),
                "score": None if getattr(q, "score", None) is None else round(float(q.score), 3),
                "reason": getattr(q, "reason", None),
                "issues": list(getattr(q, "issues", [])),
            },
            "usable": self.usable,
            "unusable_reason": self.unusable_reason,
            "poor_quality": None if self.poor_quality is None else round(float(self.poor_quality), 4),
            "duration_s": round(self.duration_s, 3),
            "n_windows": self.n_windows,
            "encode_ms": round(self.encode_ms, 1),
            "model": {"name": self.model_name, "version": self.model_version},
            "disclaimer": self.disclaimer,
        }
