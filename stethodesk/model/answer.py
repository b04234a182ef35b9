"""A streamed answer and what travels with it (model, disclaimer, timings, grounding). No Qt."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from stethodesk import DISCLAIMER
from stethodesk.model.grounded import Grounding


class Answer(Iterator[str]):
    """A streamed answer: iterate for the text pieces; the attributes fill in as it goes.

    ``text`` is the concatenation of every piece yielded so far; after the iterator ends,
    ``tokens``, ``first_token_ms`` (from the ask() call to the first piece), ``total_ms``,
    ``cancelled`` and ``stop_reason`` are final. The model name/version and the disclaimer
    travel with every answer (they are not part of the token stream). ``grounding`` says how the
    text was checked against the findings card (:class:`stethodesk.model.grounded.Grounding`):
    pieces are whole checked sentences, not tokens.
    """

    def __init__(self, pieces: Iterator[str], *, task: str, instruction: str, domain: str,
                 site: str | None, model_name: str, model_version: str, stats_fn: Callable[[], object],
                 grounding: Grounding | None = None):
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
        self.grounding = grounding or Grounding()
        self.notes: list[str] = []  # what the user should know about how the question was read

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
            "grounding": self.grounding.to_dict(),
            "notes": list(self.notes),
            "disclaimer": self.disclaimer,
        }
