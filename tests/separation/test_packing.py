"""The flat parameter vector of the fit (compsep_hpc.separation.packing): layout, exact likelihood, and one
compilation for configurations of the same total size class."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from compsep_hpc.separation import evaluate
from compsep_hpc.separation.cells import joint_cells
from compsep_hpc.config import parse_config
from compsep_hpc.separation.evaluate import evaluate_configuration
from compsep_hpc.model.instrument import LITEBIRD
from compsep_hpc.separation.likelihood import cell_moments, compressed_nll
from compsep_hpc.separation.observations import spectral_model
from compsep_hpc.separation.packing import packed_layout, per_entry, shift_patches, split, unpack
from compsep_hpc.grid.experiment import Experiment
from compsep_hpc.model.parameters import PARAMETERS
from compsep_hpc.model.sky_model import DEFAULT_MODEL

NAMES = DEFAULT_MODEL.fitted  # beta_dust, temp_dust, beta_synch


def test_layout_offsets_family_and_padding():
    layout = packed_layout((5, 2, 3))
    assert layout.offsets == (0, 5, 7) and layout.counts == (5, 2, 3)
    assert layout.size == 12  # size class of 10
    np.testing.assert_array_equal(layout.family, [0] * 5 + [1] * 2 + [2] * 3 + [0, 0])
    np.testing.assert_array_equal(shift_patches(np.array([[4, 0], [1, 0], [2, 0]]), layout), [[4, 0], [6, 5], [9, 7]])
    bounds = per_entry({"beta_dust": 0.5, "temp_dust": 5.0, "beta_synch": -5.0}, layout, NAMES)
    np.testing.assert_array_equal(bounds[[0, 5, 7, 10]], [0.5, 5.0, -5.0, 0.5])


def test_unpack_and_split_round_trip():
    layout = packed_layout((3, 1, 2))
    x = np.arange(1.0, layout.size + 1)
    parts = split(x[None], layout, NAMES)
    assert {p: v.tolist() for p, v in parts.items()} == {
        "beta_dust": [[1.0, 2.0, 3.0]], "temp_dust": [[4.0]], "beta_synch": [[5.0, 6.0]]}
    fill = jnp.array([1.54, 20.0, -3.0])
    d = unpack(jnp.asarray(x), jnp.asarray(layout.family), fill, NAMES)
    np.testing.assert_array_equal(d["temp_dust"], [20.0, 20.0, 20.0, 4.0, 20.0, 20.0])  # size class of 6: 6
    np.testing.assert_array_equal(d["beta_dust"][:3], [1.0, 2.0, 3.0])


def test_flat_likelihood_and_gradient_equal_the_per_parameter_ones():
    rng = np.random.default_rng(2)
    n = 300
    labels = np.stack([rng.integers(0, 7, n), rng.integers(0, 3, n), rng.integers(0, 2, n)])
    model = spectral_model(LITEBIRD, 8)
    data = jnp.asarray(rng.normal(0, 10, (len(model.frequencies), 2, n)))
    cells = joint_cells(labels)
    moments = cell_moments(data, jnp.asarray(cells.cell_index), cells.n_cells, model.inv_noise_var)
    params = {"beta_dust": jnp.linspace(1.4, 1.7, 7), "temp_dust": jnp.array([17.0, 21.0, 24.0]),
              "beta_synch": jnp.array([-3.1, -2.8])}
    layout = packed_layout((7, 3, 2))
    x = jnp.zeros(layout.size).at[:12].set(jnp.concatenate([params[p] for p in PARAMETERS]))
    family, fill = jnp.asarray(layout.family), jnp.array([1.54, 20.0, -3.0])
    shifted = jnp.asarray(shift_patches(cells.cell_patches, layout))
    value, grad = jax.value_and_grad(lambda v: compressed_nll(unpack(v, family, fill, NAMES), shifted, moments, model))(x)
    ref_value, ref_grad = jax.value_and_grad(compressed_nll)(params, jnp.asarray(cells.cell_patches), moments, model)
    assert float(value) == float(ref_value)
    for p, g in split(np.asarray(grad), layout, NAMES).items():
        np.testing.assert_allclose(g, ref_grad[p], rtol=1e-13)
    assert np.all(np.asarray(grad)[12:] == 0)  # padding never moves


def test_configurations_of_one_total_size_class_share_a_compilation():
    config = parse_config({"name": "c", "nside": 8, "sky": {"model": "synthetic", "seed": 1},
                           "regions": ["GAL060_U"], "grid": {"beta_dust": [3], "temp_dust": [1], "beta_synch": [1]},
                           "noise": {"realizations": 2, "seed": 4}})
    exp = Experiment(config)
    region = exp.region_data("GAL060_U")
    n_pix = region.pixels.size
    evaluate._fit.clear_cache()
    sizes = []
    for k in ((4, 2, 2), (3, 3, 2), (5, 1, 2)):  # per-parameter size classes differ, totals are all 8
        beta_dust = np.arange(n_pix) % k[0]
        labels = np.stack([beta_dust, beta_dust % k[1], beta_dust % k[2]])  # k[0] joint cells: one class
        result = evaluate_configuration(region, labels, exp.model, config.fit)
        assert result.fit.params["temp_dust"].shape == (2, k[1]) and result.fit.converged.all()
        sizes.append(evaluate._fit._cache_size())
    # one executable for the noisy fits and one for the systematic fit (one realization)
    assert sizes == [2, 2, 2]
