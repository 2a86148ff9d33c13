"""White-noise realizations (compsep_hpc.model.noise): one stream per realization and pixel."""

from __future__ import annotations

import numpy as np

from compsep_hpc.model.instrument import LITEBIRD
from compsep_hpc.model.noise import noise_realizations

NSIDE = 8


def test_noise_realization_independent_of_batch_and_pixels():
    pixels = np.array([5, 17, 300, 700])
    alone = noise_realizations(LITEBIRD, NSIDE, 11, [2])[0]
    batch = noise_realizations(LITEBIRD, NSIDE, 11, [0, 1, 2, 3], pixels)
    np.testing.assert_array_equal(batch[2], alone[:, :, pixels])
    assert not np.array_equal(batch[1], batch[2])
    sigma = LITEBIRD.noise_sigma(NSIDE)
    full = noise_realizations(LITEBIRD, NSIDE, 11, range(4))
    np.testing.assert_allclose(full.std(axis=(0, 2, 3)) / sigma, 1, atol=0.03)
