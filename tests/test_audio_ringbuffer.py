"""RingBuffer: contiguous reads, wrap-around, loss counting, one writer thread + readers."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from stethodesk.audio.ringbuffer import RingBuffer


def test_latest_and_total_across_wraps():
    rb = RingBuffer(10)
    assert rb.total == 0 and rb.latest(5).size == 0
    rb.write(np.arange(7))
    assert rb.total == 7
    np.testing.assert_array_equal(rb.latest(3), [4, 5, 6])
    np.testing.assert_array_equal(rb.latest(100), np.arange(7))  # at most what exists
    rb.write(np.arange(7, 16))  # wraps
    assert rb.total == 16 and len(rb) == 10
    np.testing.assert_array_equal(rb.latest(10), np.arange(6, 16))
    np.testing.assert_array_equal(rb.latest(4), [12, 13, 14, 15])


def test_block_longer_than_capacity_keeps_newest():
    rb = RingBuffer(8)
    rb.write(np.arange(3))
    rb.write(np.arange(100, 120))
    assert rb.total == 23
    np.testing.assert_array_equal(rb.latest(8), np.arange(112, 120))


def test_latest_is_a_copy():
    rb = RingBuffer(4)
    rb.write(np.ones(4))
    a = rb.latest(4)
    a[:] = 5
    np.testing.assert_array_equal(rb.latest(4), np.ones(4))


def test_read_since_returns_new_samples_and_counts_loss():
    rb = RingBuffer(10)
    rb.write(np.arange(4))
    data, pos = rb.read_since(0)
    np.testing.assert_array_equal(data, np.arange(4))
    assert pos == 4
    data, pos = rb.read_since(pos)
    assert data.size == 0 and pos == 4
    rb.write(np.arange(4, 30))  # the reader falls 16 samples behind the ring
    data, pos = rb.read_since(pos)
    np.testing.assert_array_equal(data, np.arange(20, 30))
    assert pos == 30 and rb.lost == 16
    data, pos2 = rb.read_since(-5)  # nonsense positions are clamped, not crashes
    assert pos2 == 30


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        RingBuffer(0)


def test_concurrent_writer_and_reader_see_every_sample_in_order():
    # The writer plays the audio callback (small blocks); the reader the GUI clock.
    rb = RingBuffer(4096)
    n_total = 400_000
    got = []
    done = threading.Event()

    def writer():
        i = 0
        while i < n_total:
            k = min(97, n_total - i)
            rb.write(np.arange(i, i + k, dtype=np.float32))
            i += k
        done.set()

    def reader():
        pos = 0
        while not (done.is_set() and pos == rb.total):
            data, pos = rb.read_since(pos)
            if data.size:
                got.append(data)

    t1, t2 = threading.Thread(target=writer), threading.Thread(target=reader)
    t2.start()
    t1.start()
    t1.join(30)
    t2.join(30)
    seq = np.concatenate(got)
    # Whatever the reader missed was counted as lost; what it got is in order, no gaps inside reads.
    assert seq.size + rb.lost == n_total
    assert np.all(np.diff(seq)[np.diff(seq) != 1] > 1)  # only forward jumps (losses), never repeats
    assert seq[-1] == n_total - 1
