"""fp32 vs bf16-autocast training step time on this machine (issue 14).

    .venv/bin/python benchmarks/precision.py [--threads 1] [--tokens 400] [--repeats 5]

Times forward + backward of a 640 -> 2048 -> 640 MLP (the shape of a Gemma 3 270M block's MLP)
on ``--tokens`` rows in fp32 and under bf16 autocast, and prints what training.precision chooses
here. On a CPU without native bf16 the bf16 step is emulated and many times slower.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from training.precision import choose_precision, describe, probe_cpu  # noqa: E402


def step_ms(mlp: torch.nn.Module, x: torch.Tensor, bf16: bool, repeats: int) -> list[float]:
    out = []
    for i in range(repeats + 1):  # the first is a warm-up
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = mlp(x)
        y.float().pow(2).mean().backward()
        mlp.zero_grad(set_to_none=True)
        if i:
            out.append((time.perf_counter() - t0) * 1000.0)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokens", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(640, 2048), torch.nn.GELU(), torch.nn.Linear(2048, 640))
    x = torch.randn(a.tokens, 640)
    info = probe_cpu()
    print(f"cpu: {info.to_dict()}; threads {a.threads}; load average {os.getloadavg()[0]:.2f}")
    fp32 = step_ms(mlp, x, False, a.repeats)
    bf16 = step_ms(mlp, x, True, a.repeats)
    m32, m16 = statistics.median(fp32), statistics.median(bf16)
    print(f"MLP 640->2048->640 forward+backward on {a.tokens} tokens: fp32 median {m32:.1f} ms, "
          f"bf16 autocast median {m16:.1f} ms (bf16/fp32 = {m16 / m32:.2f}x)")
    print(describe(choose_precision("cpu")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
