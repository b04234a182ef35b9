"""Live-view benchmark: 48 kHz input through the PulseAudio virtual microphone, window open offscreen.

What it does
------------
1. Starts a private PulseAudio server (its own ``XDG_RUNTIME_DIR``) with a pipe source
   ``stethbench`` at 48 kHz mono, as in the guide, and points the ALSA ``pulse`` device at it.
2. A separate writer *process* feeds the fifo in real time with the synthesizer's normal
   heart (peaks <= 0.25) plus a full-scale 2 ms marker click every 2 s, so its CPU is not
   counted as the app's.
3. Opens the real ``MainWindow`` offscreen, listens to the ``pulse`` input through the
   real ``DeviceSource``, filter "wide", and runs for ``--seconds`` (default 60).

Printed figures
---------------
- frames per second: paint events of the phonocardiogram's viewport / wall time;
- overflows: the source's input overflows and samples the display lost in the ring;
- CPU: this process's user+system time / wall time, in % of one core (the app only:
  capture callback, GUI thread, pipeline, drawing; not the writer nor the audio server);
- delay: from the audio callback delivering a marker click (a listener stamps it) to the
  first paint after the tick whose drawn curve contains it (median, 95th percentile, max).

Run::

    .venv/bin/python benchmarks/live.py            # 60 s
    .venv/bin/python benchmarks/live.py --seconds 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

RATE = 48000  # Hz, the virtual microphone's rate
MARKER_PERIOD_S = 2.0  # one marker click every 2 s
MARKER_LEN = 96  # samples: 2 ms at 48 kHz
MARKER_LEVEL = 0.95  # full scale-ish; the heart sound stays below HEART_PEAK
HEART_PEAK = 0.25
ARRIVAL_THRESHOLD = 0.9  # raw level that marks a click in a captured block
DRAWN_THRESHOLD = 0.5  # level of the click in the drawn (filtered, decimated) curve
SOURCE_NAME = "stethbench"
# Run as a script, Python puts benchmarks/ first on sys.path, where a sibling module
# (benchmarks/packaging.py) would shadow the installed `packaging`: use the repo root instead.
_HERE = Path(__file__).resolve().parent
REPO = _HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(REPO))

WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from stethodesk.audio import synth
    fifo, seconds, rate, period, mlen, mlevel, peak = sys.argv[1:8]
    seconds, rate, period, mlen = float(seconds), int(rate), float(period), int(mlen)
    heart = synth.render("normal_heart", seconds=min(seconds, 20.0), samplerate=rate).samples
    heart = heart / max(1e-9, float(np.abs(heart).max())) * float(peak)
    n = int(seconds * rate)
    x = np.resize(heart, n).astype(np.float32)
    step = int(period * rate)
    for start in range(step // 2, n - mlen, step):
        x[start:start + mlen] = float(mlevel)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    chunk = rate // 100 * 2  # 10 ms of s16 mono
    with open(fifo, "wb", buffering=0) as f:
        t0 = time.perf_counter()
        for i in range(0, len(pcm), chunk):
            due = t0 + (i // 2) / rate
            d = due - time.perf_counter()
            if d > 0:
                time.sleep(d)
            f.write(pcm[i:i + chunk])
        # keep the source fed with silence so the capture stream never starves at the end
        silence = bytes(chunk)
        end = time.perf_counter() + 5.0
        while time.perf_counter() < end:
            f.write(silence)
            time.sleep(0.01)
    """
)


