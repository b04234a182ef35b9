"""Input devices (any stethoscope, USB or jack, is just an audio input). No Qt here.

PortAudio is a system library on Linux (Debian ``libportaudio2``); when it is
missing, or there is no sound hardware at all, :func:`list_input_devices`
returns an empty list and :func:`portaudio_problem` says why, so the app opens
and tells the user instead of crashing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Rates a stethoscope or sound card may offer, 4-48 kHz (Hz). Each is probed per device.
CANDIDATE_RATES = (4000, 8000, 11025, 16000, 22050, 32000, 44100, 48000)


@dataclass(frozen=True)
class DeviceInfo:
    """One capture device as PortAudio reports it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    default_samplerate: int
    supported_rates: tuple[int, ...] = field(default_factory=tuple)
    is_default: bool = False

    def describe(self) -> str:
        rates = ", ".join(f"{r / 1000:g}" for r in self.supported_rates) or "none probed"
        mark = " (default)" if self.is_default else ""
        return (
            f"[{self.index}] {self.name}{mark} - {self.hostapi}, {self.max_input_channels} ch, "
            f"default {self.default_samplerate} Hz, rates kHz: {rates}"
        )


def _sd():
    """Import sounddevice lazily; it raises OSError when PortAudio is absent."""
    import sounddevice as sd

    return sd


def portaudio_problem() -> str | None:
    """A user-facing sentence when audio input cannot work at all, else None."""
    try:
        sd = _sd()
        sd.query_devices()
    except OSError as exc:
        return (
            "The audio system library PortAudio is missing, so no microphone or stethoscope "
            f"can be used ({exc}). On Debian/Ubuntu install it with: sudo apt install libportaudio2"
        )
    except Exception as exc:  # PortAudioError: e.g. no backend at all
        return f"The audio system is not available: {exc}"
    return None


def probe_rates(device: int, channels: int = 1, rates: tuple[int, ...] = CANDIDATE_RATES) -> tuple[int, ...]:
    """Rates among ``rates`` that ``device`` accepts for input (``sd.check_input_settings``)."""
    sd = _sd()
    ok = []
    for r in rates:
        try:
            sd.check_input_settings(device=device, channels=channels, samplerate=r, dtype="float32")
        except Exception:  # PortAudioError / ValueError: rate not supported
            continue
        ok.append(int(r))
    return tuple(ok)


def list_input_devices(probe: bool = True) -> list[DeviceInfo]:
    """Every device with at least one input channel; empty when there is none or no PortAudio.

    Parameters
    ----------
    probe : bool
        Check each candidate rate with PortAudio (a few ms per device and rate).
    """
    try:
        sd = _sd()
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default_in = sd.default.device[0]
    except Exception:
        return []
    out = []
    for idx, d in enumerate(devices):
        ch = int(d.get("max_input_channels", 0))
        if ch <= 0:
            continue
        api = hostapis[d["hostapi"]]["name"] if 0 <= d["hostapi"] < len(hostapis) else "?"
        rates = probe_rates(idx) if probe else ()
        out.append(
            DeviceInfo(
                index=idx,
                name=str(d["name"]),
                hostapi=str(api),
                max_input_channels=ch,
                default_samplerate=int(round(d["default_samplerate"])),
                supported_rates=rates,
                is_default=(idx == default_in),
            )
        )
    return out


def find_device(spec: int | str | None) -> DeviceInfo | None:
    """The input device matching an index, an exact name or a unique name substring.

    ``None`` picks the system default input. Returns None when nothing matches.
    """
    devices = list_input_devices(probe=False)
    if not devices:
        return None
    if spec is None:
        for d in devices:
            if d.is_default:
                return d
        return devices[0]
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        i = int(spec)
        return next((d for d in devices if d.index == i), None)
    exact = [d for d in devices if d.name == spec]
    if exact:
        return exact[0]
    low = spec.lower()
    subs = [d for d in devices if low in d.name.lower()]
    return subs[0] if len(subs) >= 1 else None
