"""``stethodesk record``: record a chest site headless, straight to a FLAC with metadata."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from stethodesk.audio.dsp import FILTER_MODES
from stethodesk.audio.fileio import display_path
from stethodesk.stop_signals import STOP_SIGNALS, release

SITES_HELP = "heart: AV, PV, TV, MV (aortic, pulmonary, tricuspid, mitral); lung: e.g. RUL, LLL, posterior-left"
POLL_S = 0.05  # s between checks of the source and the recorder
EXIT_DEVICE_LOST = 3
EXIT_DISK = 4
EXIT_NO_DEVICE = 2

# Keys in the settings file remembered between runs (shared with the GUI).
SETTING_DEVICE = "input_device"
SETTING_RATE = "input_rate"
SETTING_CHANNEL = "input_channel"

# Signals that end a recording the way Ctrl-C does: the audio so far is kept and the sidecar
# completed with how it ended. SIGHUP is the terminal being closed (default action: die at once,
# leaving "complete": false); Windows has no SIGHUP.
STOP_REASONS = {  # one for each of STOP_SIGNALS
    "SIGINT": "stopped with Ctrl-C (SIGINT)",
    "SIGTERM": "stopped by a termination request (SIGTERM)",
    "SIGHUP": "stopped because its terminal was closed (SIGHUP)",
}
# One of them stops; a second while the file is being closed and reported is noted, not obeyed (a
# closed terminal often sends SIGHUP then SIGTERM); after it the default action is back, so a
# third ends the process at once (the FLAC written so far is recovered at the next start).
FORCE_AFTER = 2
# stethodesk.cli.entry holds STOP_SIGNALS; this command releases them once its threads run, so
# that they reach the main thread alone (stethodesk.stop_signals).
RELEASES_STOP_SIGNALS = True


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "record",
        help="record from a stethoscope or other input to a FLAC file (no window)",
        description=(
            "Record N seconds from an audio input at a named chest site and save it as 16-bit FLAC "
            "with a JSON sidecar (<name>.json: site, domain, device, rate, start time, filter, notes). "
            "The file is written while recording, so it survives a crash; if the device is unplugged "
            "the audio up to that moment is saved and the command exits with status 3 (disk full: 4, "
            "no usable device: 2). Ctrl-C, SIGTERM or closing the terminal (SIGHUP) stops early: the audio "
            "so far is kept, the sidecar says how it ended (\"ended\") and the status is 130; a second such "
            "signal while it is saving does not stop the saving, a third ends at once (the file is then "
            "recovered at the next start). "
            "Device, rate and channel are remembered for the next run."
        ),
        epilog=f"Sites: {SITES_HELP}. Example: stethodesk record --seconds 15 --site MV --domain heart mv.flac",
    )
    p.add_argument("out", metavar="OUT", help="output .flac file, or a folder ending in / (a name is made up)")
    p.add_argument("--seconds", type=float, required=True, help="how long to record, in seconds")
    p.add_argument("--site", required=True, help="chest site, e.g. MV or RUL")
    p.add_argument("--domain", required=True, choices=("heart", "lung"), help="heart or lung sounds")
    p.add_argument("--device", help="input device index or (part of its) name; see 'stethodesk devices'")
    p.add_argument("--rate", type=int, help="sample rate in Hz (default: the device's own rate)")
    p.add_argument("--channel", type=int, help="input channel to record, 0-based (default: mix all down)")
    p.add_argument(
        "--filter",
        choices=FILTER_MODES,
        default="wide",
        help="stethoscope mode noted in the metadata (the file keeps the unfiltered sound)",
    )
    p.add_argument("--notes", default="", help="free-text notes stored with the recording")
    p.add_argument(
        "--simulate",
        metavar="SOUND_OR_FILE",
        help="record from the simulated stethoscope: a synthesizer sound name or an audio file",
    )
    return p


def _out_path(raw: str, site: str) -> Path:
    out = Path(raw)
    if out.is_dir() or raw.endswith(("/", "\\")):
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return out / f"{stamp}_{site}.flac"
    return out if out.suffix.lower() == ".flac" else out.with_suffix(".flac")


def _make_source(args, settings: dict):
    from stethodesk.audio.capture import DeviceSource, SimulatedSource

    if args.simulate:
        if Path(args.simulate).exists():
            return SimulatedSource.from_file(args.simulate, loop=True)
        return SimulatedSource.from_synth(args.simulate, loop=True)
    device = args.device if args.device is not None else settings.get(SETTING_DEVICE)
    rate = args.rate if args.rate is not None else settings.get(SETTING_RATE)
    channel = args.channel if args.channel is not None else settings.get(SETTING_CHANNEL)
    if isinstance(device, str) and device.isdigit():
        device = int(device)
    return DeviceSource(device, samplerate=rate, channel=channel)


class _Limiter:
    """Listener that passes exactly ``limit`` samples on to the recorder, then nothing."""

    def __init__(self, feed, limit: int):
        self.feed = feed
        self.limit = limit
        self.count = 0
        self.done = threading.Event()

    def __call__(self, block) -> None:
        room = self.limit - self.count
        if room <= 0:
            return
        if block.shape[0] > room:
            block = block[:room]
        self.count += block.shape[0]
        self.feed(block)
        if self.count >= self.limit:
            self.done.set()


class _StopSignals:
    """The handlers of :data:`STOP_SIGNALS` for one recording, held until its report is printed.

    :attr:`received` lists the signal numbers in the order they arrived; :meth:`asked` is true
    once one came. The :data:`FORCE_AFTER`-th puts the default actions back (nothing is printed
    from the handler: a print there can interrupt a print of the main thread), so one more signal
    kills at once, even with the main thread stuck in C. ``restore()`` puts the handlers found at
    ``install()`` back, and the streams too (:meth:`tolerate_closed_terminal`), unless a signal
    came: then the process is ending for it, and a signal during the interpreter's exit
    (PortAudio's exit handler can take a while) must not kill it with the default action nor a
    write to a closed terminal fail at the last flush.

    Python runs a handler between bytecodes, so a second signal can run :meth:`_on_signal` again
    inside the first. The handler therefore takes no lock (a ``threading.Event.set()`` there
    deadlocked on its own condition when SIGHUP and SIGTERM came together: the process hung after
    the recording stopped) and only appends to a list. The arrival order is read from the
    interpreter's wakeup socket (``signal.set_wakeup_fd``), which its C-level handler writes before
    any Python handler runs, so a nested handler cannot reorder it.
    """

    def __init__(self):
        self._seen: list[int] = []  # appended by the handler (list.append is one C call)
        self._order: list[int] = []  # from the wakeup socket: arrival order
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._old_wakeup = -1
        self._old: dict = {}
        self._streams = (sys.stdout, sys.stderr)

    def install(self) -> None:
        """Install the handlers and the wakeup socket (a socket pair: Windows takes no pipe
        there). Main thread only (``ValueError`` otherwise). Without a wakeup socket the order
        is the handlers' own (nested handlers may then note the later signal first)."""
        r = w = None
        try:
            r, w = socket.socketpair()
            r.setblocking(False)
            w.setblocking(False)
            self._old_wakeup = signal.set_wakeup_fd(w.fileno(), warn_on_full_buffer=False)
            self._wakeup = (r, w)
        except (OSError, ValueError):
            for sock in (r, w):
                if sock is not None:
                    sock.close()
            self._wakeup = None
        self._old = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}

    def _on_signal(self, signum, frame) -> None:
        self._seen.append(signum)
        if len(self._seen) >= FORCE_AFTER:
            for s in STOP_SIGNALS:
                signal.signal(s, signal.SIG_DFL)

    @property
    def received(self) -> list[int]:
        """The stop signals so far, first to arrive first."""
        if self._wakeup is not None:
            try:
                while chunk := self._wakeup[0].recv(64):
                    self._order.extend(b for b in chunk if b in STOP_SIGNALS)
            except BlockingIOError:
                pass
        extra = list(self._seen)  # a handler that ran without a byte in the socket (not expected)
        for s in self._order:
            if s in extra:
                extra.remove(s)
        return self._order + extra

    def asked(self) -> bool:
        """Whether a stop signal has come."""
        return bool(self._seen or self.received)

    def tolerate_closed_terminal(self) -> None:
        """Writes to a terminal closed now or later (SIGHUP: EIO) must not turn a saved recording into a
        traceback."""
        sys.stdout, sys.stderr = _Tolerant(self._streams[0]), _Tolerant(self._streams[1])

    def restore(self) -> None:
        if self.received:
            return
        for s, h in self._old.items():
            signal.signal(s, h)
        self._old = {}
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._old_wakeup)
            for sock in self._wakeup:
                sock.close()
            self._wakeup = None
        sys.stdout, sys.stderr = self._streams


