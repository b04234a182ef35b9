"""Block-wise resampling of long high-rate recordings (issue 11 item 8, F13).

``analyze`` once resampled a 29-min file whole at 48 kHz (2.75 GB peak); the analysis now
resamples in blocks straight to the rates it uses. Block-wise must give what whole-array gives.
"""

from __future__ import annotations

import numpy as np
import pytest

from stethodesk.audio.filters import resample, resample_blocks


@pytest.mark.parametrize("sr_in, sr_out, seconds", [(48000, 8000, 7.3), (44100, 8000, 5.01), (384000, 4000, 3.2),
                                                    (96000, 8000, 0.01), (22050, 4000, 2.0)])
def test_block_resampling_equals_whole_array(sr_in, sr_out, seconds):
    rng = np.random.default_rng(sr_in)
    n = int(seconds * sr_in) + 3  # a length that is no multiple of the block or the decimation factor
    t = np.arange(n) / sr_in
    x = (0.3 * np.sin(2 * np.pi * 150 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)
    whole = resample(x, sr_in, sr_out)
    blocks = resample_blocks(x, sr_in, sr_out, block_s=1.0)  # many block edges
    assert blocks.dtype == np.float32 and blocks.shape == whole.shape
    np.testing.assert_allclose(blocks, whole, rtol=0, atol=1e-6)


def test_block_resampling_of_nothing_and_of_the_same_rate():
    assert resample_blocks(np.zeros(0, np.float32), 48000, 8000).shape == (0,)
    x = np.arange(10, dtype=np.float32)
    assert np.array_equal(resample_blocks(x, 8000, 8000), x)
    with pytest.raises(ValueError):
        resample_blocks(x, 0, 8000)
