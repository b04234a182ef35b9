"""Token-by-token helpers of generation: the loop guard, UTF-8-safe pieces, sampling. No Qt.

Pure Python/NumPy over token ids, logits and bytes, so they are tested without a model;
:meth:`stethodesk.model.llm.LlamaSession.generate` drives them.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

import numpy as np

LOOP_MAX_PERIOD = 64  # tokens: longest repeating cycle the loop guard looks for (~3 lines)


def loop_repeats(period: int) -> int:
    """Back-to-back repeats of a ``period``-token cycle that mean the answer is looping.

    Short cycles can be legitimate ("- - -"), so they need more repeats; a cycle of 17+
    tokens repeated verbatim twice in a row does not happen in a real answer.
    """
    if period == 1:
        return 8
    if period <= 4:
        return 4
    return 3 if period <= 16 else 2


def is_looping(tokens: Sequence[int]) -> bool:
    """True when ``tokens`` ends with a cycle repeated back to back (see :func:`loop_repeats`)."""
    n = len(tokens)
    last = tokens[-1] if n else None
    for period in range(1, min(LOOP_MAX_PERIOD, n // 2) + 1):
        if tokens[n - 1 - period] != last:  # cheap filter: most periods fail here
            continue
        span = period * loop_repeats(period)
        if span <= n and list(tokens[n - span :]) == list(tokens[n - period :]) * (span // period):
            return True
    return False


class Utf8Stream:
    """Bytes of token pieces in, whole characters out.

    Gemma's byte-fallback tokens split a character such as "é" or an emoji over several
    tokens; a piece that ends mid-character is held back until the rest arrives, so every
    streamed piece is valid text and the pieces concatenate to the full answer.
    """

    def __init__(self) -> None:
        self._dec = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._dec.decode(data)

    def flush(self) -> str:
        """What is left at the end (an incomplete character becomes U+FFFD)."""
        return self._dec.decode(b"", final=True)


def sample_token(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Greedy argmax, or a draw from softmax(logits / temperature)."""
    if temperature <= 0.0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    z -= z.max()
    p = np.exp(z)
    p /= p.sum()
    return int(rng.choice(len(p), p=p))