def start_pulse(runtime: Path, fifo: Path) -> None:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    if fifo.exists():  # module-pipe-source makes the FIFO itself and refuses an existing path
        fifo.unlink()
    subprocess.run(
        ["pulseaudio", "-D", "-n", "--exit-idle-time=-1", "--disallow-exit",
         "--load=module-native-protocol-unix",
         f"--load=module-pipe-source source_name={SOURCE_NAME} file={fifo} format=s16le rate={RATE} channels=1",
         "--load=module-null-sink"],
        env=env, check=True, stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
            subprocess.run(["pactl", "set-default-source", SOURCE_NAME], env=env, capture_output=True)
            if not fifo.exists():
                raise RuntimeError("the PulseAudio pipe source did not load")
            return
        time.sleep(0.05)
    raise RuntimeError("the PulseAudio server did not start")


def stop_pulse(runtime: Path) -> None:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime))
    subprocess.run(["pulseaudio", "--kill"], env=env, stderr=subprocess.DEVNULL)


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="measured duration (default 60)")
    args = ap.parse_args()

    runtime = Path(tempfile.mkdtemp(prefix="stethodesk-bench-"))
    fifo = runtime / "steth.fifo"
    home = Path(tempfile.mkdtemp(prefix="stethodesk-bench-home-"))
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)  # before PortAudio initialises (import of sounddevice)
    os.environ["PULSE_SOURCE"] = SOURCE_NAME
    os.environ["STETHODESK_HOME"] = str(home)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    start_pulse(runtime, fifo)
    warmup = 3.0  # s before measuring: stream start, first ticks, first stats
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(fifo), str(args.seconds + warmup + 2.0), str(RATE),
         str(MARKER_PERIOD_S), str(MARKER_LEN), str(MARKER_LEVEL), str(HEART_PEAK)],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    try:
        return run(args.seconds, warmup)
    finally:
        writer.kill()
        writer.wait()
        stop_pulse(runtime)
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def run(seconds: float, warmup: float) -> int:
    import numpy as np
    import psutil
    from PySide6.QtCore import QEventLoop, QTimer

    from stethodesk.gui.app import make_app
    from stethodesk.gui.main_window import MainWindow

    make_app([])
    win = MainWindow(autostart=False, load_model=False)
    win.show()
    sp = win.source_panel
    pulse = [o for o in sp.offers if o.choice["kind"] == "device" and o.choice["name"] == "pulse"]
    if not pulse:
        print("no 'pulse' input device: is libasound2-plugins installed?", file=sys.stderr)
        return 2
    choice = dict(pulse[0].choice, samplerate=RATE, channel=None)
    src = win.start_source(choice)
    if src is None:
        print("could not open the pulse input: " + " | ".join(b.text for b in win.banners.banners()), file=sys.stderr)
        return 2
    win.source_panel.filter_buttons["wide"].click()
    lv = win.live_view

    arrivals: list[float] = []  # perf_counter of each marker's arrival in the audio callback
    shown_ticks: list[float] = []  # perf_counter of the tick whose curve first contains it

    def listener(block):  # audio thread: a cheap max only
        if block.size and float(np.max(block)) > ARRIVAL_THRESHOLD:
            now = time.perf_counter()
            if not arrivals or now - arrivals[-1] > MARKER_PERIOD_S / 2:
                arrivals.append(now)

    src.add_listener(listener)
    state = {"drawn": lv.drawn_total}

    def after_tick():  # runs right after LiveView.tick on the same timer
        total = lv.drawn_total
        new = total - state["drawn"]
        state["drawn"] = total
        x, y = lv.curve.getData()
        if new > 0 and y is not None and y.size:
            # The part of the drawn curve that holds this tick's new samples (plus one
            # envelope bucket, where a click may have been folded into a min/max pair).
            span = (new + lv._env.bucket) / lv.pipeline.rate
            recent = y[x > -span]
            if recent.size and float(np.max(recent)) > DRAWN_THRESHOLD and len(shown_ticks) < len(arrivals):
                shown_ticks.append(time.perf_counter())

    lv.timer.timeout.connect(after_tick)

    def spin(duration: float) -> None:  # a real event loop, as in the app (no polling overhead)
        loop = QEventLoop()
        QTimer.singleShot(int(duration * 1000), loop.quit)
        loop.exec()

    spin(warmup)
    proc = psutil.Process()
    c0 = proc.cpu_times()
    t0 = time.perf_counter()
    paints0, ticks0, over0, lost0 = lv.paints.count, lv.ticks, lv.overflows(), lv.lost_samples()
    n_arr0 = len(arrivals)
    segments = []  # CPU % per 10 s, to see whether the cost drifts during the run
    left = seconds
    while left > 0:
        step = min(10.0, left)
        s0, w0 = proc.cpu_times(), time.perf_counter()
        spin(step)
        s1 = proc.cpu_times()
        segments.append((s1.user - s0.user + s1.system - s0.system) / (time.perf_counter() - w0) * 100.0)
        left -= step
    wall = time.perf_counter() - t0
    c1 = proc.cpu_times()
    cpu = (c1.user - c0.user + c1.system - c0.system) / wall * 100.0
    fps = (lv.paints.count - paints0) / wall
    tick_rate = (lv.ticks - ticks0) / wall

    delays = []
    pts = np.asarray(lv.paints.times)  # each detection is matched with the paint that showed it
    for a, s in zip(arrivals[n_arr0:], shown_ticks[n_arr0:]):
        after = pts[pts >= s]
        drawn = float(after[0]) if after.size else s
        delays.append((drawn - a) * 1000.0)
    win.close()

    print(f"StethoDesk live benchmark: {wall:.1f} s of {RATE} Hz input via PulseAudio, window offscreen")
    print(f"frames per second : {fps:.1f} painted ({tick_rate:.1f} timer ticks/s)")
    print(f"overflows         : {lv.overflows() - over0} input overflows, "
          f"{lv.lost_samples() - lost0} samples lost by the display")
    print(f"CPU               : {cpu:.1f} % of one core (this process: capture + GUI + drawing); "
          f"per 10 s: {', '.join(f'{c:.0f}' for c in segments)}")
    print(f"markers           : {len(arrivals) - n_arr0} arrived, {len(delays)} seen drawn")
    print(f"delay arrival->drawn: median {percentile(delays, 50):.1f} ms, p95 {percentile(delays, 95):.1f} ms, "
          f"max {max(delays) if delays else float('nan'):.1f} ms")
    ok = fps >= 30 and lv.overflows() - over0 == 0 and cpu < 25 and delays and percentile(delays, 95) < 100
    print("targets (>= 30 fps, 0 overflows, < 25 % CPU, < 100 ms delay):", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
