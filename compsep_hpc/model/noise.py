r"""Noise realizations of an instrument, uK_CMB: white, or scaled per pixel by a hit map.

Noise realization ``i`` of a run is drawn from ``fold_in(key(seed), i)`` over the full sky and
then cut to the requested pixels, so it is the same map whatever region, batch or MPI rank asks
for it, and can be recomputed one realization at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from compsep_hpc.model.instrument import Instrument


@partial(jax.jit, static_argnames=("npix",))
def _full_sky_noise(key: jax.Array, sigma: jnp.ndarray, npix: int) -> jnp.ndarray:
    return sigma[:, None, None] * jax.random.normal(key, (sigma.shape[0], 2, npix))


def noise_realizations(
    instrument: Instrument,
    nside: int,
    seed: int,
    indices: Sequence[int],
    pixels: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    r"""Noise Q/U maps of the given realizations, uK_CMB.

    Returns shape ``(len(indices), n_freq, 2, n)`` with ``n`` the number of ``pixels`` (RING
    indices) or the full sky. Realization ``i`` only depends on ``(seed, i, instrument, nside)``.
    ``scale`` (``(1, n)`` or ``(n_freq, n)``, the pixels' :math:`1/\sqrt{w_p}`; None: white)
    multiplies the white draw.
    """
    npix = 12 * nside**2
    sigma = jnp.asarray(instrument.noise_sigma(nside))
    base = jax.random.key(seed)
    out = []
    for i in indices:
        full = _full_sky_noise(jax.random.fold_in(base, int(i)), sigma, npix)
        cut = np.asarray(full if pixels is None else full[:, :, pixels])
        out.append(cut if scale is None else cut * scale[:, None, :])
    n = npix if pixels is None else len(pixels)
    return np.stack(out) if out else np.zeros((0, instrument.n_freq, 2, n))