_last: list[_StopSignals] = []  # the handlers of the latest run, for stopped_by_signal()


def stopped_by_signal() -> bool:
    """Whether the latest :func:`run` in this process was stopped by a signal. The process should
    then leave with ``os._exit`` once its output is flushed (stethodesk.cli.entry): the
    interpreter's exit puts the default actions back before it ends, and a second signal in that
    window (SIGTERM after SIGHUP) killed it after the recording was saved and reported (-15)."""
    return bool(_last and _last[-1].received)


def run(args) -> int:
    stops = _StopSignals()
    _last[:] = [stops]
    try:
        return _record(args, stops)
    finally:
        release()  # a signal held until now meets the handlers (or, before install(), the default)
        stops.restore()


def _record(args, stops: _StopSignals) -> int:
    from stethodesk.audio.capture import CaptureError
    from stethodesk.audio.recorder import Recorder
    from stethodesk.paths import load_settings, save_settings

    if args.seconds <= 0:
        print("--seconds must be positive", file=sys.stderr)
        return 1
    settings = load_settings()
    try:
        source = _make_source(args, settings)
    except (CaptureError, ValueError, KeyError) as exc:
        print(f"Cannot record: {exc}", file=sys.stderr)
        return EXIT_NO_DEVICE
    out = _out_path(args.out, args.site)
    # "Recovered at next start": finish recordings a crash left behind in the same folder.
    from stethodesk.audio.recorder import recover_incomplete

    for fixed in recover_incomplete(out.parent, recursive=False):
        print(f"Recovered an interrupted recording: {fixed}")
    meta = {
        "site": args.site,
        "domain": args.domain,
        "device": source.label,
        "filter": args.filter,
        "notes": args.notes,
        "channel": getattr(source, "channel", None),
    }
    recorder = Recorder(out, source.samplerate, meta)
    try:
        recorder.start()
    except OSError as exc:
        print(f"Cannot record: {exc}", file=sys.stderr)
        return 1
    limiter = _Limiter(recorder.feed, int(round(args.seconds * source.samplerate)))
    source.add_listener(limiter)

    stops.install()
    try:
        source.start()
    except CaptureError as exc:
        recorder.stop()
        for f in (recorder.path, recorder.metadata_path):
            f.unlink(missing_ok=True)  # nothing was recorded: leave no empty file behind
        print(f"Cannot record: {exc}", file=sys.stderr)
        return EXIT_NO_DEVICE
    release()  # every thread of the recording has started with the stop signals blocked
    if getattr(source, "note", ""):  # --simulate FILE with damaged frames: they are not in the recording
        print(f"Note: {source.note}", file=sys.stderr)
    print(
        f"Recording {args.seconds:g} s from {display_path(source.label)} at {source.samplerate} Hz "
        f"({args.site}, {args.domain}) to {display_path(recorder.path)} ...",
        flush=True,
    )
    try:
        while not (limiter.done.is_set() or stops.asked()):
            if source.error or recorder.error or not source.running:
                break
            time.sleep(POLL_S)
    finally:
        source.stop()
        recorder.metadata["overflows"] = source.overflows
        if source.error:
            recorder.metadata["device_error"] = source.error
        recorder.metadata["ended"] = _how_it_ended(stops.received, source, limiter)  # Ctrl-C / kill / closed terminal: save what we have
        result = recorder.stop()  # a second signal meanwhile is only noted
    stops.tolerate_closed_terminal()

    if not args.simulate:
        remembered = {SETTING_DEVICE: source.label, SETTING_RATE: source.samplerate, SETTING_CHANNEL: args.channel}
        try:
            save_settings(remembered)
        except OSError:
            pass
    if result.frames == 0 and (source.error or result.error):
        # Nothing was captured: an empty file would only clutter the recordings.
        for f in (result.path, result.metadata_path):
            f.unlink(missing_ok=True)
        print(f"Nothing was recorded. {source.error or result.error}", file=sys.stderr)
        return EXIT_DEVICE_LOST if source.error else EXIT_DISK
    print(f"Saved {result.seconds:.2f} s ({result.frames} samples) to {display_path(result.path)}")
    print(f"Metadata ({display_path(result.metadata_path)}):")
    print(json.dumps(result.metadata, indent=2, sort_keys=True))
    if source.overflows:
        print(f"Warning: {source.overflows} input overflow(s): some audio was dropped by the device.", file=sys.stderr)
    if source.error:
        print(f"{source.error} The recording up to that moment was saved.", file=sys.stderr)
        return EXIT_DEVICE_LOST
    if result.error:
        print(result.error, file=sys.stderr)
        return EXIT_DISK
    if stops.asked():
        print(f"Stopped early ({result.metadata['ended']}); the recording so far was saved.", file=sys.stderr)
        return 130
    return 0


def _how_it_ended(stopped_by: list[int], source, limiter: _Limiter) -> str:
    """The sidecar's ``ended``: one phrase saying why the recording stopped."""
    if stopped_by:
        return STOP_REASONS.get(signal.Signals(stopped_by[0]).name, signal.Signals(stopped_by[0]).name)
    if source.error:
        return "the input device was lost"
    if limiter.done.is_set():
        return "the requested length was recorded"
    return "the recording could not be written"


class _Tolerant:
    """A text stream whose writes and flushes ignore OSError (a closed terminal after SIGHUP)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError:
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)
