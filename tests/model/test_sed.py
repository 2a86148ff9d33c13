"""SEDs in K_CMB, the unit conversion, and the mixing matrix (compsep_hpc.model.sed)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from compsep_hpc.model.instrument import LITEBIRD
from compsep_hpc.model.sed import dust_sed, kcmb_per_krj, mixing_matrix, synch_sed
from compsep_hpc.separation.likelihood import mixing_columns
from compsep_hpc.separation.observations import spectral_model

NSIDE = 8


def test_unit_conversion_table():
    nu = np.array([40.0, 100.0, 150.0, 353.0])
    expected = np.array([1.042032, 1.286624, 1.734790, 12.905496])
    np.testing.assert_allclose(kcmb_per_krj(nu), expected, rtol=1e-6)


def test_sed_tables():
    np.testing.assert_allclose(dust_sed(np.array([40.0, 100.0, 402.1]), 1.54, 20.0, 150.0),
                               [0.08997439, 0.4230369, 44.53022], rtol=1e-6)
    np.testing.assert_allclose(synch_sed(np.array([40.0, 100.0]), -3.0, 20.0), [0.128916, 0.0101873], rtol=1e-5)
    np.testing.assert_allclose(synch_sed(np.array([40.0, 100.0]), -3.0, 150.0), [31.6758, 2.50310], rtol=1e-5)


def test_factorised_columns_equal_mixing_matrix():
    model = spectral_model(LITEBIRD, NSIDE)
    params = {"beta_dust": jnp.array([1.4, 1.6]), "temp_dust": jnp.array([18.0, 22.0, 25.0]),
              "beta_synch": jnp.array([-2.9])}
    patches = jnp.array([[0, 1, 1], [2, 0, 1], [0, 0, 0]])
    expected = mixing_matrix(model.frequencies, jnp.array([1.4, 1.6, 1.6]), jnp.array([25.0, 18.0, 22.0]), -2.9)
    np.testing.assert_allclose(mixing_columns(params, patches, model), expected, rtol=1e-14)
