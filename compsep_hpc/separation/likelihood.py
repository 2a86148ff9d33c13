r"""Spectral likelihood of clustered spectral parameters: per-pixel and compressed forms, in
closed form for the default model (CMB, modified black body, power-law synchrotron; any other
model's terms are in model_terms.py).

Pure JAX. With :math:`M = A^T N^{-1} A` (3x3, components CMB, dust, synchrotron) and white noise
diagonal in frequency:

- per pixel: :math:`\mathrm{NLL}(\beta) = -\sum_p \sum_{Q,U} b_p^T M_p^{-1} b_p`,
  :math:`b_p = A_p^T N^{-1} d_p`;
- compressed (exact when N is the same in every pixel): pixels sharing the triple of patch
  indices (a *joint cell* J) share A, so with :math:`W_J = \sum_{p\in J}\sum_{Q,U} N^{-1} d_p d_p^T N^{-1}`,
  :math:`\mathrm{NLL}(\beta) = -\sum_J \mathrm{tr}[M_J^{-1} A_J^T W_J A_J]`.
- with one hit map common to every band, :math:`N_p = N_0 / w_p` (model/noise_model.py): a pixel's
  term is :math:`w_p` times its term under :math:`N_0`, so the compressed form stays exact with
  :math:`M = A^T N_0^{-1} A` and :math:`W_J = \sum_{p\in J} w_p \sum_{Q,U} N_0^{-1} d_p d_p^T N_0^{-1}`
  (``cell_moments(weights=w)``); one hit map per band needs the per-pixel form, whose M carries
  each pixel's :math:`N_p^{-1}` (``PixelData.n_inv``).

No factor 1/2 (fgbuster's logL is half of this). Units: d in uK_CMB, N^{-1} in uK^-2, NLL
dimensionless.

How it is computed, for speed on CPU and GPU alike: the SED transcendentals are evaluated once
per patch (the dust SED factorises into a beta_dust part and a temp_dust part) and multiplied per
cell or pixel; the CMB column is 1, so every product with it (N^-1 d, W 1, 1^T W 1) is data-only
and precomputed; M and A^T W A are symmetric 3x3 and formed entry by entry with elementwise
products and sums, and inverted in closed form (batched ``jnp.linalg.solve`` and batched tiny
matmuls are slow on CPU and have hung inside jitted loops).

Both forms are sums of per-term values (``compressed_terms``, ``pixel_terms``, through one
``trace_term``); the ``*_term_nll`` functions evaluate each term from its own three parameters,
for the Newton fit (newton.py, term_derivatives.py).

``params`` is a dict with ``beta_dust`` (K_bd,), ``temp_dust`` (K_td,) and ``beta_synch``
(K_bs,); ``patches`` is an int array ``(3, n)`` giving, for each of n pixels or cells, its patch
index for the three parameters in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from compsep_hpc.model.components.cmb import CMB
from compsep_hpc.model.components.dust import ModifiedBlackBody
from compsep_hpc.model.components.synchrotron import PowerLawSynchrotron
from compsep_hpc.model.sed import dust_index_factor, dust_temperature_factor, synch_sed
from compsep_hpc.model.sky_model import DEFAULT_MODEL, SkyModel


@partial(jax.tree_util.register_dataclass, data_fields=["frequencies", "inv_noise_var", "reference_frequencies",
                                                      "band_nu", "band_weights"], meta_fields=["sky"])
@dataclass(frozen=True)
class SpectralModel:
    r"""The data model of a fit: bands (GHz), N^-1 per band (uK^-2), the sky model (its components
    and fitted parameters; static under jit) and its components' reference frequencies (GHz,
    ``(n_components,)`` floats, traced under jit like the bands, as the closed form always took them).
    ``band_nu`` and ``band_weights`` (n_freq, n_samples): the bandpasses' samples (GHz) and K_CMB
    quadrature weights (model/bandpass.py), None for delta bands; with them every SED column is
    :math:`\sum_k \omega_k f(\nu_k)` (model_terms.py)."""

    frequencies: jnp.ndarray
    inv_noise_var: jnp.ndarray
    reference_frequencies: tuple[float, ...]
    sky: SkyModel = DEFAULT_MODEL
    band_nu: jnp.ndarray | None = None
    band_weights: jnp.ndarray | None = None

    @property
    def closed_form(self) -> bool:
        """True for CMB + modified black body + power-law synchrotron with nothing fixed and delta
        bands: the model whose terms this module and term_derivatives.py compute in closed form
        (a band average does not factorise into a beta_dust and a temp_dust part)."""
        kinds = tuple(type(c) for c in self.sky.components)
        return (kinds == (CMB, ModifiedBlackBody, PowerLawSynchrotron) and not self.sky.fixed
                and self.band_nu is None)

    @property
    def nu_dust(self) -> jnp.ndarray:
        """The dust reference frequency (GHz) of the closed-form model."""
        return self.reference_frequencies[1]

    @property
    def nu_synch(self) -> jnp.ndarray:
        """The synchrotron reference frequency (GHz) of the closed-form model."""
        return self.reference_frequencies[2]


class CellMoments(NamedTuple):
    """Data summaries of the compressed form per cell: ``w`` = W_J (n, f, f), ``w_one`` = W_J 1
    (n, f) and ``one_w_one`` = 1^T W_J 1 (n,), in uK^-2."""

    w: jnp.ndarray
    w_one: jnp.ndarray
    one_w_one: jnp.ndarray


class PixelData(NamedTuple):
    """Data of the per-pixel form, pixel axis first: ``d`` (n_pix, f, 2) in uK_CMB,
    ``n_inv_d`` = 1^T N^-1 d (n_pix, 2) and ``n_inv``, each pixel's N^-1 (n_pix, f) in uK^-2,
    or None: the model's ``inv_noise_var`` in every pixel (white noise)."""

    d: jnp.ndarray
    n_inv_d: jnp.ndarray
    n_inv: jnp.ndarray | None = None


