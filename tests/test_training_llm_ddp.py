"""SFT runs data-parallel under torchrun (gloo, 2 CPU processes) and the ranks stay in sync."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from stethodesk.paths import REPO_ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_cpu_ranks_stay_in_sync(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "training.ddp", "--tiny", "--steps", "3", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2
    # each rank starts from its own random init, which DDP replaces by rank 0's ...
    assert r0["before"] != r1["before"]
    # ... each sees other examples (different losses) ...
    assert r0["losses"] != r1["losses"] and len(r0["losses"]) == 3
    # ... and after 3 optimizer steps the trainable weights are bit-identical and have moved
    assert r0["after"] == r1["after"]
    assert r0["after"] != r0["before"]
