"""``stethodesk devices``: list audio inputs (a stethoscope is any input) with their rates."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "devices",
        help="list audio input devices and the sample rates they accept",
        description=(
            "List every audio input (USB or jack stethoscope, microphone, virtual device) with its "
            "index, channels and the sample rates between 4 and 48 kHz it accepts. Use the index or "
            "name with 'stethodesk record --device'."
        ),
    )
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.add_argument("--no-probe", action="store_true", help="skip probing rates (faster)")
    return p


def run(args) -> int:
    from stethodesk.audio.devices import list_input_devices, portaudio_problem

    problem = portaudio_problem()
    if problem:
        print(problem)
        return 1
    devices = list_input_devices(probe=not args.no_probe)
    if args.json:
        print(json.dumps([d.__dict__ for d in devices], indent=2))
        return 0 if devices else 1
    if not devices:
        print(
            "No audio input device found. Plug in a stethoscope or microphone (or check that the "
            "sound system is running), or use the simulated stethoscope in the app."
        )
        return 1
    print(f"{len(devices)} input device(s):")
    for d in devices:
        print("  " + d.describe())
    return 0
