"""Training of one classifier: seeded mini-batch epochs with optax, a progress bar with the loss
on stderr, and a checkpoint per epoch (network, optimiser state, history) from which an
interrupted training resumes to the same weights as an uninterrupted one.

The network's input transform (network.py ``fit_input_transform``: whitening by default) is
fitted on the training vectors before the first epoch and travels in its leaves. Seeds: the
initial weights from ``key(seed)``; epoch e's shuffle from
``default_rng([seed, e])``; the dropout masks from ``fold_in(key(seed + 1), e)``. The checkpoint is
written atomically (store/atomic.py) after each epoch: ``<dir>/state.eqx`` (equinox's leaf
serialisation of the network and optimiser state) and ``<dir>/history.json`` (the epoch reached
and per-epoch mean training loss, validation loss and accuracy, test accuracy).
"""

from __future__ import annotations

import functools
import json
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple, TextIO

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from compsep_hpc.recognition.network import Classifier, fit_input_transform, loss, optimizer, predict
from compsep_hpc.store.atomic import atomic_path, write_atomic

PROGRESS_CHUNKS = 20  # progress bar updates per epoch
BAR_WIDTH = 24


class Evaluation(NamedTuple):
    """Feature vectors ``x`` (n, d) and labels ``y`` (n,) scored after every epoch (label -1 left out)."""

    x: np.ndarray
    y: np.ndarray


def accuracy(net: Classifier, data: Evaluation) -> float:
    """Fraction of ``data``'s labelled vectors whose most probable class is the label."""
    keep = data.y >= 0
    if not keep.any():
        return float("nan")
    p = np.asarray(predict(net, data.x[keep]))
    return float(np.mean(p.argmax(axis=1) == data.y[keep]))


@functools.lru_cache(maxsize=8)
def _chunk_step(optimizer_name: str, learning_rate: float):
    """``(tx, run)``: the optimiser and the jitted run of one chunk of steps (cached per optimiser,
    so every training with it in a process shares the compiled code)."""
    tx = optimizer(optimizer_name, learning_rate)

    @eqx.filter_jit
    def run(net, opt_state, x, y, index, keys):
        def step(carry, inputs):
            net, opt_state = carry
            idx, key = inputs
            value, grads = eqx.filter_value_and_grad(loss)(net, x[idx], y[idx], key)
            updates, opt_state = tx.update(grads, opt_state, eqx.filter(net, eqx.is_array))
            return (eqx.apply_updates(net, updates), opt_state), value

        (net, opt_state), values = jax.lax.scan(step, (net, opt_state), (index, keys))
        return net, opt_state, jnp.mean(values)
    return tx, run


def _bar(label: str, epoch: int, epochs: int, done: float, value: float, stream: TextIO) -> None:
    filled = int(round(BAR_WIDTH * done))
    stream.write(f"\r{label} epoch {epoch}/{epochs} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] "
                 f"{100 * done:3.0f}% loss {value:.4f}")
    stream.flush()


def _load(folder: Path, template) -> tuple[object, dict] | None:
    state, history = folder / "state.eqx", folder / "history.json"
    if not (state.exists() and history.exists()):
        return None
    return eqx.tree_deserialise_leaves(state, template), json.loads(history.read_text())


def _save(folder: Path, net, opt_state, history: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "state.eqx") as tmp:
        eqx.tree_serialise_leaves(tmp, (net, opt_state))
    write_atomic(folder / "history.json", json.dumps(history, indent=1))


def train(train_set: Evaluation, validation: Evaluation, *, n_classes: int, optimizer_name: str, learning_rate: float,
          epochs: int, batch_size: int, dropout: float, seed: int, folder: str | Path, label: str = "",
          test: Evaluation | None = None, stream: TextIO | None = None,
          stop_after: Callable[[int], bool] | None = None, input_transform: str = "whiten",
          whiten_floor: float = 1e-10) -> tuple[Classifier, dict]:
    """Train (or resume from ``folder``) and return the network and its history. ``stop_after``
    (epoch -> bool) ends the training early after that epoch's checkpoint (tests of resumption);
    the progress bar goes to ``stream`` (None: the current sys.stderr); ``input_transform`` and
    ``whiten_floor``: network.py ``fit_input_transform`` on ``train_set.x``."""
    stream = sys.stderr if stream is None else stream
    folder = Path(folder)
    transform = fit_input_transform(train_set.x, input_transform, whiten_floor)
    net = Classifier(train_set.x.shape[1], n_classes, jax.random.key(seed), dropout, transform)
    tx, run = _chunk_step(optimizer_name, float(learning_rate))
    opt_state = tx.init(eqx.filter(net, eqx.is_array))
    history = {"epoch": 0, "train_loss": [], "validation_loss": [], "validation_accuracy": [], "test_accuracy": [],
               "seconds": []}
    loaded = _load(folder, (net, opt_state))
    if loaded is not None:
        (net, opt_state), history = loaded
    n = len(train_set.y)
    steps = max(1, n // batch_size)
    per_chunk = max(1, steps // PROGRESS_CHUNKS)
    chunks = steps // per_chunk
    x, y = jnp.asarray(train_set.x), jnp.asarray(train_set.y)
    for epoch in range(history["epoch"] + 1, epochs + 1):
        start = time.perf_counter()
        order = np.random.default_rng([seed, epoch]).permutation(n)
        if n < batch_size:
            order = np.resize(order, batch_size)
        index = order[: chunks * per_chunk * batch_size].reshape(chunks, per_chunk, batch_size)
        keys = jax.random.split(jax.random.fold_in(jax.random.key(seed + 1), epoch), chunks * per_chunk)
        keys = keys.reshape(chunks, per_chunk)
        losses = []
        for c in range(chunks):
            net, opt_state, value = run(net, opt_state, x, y, jnp.asarray(index[c]), keys[c])
            losses.append(float(value))
            _bar(label, epoch, epochs, (c + 1) / chunks, float(np.mean(losses)), stream)
        val_loss = float(loss(net, jnp.asarray(validation.x), jnp.asarray(validation.y), None))
        history["epoch"] = epoch
        history["train_loss"].append(float(np.mean(losses)))
        history["validation_loss"].append(val_loss)
        history["validation_accuracy"].append(accuracy(net, validation))
        history["test_accuracy"].append(accuracy(net, test) if test is not None else float("nan"))
        history["seconds"].append(time.perf_counter() - start)
        stream.write(f"  validation loss {val_loss:.4f} accuracy {history['validation_accuracy'][-1]:.4f}\n")
        _save(folder, net, opt_state, history)
        if stop_after is not None and stop_after(epoch):
            break
    return net, history


def save_weights(net: Classifier, path: str | Path) -> None:
    """The network's weights, atomically (equinox leaf serialisation)."""
    with atomic_path(path) as tmp:
        eqx.tree_serialise_leaves(tmp, net)


def load_weights(path: str | Path, n_in: int, n_classes: int, dropout: float) -> Classifier:
    """A network of this shape with the weights of ``path``."""
    template = Classifier(n_in, n_classes, jax.random.key(0), dropout)
    return eqx.tree_deserialise_leaves(path, template)


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle of ``range(n)`` into (training, validation) index arrays, ``fraction`` held out."""
    order = np.random.default_rng([seed, 2**31 - 1]).permutation(n)
    n_val = max(1, int(round(fraction * n)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
