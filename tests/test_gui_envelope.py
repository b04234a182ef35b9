"""The live trace's min/max envelope (numpy only)."""

from __future__ import annotations

import numpy as np

from stethodesk.gui.envelope import PeakEnvelope, bucket_for


def test_envelope_equals_a_batch_min_max_whatever_the_block_sizes():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(10_007).astype(np.float32)
    env = PeakEnvelope(bucket=21, capacity=1000)
    i = 0
    for n in rng.integers(1, 300, size=200):
        env.push(x[i : i + n])
        i += n
    env.push(x[i:])
    full = x[: (x.size // 21) * 21].reshape(-1, 21)
    lo, hi = env.latest(1000)
    np.testing.assert_array_equal(lo, full.min(axis=1)[-lo.size :])
    np.testing.assert_array_equal(hi, full.max(axis=1)[-hi.size :])
    np.testing.assert_array_equal(env.pending, x[full.size :])


def test_trace_keeps_every_peak_and_ends_at_the_newest_sample():
    rate = 4000.0
    x = np.zeros(32_000, dtype=np.float32)
    x[[1000, 20_000, 31_990]] = [0.9, -0.7, 0.5]  # the last one is in the unfinished bucket
    env = PeakEnvelope(bucket_for(x.size), capacity=2000)
    env.push(x)
    tx, ty = env.trace(2000, rate)
    assert ty.size <= 2 * (x.size // env.bucket) + env.bucket  # ~2 points per bucket, not 32,000
    assert ty.max() == np.float32(0.9) and ty.min() == np.float32(-0.7)
    assert 0.5 in ty[tx > -(env.pending.size / rate)]
    assert tx[-1] == 0.0 and np.all(np.diff(tx) >= 0)
    t_peak = tx[np.argmax(ty)]
    assert abs(t_peak - (1000 - 31_999) / rate) < env.bucket / rate  # where it happened


def test_capacity_keeps_only_the_newest_buckets():
    env = PeakEnvelope(bucket=2, capacity=5)
    env.push(np.arange(30, dtype=np.float32))
    lo, hi = env.latest(10)
    np.testing.assert_array_equal(lo, [20, 22, 24, 26, 28])
    np.testing.assert_array_equal(hi, [21, 23, 25, 27, 29])