def adjugate_3x3(m: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Adjugate and determinant of ``(..., 3, 3)`` matrices: ``inv(m) = adj / det[..., None, None]``."""
    a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    d, e, f = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    g, h, i = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    adj = jnp.stack(
        [
            jnp.stack([e * i - f * h, c * h - b * i, b * f - c * e], -1),
            jnp.stack([f * g - d * i, a * i - c * g, c * d - a * f], -1),
            jnp.stack([d * h - e * g, b * g - a * h, a * e - b * d], -1),
        ],
        -2,
    )
    det = a * adj[..., 0, 0] + b * adj[..., 1, 0] + c * adj[..., 2, 0]
    return adj, det


def _symmetric_adjugate(m00, m01, m02, m11, m12, m22):
    """Upper-triangle entries of adj(M) and det(M) for symmetric 3x3 M given entry by entry."""
    a00 = m11 * m22 - m12 * m12
    a01 = m02 * m12 - m01 * m22
    a02 = m01 * m12 - m02 * m11
    a11 = m00 * m22 - m02 * m02
    a12 = m01 * m02 - m00 * m12
    a22 = m00 * m11 - m01 * m01
    return (a00, a01, a02, a11, a12, a22), m00 * a00 + m01 * a01 + m02 * a02


def foreground_columns(params: dict, patches: jnp.ndarray, model: SpectralModel) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Dust and synchrotron columns of A, each ``(n, n_freq)``, for n pixels or cells.

    The SEDs are evaluated once per patch and gathered per pixel or cell."""
    nu = model.frequencies
    index = dust_index_factor(nu, params["beta_dust"][:, None], model.nu_dust)
    temperature = dust_temperature_factor(nu, params["temp_dust"][:, None], model.nu_dust)
    synch = synch_sed(nu, params["beta_synch"][:, None], model.nu_synch)
    return index[patches[0]] * temperature[patches[1]], synch[patches[2]]


def term_columns(theta: jnp.ndarray, model: SpectralModel) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Dust and synchrotron columns ``(n, n_freq)`` from per-term parameters ``theta`` (n, 3),
    columns (beta_dust, temp_dust [K], beta_synch): the SEDs evaluated once per term."""
    nu = model.frequencies
    dust = (dust_index_factor(nu, theta[:, 0:1], model.nu_dust)
            * dust_temperature_factor(nu, theta[:, 1:2], model.nu_dust))
    return dust, synch_sed(nu, theta[:, 2:3], model.nu_synch)


def _noise_products(dust: jnp.ndarray, synch: jnp.ndarray, model: SpectralModel, n_inv: jnp.ndarray | None = None):
    """Entries of M = A^T N^-1 A, each ``(n,)`` (m00 is a scalar under white noise); ``n_inv``:
    each term's N^-1 (n, f), None for the model's."""
    if n_inv is None:
        n_inv = model.inv_noise_var
        return (jnp.sum(n_inv), dust @ n_inv, synch @ n_inv, (dust * dust) @ n_inv,
                (dust * synch) @ n_inv, (synch * synch) @ n_inv)
    return (jnp.sum(n_inv, -1), jnp.sum(dust * n_inv, -1), jnp.sum(synch * n_inv, -1), jnp.sum(dust * dust * n_inv, -1),
            jnp.sum(dust * synch * n_inv, -1), jnp.sum(synch * synch * n_inv, -1))


def trace_term(m: tuple, e: tuple) -> jnp.ndarray:
    """``-tr[M^-1 E]`` for symmetric 3x3 M and E given by their upper-triangle entries
    (00, 01, 02, 11, 12, 22): the NLL term of a cell or pixel."""
    adj, det = _symmetric_adjugate(*m)
    trace = (adj[0] * e[0] + adj[3] * e[3] + adj[5] * e[5]
             + 2.0 * (adj[1] * e[1] + adj[2] * e[2] + adj[4] * e[4]))
    return -trace / det


def compressed_terms(dust: jnp.ndarray, synch: jnp.ndarray, moments: CellMoments, model: SpectralModel) -> jnp.ndarray:
    """Each cell's NLL term ``-tr[M_J^-1 A_J^T W_J A_J]`` (n,), from its columns ``(n, n_freq)``.
    Padding cells (W_J = 0) give exactly zero."""
    w_dust = jnp.sum(moments.w * dust[:, None, :], axis=-1)
    w_synch = jnp.sum(moments.w * synch[:, None, :], axis=-1)
    e = (moments.one_w_one, jnp.sum(moments.w_one * dust, -1), jnp.sum(moments.w_one * synch, -1),
         jnp.sum(w_dust * dust, -1), jnp.sum(w_dust * synch, -1), jnp.sum(w_synch * synch, -1))
    return trace_term(_noise_products(dust, synch, model), e)


def pixel_terms(dust: jnp.ndarray, synch: jnp.ndarray, data: PixelData, model: SpectralModel) -> jnp.ndarray:
    """Each pixel's NLL term ``-sum_{Q,U} b^T M^-1 b`` (n,), b = A^T N^-1 d, from its columns."""
    n_inv_d = data.d * (model.inv_noise_var[None, :, None] if data.n_inv is None else data.n_inv[:, :, None])
    b = (data.n_inv_d, jnp.einsum("pf,pfs->ps", dust, n_inv_d), jnp.einsum("pf,pfs->ps", synch, n_inv_d))
    e = tuple(jnp.sum(b[i] * b[j], axis=-1) for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)))
    return trace_term(_noise_products(dust, synch, model, data.n_inv), e)


