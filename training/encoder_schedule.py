"""What the encoder stage trains on and at which rate: records per dataset, windows per epoch, LR.

Deterministic in the seed (and the epoch), so every DDP rank draws the same lists before the
sampler shards them (``training/encoder_train.py``).
"""

from __future__ import annotations

import math
import random

import torch


def subsample(records, cap: int | None, seed: int) -> list:
    """At most ``cap`` records per dataset, seeded (all when ``cap`` is None)."""
    if not cap:
        return list(records)
    by = {}
    for r in sorted(records, key=lambda r: r.key):
        by.setdefault(r.dataset, []).append(r)
    rng = random.Random(seed)
    out = []
    for ds in sorted(by):
        rs = by[ds]
        rng.shuffle(rs)
        out += rs[:cap]
    return out


def epoch_pairs(n_windows: list[int], k: int, seed: int, epoch: int) -> list[tuple[int, int]]:
    """(record, window) pairs of one epoch: up to ``k`` random windows per recording, shuffled.

    Deterministic in (seed, epoch) so every DDP rank draws the same list before sharding.
    """
    rng = random.Random(seed * 100_003 + epoch)
    pairs = []
    for i, w in enumerate(n_windows):
        pairs += [(i, j) for j in rng.sample(range(w), min(k, w))]
    rng.shuffle(pairs)
    return pairs


class PairIndex(torch.utils.data.Dataset):
    """Positions ``0..len(pairs)-1`` of one epoch's pairs, for ``DistributedSampler`` to shard."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        return i


def lr_factor(step: int, total_steps: int, warmup: int, elapsed_s: float | None, budget_s: float) -> float:
    """Linear warm-up, then cosine decay over training progress.

    Progress is the larger of steps done and time spent (single process), so a run stopped by its
    time budget on a slow or busy machine still ends with an annealed learning rate. Under DDP
    (``elapsed_s=None``) it is step-based only: ranks must agree on the rate bit for bit.
    """
    progress = step / max(1, total_steps)
    if elapsed_s is not None and budget_s > 0:
        progress = max(progress, elapsed_s / budget_s)
    return min(1.0, (step + 1) / warmup) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

