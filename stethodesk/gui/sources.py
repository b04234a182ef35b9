"""What the source picker offers and how a choice becomes a running Source.

A *choice* is a small JSON-able dict so it can be remembered in the settings:

- ``{"kind": "device", "name": str, "samplerate": int, "channel": int | None}``
  (matched by name at the next start: device indices change between runs);
- ``{"kind": "synth", "name": str}`` (a sound of ``stethodesk.audio.synth.SOUNDS``);
- ``{"kind": "file", "path": str}`` (a file streamed as a simulated stethoscope).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SYNTH = "normal_heart"  # first choice for a student without a stethoscope


@dataclass
class Offer:
    """One entry of the source picker."""

    text: str
    choice: dict
    device: object | None = None  # DeviceInfo for devices
    domain: str | None = None  # known domain (synth sounds)
    tooltip: str = ""


def device_offers() -> tuple[list[Offer], str | None]:
    """Input devices as offers, and an error message if they could not be listed."""
    try:
        from stethodesk.audio.devices import list_input_devices

        devices = list_input_devices()
    except Exception as exc:  # no PortAudio library, broken audio server...
        return [], f"Audio inputs could not be listed: {exc}"
    offers = []
    for d in devices:
        rate = int(d.default_samplerate)
        offers.append(
            Offer(
                text=f"{d.name}  ({rate / 1000:g} kHz, {d.max_input_channels} ch)",
                choice={"kind": "device", "name": d.name, "samplerate": rate, "channel": None},
                device=d,
                tooltip=f"Input device {d.index} via {d.hostapi}",
            )
        )
    return offers, None


def synth_offers() -> list[Offer]:
    """The simulated stethoscope's sounds (empty if the synthesizer is unavailable)."""
    try:
        from stethodesk.audio.synth import SOUNDS
    except ImportError:
        return []
    offers = []
    for name, spec in SOUNDS.items():
        offers.append(
            Offer(
                text=f"Simulated: {spec.title}",
                choice={"kind": "synth", "name": name},
                domain=spec.domain,
                tooltip=spec.description,
            )
        )
    return offers


def default_synth_name() -> str | None:
    try:
        from stethodesk.audio.synth import SOUNDS
    except ImportError:
        return None
    if DEFAULT_SYNTH in SOUNDS:
        return DEFAULT_SYNTH
    heart = [n for n, s in SOUNDS.items() if s.domain == "heart"]
    return heart[0] if heart else next(iter(SOUNDS), None)


def open_source(choice: dict):
    """Create and start the source for ``choice``. Raises with a user-facing message on failure."""
    from stethodesk.audio import capture

    kind = choice.get("kind")
    if kind == "device":
        from stethodesk.audio.devices import list_input_devices

        names = {d.name: d for d in list_input_devices()}
        if choice.get("name") not in names:
            raise RuntimeError(f"The input \u201c{choice.get('name')}\u201d is not connected.")
        dev = names[choice["name"]]
        src = capture.DeviceSource(dev.index, samplerate=choice.get("samplerate"), channel=choice.get("channel"))
    elif kind == "synth":
        src = capture.SimulatedSource.from_synth(choice["name"])
    elif kind == "file":
        src = capture.SimulatedSource.from_file(choice["path"])
    else:
        raise ValueError(f"unknown source kind {kind!r}")
    src.start()
    return src