def compressed_nll(params: dict, cell_patches: jnp.ndarray, moments: CellMoments, model: SpectralModel) -> jnp.ndarray:
    """Compressed NLL over joint cells. Padding cells (W_J = 0) contribute exactly zero."""
    return jnp.sum(compressed_terms(*foreground_columns(params, cell_patches, model), moments, model))


def pixel_nll(params: dict, patches: jnp.ndarray, data: PixelData, model: SpectralModel) -> jnp.ndarray:
    """Per-pixel NLL; ``patches`` (3, n_pix), ``data`` from :func:`pixel_data`."""
    return jnp.sum(pixel_terms(*foreground_columns(params, patches, model), data, model))


def compressed_term_nll(theta: jnp.ndarray, moments: CellMoments, model: SpectralModel) -> jnp.ndarray:
    """NLL term of each cell from its own parameters ``theta`` (n, 3): the Newton fit's cell term."""
    return compressed_terms(*term_columns(theta, model), moments, model)


def pixel_term_nll(theta: jnp.ndarray, data: PixelData, model: SpectralModel) -> jnp.ndarray:
    """NLL term of each pixel from its own parameters ``theta`` (n, 3): the Newton fit's pixel term."""
    return pixel_terms(*term_columns(theta, model), data, model)


def pixel_data(data: jnp.ndarray, inv_noise_var: jnp.ndarray, pixel_inv_var: jnp.ndarray | None = None) -> PixelData:
    """Per-pixel data of ``data`` (n_freq, 2, n_pix), pixel axis first, with its CMB projection
    precomputed; ``pixel_inv_var`` (n_pix, n_freq): each pixel's N^-1 (None: ``inv_noise_var``
    in every pixel)."""
    d = jnp.moveaxis(data, -1, 0)
    if pixel_inv_var is None:
        return PixelData(d, jnp.einsum("f,pfs->ps", inv_noise_var, d))
    return PixelData(d, jnp.einsum("pf,pfs->ps", pixel_inv_var, d), pixel_inv_var)


