"""Peak resident memory of ``stethodesk analyze FILE --format jsonl`` on long files (issue 11 item 8).

Writes a WAV of MINUTES at RATE Hz with CHANNELS channels (16-bit PCM), block by block so the writer
holds little: band-limited noise (30-300 Hz, a heart-sound band) in short bursts twice a second, a
periodic beat the quality check accepts as a body sound, so the analysis runs every stage (unlike a
pure tone, which the quality check stops early as "no body sound"). Each channel is the same beat
with its own noise. Then ``stethodesk analyze`` runs in a fresh process under ``/usr/bin/time -v``
and its peak RSS ("Maximum resident set size"), wall time and the findings' line are printed.

    python benchmarks/analyze_memory.py                                   # 29.5 min, 48 kHz, stereo
    python benchmarks/analyze_memory.py --rate 192000 --channels 8 --minutes 29
    python benchmarks/analyze_memory.py --rate 384000 --channels 1 --minutes 29
    python benchmarks/analyze_memory.py --signal noise                    # no beats
    python benchmarks/analyze_memory.py --signal gaps                     # dropouts and digital silence
    python benchmarks/analyze_memory.py --keep /tmp/long48k2.wav          # write once, reuse later

The aim is under ~1.5 GB for any input the reader accepts (a maintainer measured ~2.4 GB for
29.5 min of 48 kHz stereo). What stays is the loaded models (~0.65 GB) and the reader's mono
output at up to 48 kHz (~0.34 GB for 30 min); the quality check's whole-recording steps run in
blocks (``filters.LONG_BLOCK``). No figure is asserted here: it prints what it measured. Run it
from the checkout to measure (``python -m stethodesk`` takes the package in the current folder).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal


def write_beats(path: Path, minutes: float, rate: int, channels: int, seed: int = 0, kind: str = "beats") -> None:
    """A ``minutes``-long WAV of heart-like beats (72 bpm, S1 and S2 bursts of band-passed noise).
    ``kind``: "beats"; "noise", the band-passed noise alone; "gaps", the beats with a wireless
    link's faults: 0.1 s of exact zeros every 10 s (dropouts, cut and cross-faded), and every 5 min
    2 s of zeros and 2 s held at 0.01 (digital silence, left out), so the analysis makes its cut copies."""
    rng = np.random.default_rng(seed)
    sos = signal.butter(2, [30.0, 300.0], btype="bandpass", fs=rate, output="sos")
    zi = [np.zeros((sos.shape[0], 2)) for _ in range(channels)]
    beat_s = 60.0 / 72.0
    n_total = int(minutes * 60 * rate)
    block = rate * 5
    # a RIFF WAV's sizes are 32-bit: past 4 GB (8 channels at 192 kHz for 29 min is 5.3 GB) RF64,
    # or its header states a fraction of the length (23.3 min was read of such a file)
    fmt = "RF64" if n_total * channels * 2 > 0xFFFFFFFF - 64 else "WAV"
    with sf.SoundFile(path, "w", samplerate=rate, channels=channels, subtype="PCM_16", format=fmt) as f:
        for start in range(0, n_total, block):
            n = min(block, n_total - start)
            t = (start + np.arange(n)) / rate
            phase = np.mod(t, beat_s)
            gate = ((phase < 0.10) * 1.0 + ((phase > 0.32) & (phase < 0.40)) * 0.6) if kind != "noise" else 0.3
            out = np.empty((n, channels), np.float32)
            for c in range(channels):
                noise, zi[c] = signal.sosfilt(sos, rng.standard_normal(n), zi=zi[c])
                out[:, c] = (0.5 * noise * gate + 0.005 * rng.standard_normal(n)).astype(np.float32)
            if kind == "gaps":
                out[np.mod(t, 10.0) >= 9.9] = 0.0
                out[np.mod(t, 300.0) >= 298.0] = 0.0
                out[(np.mod(t, 300.0) >= 148.0) & (np.mod(t, 300.0) < 150.0)] = 0.01  # held: a muted input
            f.write(out)


def measure(path: Path) -> dict:
    """Run ``stethodesk analyze`` on ``path`` under /usr/bin/time -v: peak RSS (MB), seconds, findings."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "stethodesk", "analyze", str(path),
           "--format", "jsonl", "--max-tokens", "8"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("{")), "")
    obj = json.loads(line) if line else {}
    return {"exit": out.returncode, "peak_mb": int(m.group(1)) / 1024 if m else float("nan"), "seconds": wall,
            "result": obj, "stderr": out.stderr if out.returncode else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=29.5)
    ap.add_argument("--rate", type=int, default=48_000)
    ap.add_argument("--channels", type=int, default=2)
    ap.add_argument("--signal", choices=("beats", "noise", "gaps"), default="beats")
    ap.add_argument("--keep", type=Path, help="write the file here (reused when it exists) instead of a temp folder")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "long.wav"
        if not path.exists():
            t0 = time.perf_counter()
            write_beats(path, args.minutes, args.rate, args.channels, kind=args.signal)
            print(f"wrote {path.stat().st_size / 1e9:.2f} GB in {time.perf_counter() - t0:.0f} s")
        info = sf.info(os.fsencode(path).decode())
        print(f"{info.duration / 60:.1f} min, {info.samplerate} Hz, {info.channels} ch")
        r = measure(path)
        a = r["result"]
        q = a.get("signal_quality") or {}
        print(f"stethodesk analyze: exit {r['exit']}, peak RSS {r['peak_mb']:.0f} MB, {r['seconds']:.0f} s")
        print(f"  quality {q.get('level')} ({q.get('reason')}), heart rate {a.get('heart_rate_bpm')}, "
              f"usable {a.get('usable')}, findings {json.dumps(a.get('findings'), sort_keys=True)}")
        if r["stderr"]:
            print(r["stderr"][-2000:])
        return r["exit"]


if __name__ == "__main__":
    sys.exit(main())
