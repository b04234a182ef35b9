"""Peak resident memory of the app's reader on long high-rate files (issue 11 item 8).

Writes a file of MINUTES at RATE Hz with CHANNELS channels (16-bit WAV, a 150 Hz tone, block by
block so the writer holds little), then reads it with ``read_audio`` in a fresh process and prints
that process's peak RSS and the time taken. The aim is under ~1.5 GB for any file the reader
accepts (the reader alone once took ~6 GB for 29.5 min at 384 kHz).

    python benchmarks/reader_memory.py                       # 29.5 min, 384 kHz, mono
    python benchmarks/reader_memory.py --rate 192000 --channels 8 --minutes 10
    python benchmarks/reader_memory.py --analyze             # also `stethodesk analyze` on it

With ``--analyze`` the whole ``stethodesk analyze FILE`` (reader, encoder, quality, an 8-token
answer) runs in a fresh process too and its peak RSS is printed: the analysis resamples in blocks
straight to the rates it uses (``filters.resample_blocks``), not the whole file at 48 kHz.

The file is written to a temporary folder and deleted afterwards (29.5 min at 384 kHz is 1.4 GB).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

READ = """
import resource, sys, time
t0 = time.perf_counter()
from stethodesk.audio.fileio import read_audio
x, sr = read_audio(sys.argv[1])
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{x.size / sr / 60:.2f} min at {sr} Hz out, peak RSS {peak:.0f} MB, {dt:.1f} s")
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=29.5)
    ap.add_argument("--rate", type=int, default=384_000)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--analyze", action="store_true", help="also run `stethodesk analyze` on the file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.wav"
        t = np.arange(args.rate) / args.rate
        second = np.round(9000 * np.sin(2 * np.pi * 150 * t)).astype(np.int16)
        block = np.repeat(second[:, None], args.channels, axis=1)
        t0 = time.perf_counter()
        with sf.SoundFile(path, "w", samplerate=args.rate, channels=args.channels, subtype="PCM_16") as f:
            for _ in range(round(args.minutes * 60)):
                f.write(block)
        size = path.stat().st_size / 1e9
        print(f"wrote {args.minutes} min, {args.rate} Hz, {args.channels} ch: {size:.2f} GB in "
              f"{time.perf_counter() - t0:.1f} s")
        out = subprocess.run([sys.executable, "-c", READ, str(path)], capture_output=True, text=True)
        print(out.stdout.strip() or out.stderr.strip())
        if out.returncode or not args.analyze:
            return out.returncode
        t0 = time.perf_counter()
        ana = subprocess.run([sys.executable, "-m", "stethodesk", "analyze", str(path), "--format", "jsonl",
                              "--max-tokens", "8"], capture_output=True, text=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child: analyze
        print(f"stethodesk analyze: exit {ana.returncode}, peak RSS {peak:.0f} MB, "
              f"{time.perf_counter() - t0:.1f} s")
        return ana.returncode


if __name__ == "__main__":
    sys.exit(main())
