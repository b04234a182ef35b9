"""The process-wide llama.cpp backend: initialised once, its log kept for error messages. No Qt.

llama.cpp logs every tensor at load time on stderr; the callback installed here keeps only the
recent warnings and errors instead, because the reason a model or adapter fails to load is only in
that log (guide section 1): :func:`recent_log` puts it into the error the user sees. Used by
:class:`stethodesk.model.llm.LlamaSession`.
"""

from __future__ import annotations

import collections
import ctypes
import os
import threading

LOG_KEEP = 40  # llama.cpp log lines kept to explain a failure
GGML_LOG_LEVEL_WARN = 3  # ggml_log_level: 0 none, 1 debug, 2 info, 3 warn, 4 error, 5 cont

# llama.cpp logs every tensor at load time on stderr; keep the recent lines instead
# (the reason an adapter fails to load is only in this log, guide section 1).
_LOG_LINES: collections.deque[str] = collections.deque(maxlen=LOG_KEEP)
_log_callback = None  # keeps the ctypes callback alive for the process lifetime
_backend_ready = False
_init_lock = threading.Lock()


def default_threads(busy_threads: int = 1) -> int:
    """llama.cpp threads leaving ``busy_threads`` cores to everything else.

    On 2 cores, 2 llama.cpp threads collapsed to 0.5 tok/s when one core was busy,
    1 thread ran 107 tok/s (guide section 1): never take every core.
    """
    n = os.cpu_count() or 1
    return max(1, n - busy_threads)


def ensure_backend() -> None:
    """Initialise llama.cpp once per process and route its log into :func:`recent_log`."""
    global _backend_ready, _log_callback
    with _init_lock:
        if _backend_ready:
            return
        import llama_cpp as L

        @L.llama_log_callback
        def _log(level, text, _user):  # noqa: ANN001 - ctypes signature
            if text and level >= GGML_LOG_LEVEL_WARN:
                _LOG_LINES.append(text.decode("utf-8", "replace").rstrip())

        _log_callback = _log
        L.llama_log_set(_log_callback, ctypes.c_void_p(0))
        L.llama_backend_init()
        _backend_ready = True


def recent_log() -> str:
    """The last warnings/errors llama.cpp logged (for error messages)."""
    return " | ".join(line for line in _LOG_LINES if line)