def cell_moments(data: jnp.ndarray, cell_index: jnp.ndarray, n_cells: int, inv_noise_var: jnp.ndarray,
                 weights: jnp.ndarray | None = None) -> CellMoments:
    """W_J = sum over pixels of cell J and over Q, U of w_p N^-1 d d^T N^-1, with W_J 1 and 1^T W_J 1.

    ``data`` is ``(n_freq, 2, n_pix)``; ``cell_index`` ``(n_pix,)`` the cell of each pixel;
    ``weights`` (n_pix,): the pixels' common hit weights w_p (N_p = N / w_p), None for white noise.
    """
    white = data * inv_noise_var[:, None, None]
    outer = jnp.einsum("fsp,gsp->pfg", white, white)
    if weights is not None:
        outer = outer * weights[:, None, None]
    w = jax.ops.segment_sum(outer, cell_index, num_segments=n_cells)
    w_one = jnp.sum(w, axis=-1)
    return CellMoments(w, w_one, jnp.sum(w_one, axis=-1))


def mixing_columns(params: dict, patches: jnp.ndarray, model: SpectralModel) -> jnp.ndarray:
    """Full mixing matrices ``(n, n_freq, 3)``, columns (CMB, dust, synchrotron)."""
    dust, synch = foreground_columns(params, patches, model)
    return jnp.stack([jnp.ones_like(dust), dust, synch], axis=-1)


def component_weights(params: dict, patches: jnp.ndarray, model: SpectralModel,
                      n_inv: jnp.ndarray | None = None) -> jnp.ndarray:
    """Reconstruction operator ``M^-1 A^T N^-1`` per pixel or cell, shape ``(n, 3, n_freq)``;
    ``n_inv`` (n, n_freq): each pixel's N^-1 (None: the model's; a common hit weight cancels).

    The estimated amplitudes of a pixel are ``weights @ d_p``; row 0 gives the CMB in uK_CMB.
    """
    a = mixing_columns(params, patches, model)
    b = a * (model.inv_noise_var[:, None] if n_inv is None else n_inv[:, :, None])
    m = jnp.einsum("nfc,nfk->nck", a, b)
    adj, det = adjugate_3x3(m)
    return jnp.einsum("nck,nfk->ncf", adj / det[:, None, None], b)


def reconstruct(params: dict, patches: jnp.ndarray, data: jnp.ndarray, model: SpectralModel) -> jnp.ndarray:
    """Estimated amplitudes ``s_hat = (A^T N^-1 A)^-1 A^T N^-1 d``, shape ``(3, 2, n_pix)``, uK_CMB.

    Components (CMB, dust at nu_dust, synchrotron at nu_synch); ``data`` ``(n_freq, 2, n_pix)``.
    """
    w = component_weights(params, patches, model)
    return jnp.einsum("pcf,fsp->csp", w, data)
