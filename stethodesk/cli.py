"""``stethodesk`` command line: no arguments opens the GUI; subcommands work headless.

Each subcommand lives in its own module (``stethodesk/commands/<name>.py``) exposing
``add_parser(subparsers)`` and ``run(args) -> int``; this file only wires them so that
``stethodesk devices`` never imports Qt or torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from stethodesk import stop_signals

# name -> module; modules are imported lazily so a headless command stays light.
COMMANDS = {
    "devices": "stethodesk.commands.devices",
    "record": "stethodesk.commands.record",
    "analyze": "stethodesk.commands.analyze",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stethodesk",
        description=(
            "StethoDesk: live auscultation, recording and an on-device audio-language model. "
            "Run without a subcommand to open the window. Answers are decision support, not a diagnosis."
        ),
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in COMMANDS.items():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:
                continue  # command not built yet
            raise
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    mod = importlib.import_module(COMMANDS[args.command]) if args.command else None
    if not getattr(mod, "RELEASES_STOP_SIGNALS", False):
        stop_signals.release()  # held by entry(); a command that sets this releases them itself
    if args.version:
        from stethodesk import __version__

        print(f"stethodesk {__version__}")
        return 0
    if not args.command:
        from stethodesk.gui.app import run_gui  # Qt only from here on

        return run_gui()
    return int(mod.run(args) or 0)


def entry(argv: list[str] | None = None) -> None:
    """The process's way in and out (console script, ``python -m stethodesk``, frozen build):
    :func:`main`, then exit with its code.

    When an input device vanished under an open stream, PortAudio's exit handler would wait
    forever after everything was saved and said (issue 11 item 6), so the process then leaves
    with ``os._exit`` once its output is flushed. :func:`main` itself never does that, so it
    can run inside another process (tests). Nor when ``record`` was stopped by a signal: the
    interpreter's exit puts the default signal actions back, so the second signal a closed
    terminal often sends (SIGHUP, then SIGTERM) would kill it after the audio was saved and
    reported, with no defined exit code.
    """
    stop_signals.hold()  # before any import starts a thread: see stethodesk.stop_signals
    code = main(argv)
    capture = sys.modules.get("stethodesk.audio.capture")
    record = sys.modules.get("stethodesk.commands.record")
    if (capture is not None and capture.portaudio_stuck()) or (record is not None and record.stopped_by_signal()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
