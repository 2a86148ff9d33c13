r"""The study's classifiers (equinox modules, float32), their losses and their optimisers.

- binary (two candidates): hidden layers 68, 34, 17; one logit z, p(class 1) = sigmoid(z),
  binary cross-entropy :math:`-[y \ln p + (1 - y) \ln(1 - p)]`;
- more classes: hidden layers 272, 136, 68, 34, 17; K logits, softmax, sparse categorical
  cross-entropy :math:`-\ln p_y`.

tanh activations, dropout (rate ``dropout``, 0.5 in the study) after the first hidden layer only,
active in training. Inputs ``(n, 2 n_freq)`` min-max normalised vectors (skies.py ``features``).

Why equinox: a network is a pytree of arrays, so ``jax.jit``, ``optax`` and
``eqx.tree_serialise_leaves`` (the checkpoints) apply directly, and it adds only jaxtyping and
wadler_lindig to the environment (flax brings orbax, tensorstore and rich).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

BINARY_HIDDEN = (68, 34, 17)
MULTICLASS_HIDDEN = (272, 136, 68, 34, 17)
DTYPE = jnp.float32


class Classifier(eqx.Module):
    """An MLP of tanh layers; ``__call__(x, key)`` gives logits ``(n, n_out)`` (n_out = 1 for two
    classes); a ``key`` turns dropout on (training), None off (inference)."""

    layers: tuple[eqx.nn.Linear, ...]
    dropout: float = eqx.field(static=True)

    def __init__(self, n_in: int, n_classes: int, key: jax.Array, dropout: float = 0.5):
        hidden = BINARY_HIDDEN if n_classes == 2 else MULTICLASS_HIDDEN
        sizes = (n_in, *hidden, 1 if n_classes == 2 else n_classes)
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(eqx.nn.Linear(a, b, key=k, dtype=DTYPE) for a, b, k in zip(sizes[:-1], sizes[1:], keys))
        self.dropout = float(dropout)

    def __call__(self, x: jnp.ndarray, key: jax.Array | None = None) -> jnp.ndarray:
        h = jnp.asarray(x, DTYPE)
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
