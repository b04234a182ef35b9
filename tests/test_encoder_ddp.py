"""The encoder stage under torchrun: two CPU processes (gloo) stay in sync on real recordings."""

import json
import os
import subprocess
import sys

from stethodesk.paths import REPO_ROOT


def test_two_gloo_ranks_end_with_identical_parameters(tmp_path):
    out = tmp_path / "enc_ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "training.encoder_train", "--profile", "smoke", "--max-records", "3",
        "--threads", "1", "--out", str(out), "--feature-dir", str(tmp_path / "features"),
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((out / f"ddp_rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world"] == 2 for r in ranks)
    assert ranks[0]["steps"] == ranks[1]["steps"] >= 2
    assert ranks[0]["param_sha256"] == ranks[1]["param_sha256"]
    result = json.loads((out / "encoder_result.json").read_text())
    assert result["training"]["processes"] == 2
    # the run really trained: the saved weights differ from a fresh initialisation's
    import torch

    from stethodesk.model.encoder import AudioEncoder, load_encoder

    torch.manual_seed(0)
    fresh = AudioEncoder(load_encoder(out / "encoder.safetensors").cfg)
    trained = load_encoder(out / "encoder.safetensors")
    assert not torch.equal(fresh.stem[0].weight, trained.stem[0].weight)
