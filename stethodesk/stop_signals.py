"""The signals that stop a recording early, and keeping their delivery to the main thread.

A signal sent to a process lands in any thread that does not block it. ``stethodesk record`` runs
helper threads (BLAS at numpy's import, PortAudio, PulseAudio, the FLAC writer), so a closing
terminal's SIGHUP and the SIGTERM right after it could be taken by two threads and reach the
handlers in either order. :func:`hold` blocks them in the calling thread; every thread started
after it inherits the block. The command :func:`release`-s them in the main thread alone once its
threads run, so the kernel then delivers them there, lowest number first when they are pending
together. No-ops where ``signal.pthread_sigmask`` does not exist (Windows).
"""

from __future__ import annotations

import signal

NAMES = ("SIGINT", "SIGTERM", "SIGHUP")  # Windows has no SIGHUP
STOP_SIGNALS = tuple(getattr(signal, name) for name in NAMES if hasattr(signal, name))


def hold() -> None:
    """Block :data:`STOP_SIGNALS` in the calling thread (and the threads it starts from now on)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def release() -> None:
    """Unblock :data:`STOP_SIGNALS` in the calling thread; pending ones are delivered now."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
