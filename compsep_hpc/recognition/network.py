r"""The study's classifiers (equinox modules, float32), their losses and their optimisers.

- binary (two candidates): hidden layers 68, 34, 17; one logit z, p(class 1) = sigmoid(z),
  binary cross-entropy :math:`-[y \ln p + (1 - y) \ln(1 - p)]`;
- more classes: hidden layers 272, 136, 68, 34, 17; K logits, softmax, sparse categorical
  cross-entropy :math:`-\ln p_y`.

tanh activations, dropout (rate ``dropout``, 0.5 in the study) after the first hidden layer only,
active in training. Inputs ``(n, 2 n_freq)`` min-max normalised vectors (skies.py ``features``),
first mapped by a fixed linear input transform fitted on the training set (:func:`fit_input_transform`;
not trained, stored in the network's leaves, so saved weights carry it):
:math:`z = (x - \mu) M`. ``whiten`` (the default): :math:`\mu` the training mean,
:math:`M = V \max(\Lambda, f \lambda_{max})^{-1/2}` from the eigendecomposition
:math:`V \Lambda V^T` of the training covariance (floor ``f``, ``whiten_floor``); ``standardize``:
:math:`M = \mathrm{diag}(1/\sigma)`; ``none``: :math:`\mu = 0, M = 1` (the study's raw features).
Why: after the min-max step the 34 features are nearly collinear (one common offset carries most
of the variance, covariance eigenvalues 2.5 down to 1e-9 on the curvature training set) and the
curvature lives in directions of eigenvalue 1e-5 to 1e-9: without whitening, gradient descent
never reaches them and the network stays at chance (README, "Why our figures differ").

Why equinox: a network is a pytree of arrays, so ``jax.jit``, ``optax`` and
``eqx.tree_serialise_leaves`` (the checkpoints) apply directly, and it adds only jaxtyping and
wadler_lindig to the environment (flax brings orbax, tensorstore and rich).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from compsep_hpc.recognition.config import INPUT_TRANSFORMS

BINARY_HIDDEN = (68, 34, 17)
MULTICLASS_HIDDEN = (272, 136, 68, 34, 17)
DTYPE = jnp.float32


def fit_input_transform(x: np.ndarray, kind: str = "whiten", floor: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """``(mu (d,), M (d, d))`` of the input transform ``kind`` (module docstring) fitted on the
    training vectors ``x`` (n, d), in float64."""
    x = np.asarray(x, dtype=np.float64)
    d = x.shape[1]
    if kind == "none":
        return np.zeros(d), np.eye(d)
    mu = x.mean(axis=0)
    if kind == "standardize":
        sd = x.std(axis=0)
        return mu, np.diag(1.0 / np.where(sd > 0, sd, 1.0))
    if kind != "whiten":
        raise ValueError(f"unknown input transform {kind!r}: one of {', '.join(INPUT_TRANSFORMS)}")
    eigenvalues, vectors = np.linalg.eigh(np.cov(x, rowvar=False).reshape(d, d))
    low = max(floor * eigenvalues.max(), np.finfo(np.float64).tiny)
    return mu, vectors / np.sqrt(np.maximum(eigenvalues, low))


class Classifier(eqx.Module):
    """An MLP of tanh layers on the transformed inputs ``(x - shift) @ matrix``; ``__call__(x, key)``
    gives logits ``(n, n_out)`` (n_out = 1 for two classes); a ``key`` turns dropout on (training),
    None off (inference). ``transform``: ``(shift (d,), matrix (d, d))`` (identity if None), kept
    out of the gradients (``stop_gradient``: the optimisers' updates of it are exactly zero)."""

    layers: tuple[eqx.nn.Linear, ...]
    shift: jnp.ndarray
    matrix: jnp.ndarray
    dropout: float = eqx.field(static=True)

    def __init__(self, n_in: int, n_classes: int, key: jax.Array, dropout: float = 0.5,
                 transform: tuple[np.ndarray, np.ndarray] | None = None):
        hidden = BINARY_HIDDEN if n_classes == 2 else MULTICLASS_HIDDEN
        sizes = (n_in, *hidden, 1 if n_classes == 2 else n_classes)
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(eqx.nn.Linear(a, b, key=k, dtype=DTYPE) for a, b, k in zip(sizes[:-1], sizes[1:], keys))
        shift, matrix = transform if transform is not None else (np.zeros(n_in), np.eye(n_in))
        self.shift, self.matrix = jnp.asarray(shift, DTYPE), jnp.asarray(matrix, DTYPE)
        self.dropout = float(dropout)

    def __call__(self, x: jnp.ndarray, key: jax.Array | None = None) -> jnp.ndarray:
        h = (jnp.asarray(x, DTYPE) - jax.lax.stop_gradient(self.shift)) @ jax.lax.stop_gradient(self.matrix)
        for i, layer in enumerate(self.layers[:-1]):
            h = jnp.tanh(h @ layer.weight.T + layer.bias)
            if i == 0 and key is not None and self.dropout > 0:
                keep = jax.random.bernoulli(key, 1.0 - self.dropout, h.shape)
                h = jnp.where(keep, h / (1.0 - self.dropout), 0.0)
        last = self.layers[-1]
        return h @ last.weight.T + last.bias

    @property
    def n_classes(self) -> int:
        n = self.layers[-1].weight.shape[0]
        return 2 if n == 1 else n


def probabilities(logits: jnp.ndarray) -> jnp.ndarray:
    """Class probabilities ``(n, K)`` from logits (sigmoid for one logit, softmax otherwise)."""
    if logits.shape[-1] == 1:
        p = jax.nn.sigmoid(logits[..., 0])
        return jnp.stack([1.0 - p, p], axis=-1)
    return jax.nn.softmax(logits, axis=-1)


def loss(net: Classifier, x: jnp.ndarray, y: jnp.ndarray, key: jax.Array | None) -> jnp.ndarray:
    """Mean binary or sparse categorical cross-entropy of the batch ``x`` (n, d), labels ``y`` (n,)."""
    logits = net(x, key)
    if logits.shape[-1] == 1:
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits[:, 0], y.astype(DTYPE)))
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))


def optimizer(name: str, learning_rate: float) -> optax.GradientTransformation:
    """``adadelta`` (Keras's rho 0.95 and epsilon 1e-7, as the study's) or ``adam``."""
    if name == "adadelta":
        return optax.adadelta(learning_rate, rho=0.95, eps=1e-7)
    return optax.adam(learning_rate)


def predict(net: Classifier, x: jnp.ndarray, batch: int = 65536) -> jnp.ndarray:
    """Class probabilities ``(n, K)`` of ``x`` without dropout, in batches."""
    out = [_probabilities(net, jnp.asarray(x[i:i + batch])) for i in range(0, len(x), batch)]
    return jnp.concatenate(out) if out else jnp.zeros((0, net.n_classes), DTYPE)


@eqx.filter_jit
def _probabilities(net: Classifier, x: jnp.ndarray) -> jnp.ndarray:
    return probabilities(net(x))
