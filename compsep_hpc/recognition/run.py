"""``compsep-hpc recognize``: build the skies, run both routes, score them, write the run folder
(folder.py), and ``--apply`` a finished run's networks to another sky.

Resumable: the likelihood fits are stored once done (``likelihood.npz``), each network's
training checkpoints every epoch and its final weights are kept; a rerun of the same config
skips what is there and redoes the cheap scoring. Seeded: a rerun gives the same weights.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TextIO

import numpy as np

from compsep_hpc.grid.runtime import enable_compilation_cache
from compsep_hpc.recognition import decisions, likelihood_route, scores, skies
from compsep_hpc.recognition.config import RecognizeConfig
from compsep_hpc.recognition.folder import check_folder, create_folder, provenance
from compsep_hpc.recognition.network import predict
from compsep_hpc.recognition.training import Evaluation, load_weights, save_weights, split_validation, train
from compsep_hpc.store.atomic import atomic_path, write_atomic


def network_names(config: RecognizeConfig) -> list[tuple[str, str, bool]]:
    """(name, optimiser, noisy) of every network the run trains."""
    out = [(f"{o}_noisy", o, True) for o in config.network.optimizers]
    if config.network.noiseless_training:
        out.append((f"{config.network.optimizers[0]}_noiseless", config.network.optimizers[0], False))
    return out


def likelihood_results(config: RecognizeConfig, folder: Path, test: skies.TestSky) -> dict[str, np.ndarray]:
    """Per-pixel and per-region chi^2, k, n of every candidate; computed once, then read back."""
    path = folder / "likelihood.npz"
    if path.exists():
        with np.load(path) as f:
            return dict(f)
    lk = config.likelihood
    pix, _ = likelihood_route.pixel_fits(test.data, config.candidates, config.instrument, config.nside, lk.fit)
    reg = likelihood_route.region_fits(test.data, test.regions, config.candidates, config.instrument, config.nside,
                                       lk.fit, lk.region_patches)
    out = {"pixel_chi2": pix.chi2, "pixel_k": pix.k, "pixel_n": pix.n, "pixel_converged": pix.converged,
           "region_chi2": reg.chi2, "region_k": reg.k, "region_n": reg.n, "region_converged": reg.converged}
    with atomic_path(path) as tmp:
        np.savez(tmp, **out)
    return out


def _training_sets(config: RecognizeConfig, noisy: bool, cache: dict) -> tuple[Evaluation, Evaluation]:
    if noisy not in cache:
        t = config.training
        data = skies.training_set(dict(config.candidates), t.sky, config.nside, config.instrument,
                                  realizations=t.realizations, modulation=t.amplitude_modulation,
                                  noise_seed=t.noise_seed if noisy else None)
        train_idx, val_idx = split_validation(len(data.y), t.validation_fraction, config.network.seed)
        cache[noisy] = (Evaluation(data.x[train_idx], data.y[train_idx]), Evaluation(data.x[val_idx], data.y[val_idx]))
    return cache[noisy]


def networks(config: RecognizeConfig, folder: Path, test_eval: Evaluation, stream: TextIO) -> dict[str, tuple]:
    """Train (or resume, or reload) every network: name -> (network, history)."""
    out, cache = {}, {}
    n_in, n_classes = 2 * config.instrument.n_freq, len(config.candidates)
    (folder / "weights").mkdir(exist_ok=True)
    for name, opt, noisy in network_names(config):
        weights, meta = folder / "weights" / f"{name}.eqx", folder / "weights" / f"{name}.json"
        if weights.exists() and meta.exists():
            out[name] = (load_weights(weights, n_in, n_classes, config.network.dropout), json.loads(meta.read_text()))
            continue
        train_set, validation = _training_sets(config, noisy, cache)
        net, history = train(train_set, validation, n_classes=n_classes, optimizer_name=opt,
                             learning_rate=config.network.learning_rates[opt], epochs=config.network.epochs,
                             batch_size=config.network.batch_size, dropout=config.network.dropout,
                             seed=config.network.seed, folder=folder / "checkpoints" / name, label=name,
                             test=test_eval, stream=stream, input_transform=config.network.input_transform,
                             whiten_floor=config.network.whiten_floor)
        save_weights(net, weights)
        history = {**history, "training_vectors": len(train_set.y), "validation_vectors": len(validation.y),
                   "training_seconds": float(np.sum(history["seconds"])), **provenance(config)}
        write_atomic(meta, json.dumps(history, indent=1))
        out[name] = (net, history)
    return out


def route_predictions(config: RecognizeConfig, lk: dict | None, nets: dict, test: skies.TestSky) -> dict[str, tuple]:
    """route -> (per-pixel choice, probability, per-region decision)."""
    models = list(config.candidates.values())
    out = {}
    x = skies.features(test.data)
    for name, (net, _) in nets.items():
        prob = np.asarray(predict(net, x))
        choice = prob.argmax(axis=1)
        out[f"network_{name}"] = (choice, prob.max(axis=1), scores.majority(choice, test.regions, len(models)))
    if lk is not None:
        for rule in decisions.RULES:
            choice, prob = decisions.decide(rule, lk["pixel_chi2"], lk["pixel_k"], lk["pixel_n"], models,
                                            config.likelihood.alpha)
            region_choice, _ = decisions.decide(rule, lk["region_chi2"], lk["region_k"], lk["region_n"], models,
                                                config.likelihood.alpha)
            out[rule] = (choice, prob, dict(zip(test.regions, map(int, region_choice))))
    return out


def score_routes(preds: dict, test: skies.TestSky, n_classes: int, nside: int) -> dict:
    """Accuracies (pixels, regions by the route's pooled decision and by pixel majority),
    confusion matrices and accuracy by latitude of every route."""
    truth_regions = scores.region_truth(test.labels, test.regions)
    latitude = scores.galactic_latitude(nside)
    out = {"region_truth": truth_regions, "routes": {}}
    for route, (choice, _, regional) in preds.items():
        out["routes"][route] = {
            "pixel_accuracy": scores.accuracy(choice, test.labels),
            "region_accuracy": scores.region_accuracy(regional, truth_regions),
            "region_majority_accuracy": scores.region_accuracy(
                scores.majority(choice, test.regions, n_classes), truth_regions),
            "region_decisions": regional,
            "confusion": scores.confusion(choice, test.labels, n_classes).tolist(),
            "accuracy_by_latitude": scores.accuracy_by_latitude(choice, test.labels, latitude),
        }
    return out


def write_outputs(folder: Path, config: RecognizeConfig, preds: dict, result: dict, nets: dict,
                  test: skies.TestSky) -> None:
    """maps.npz, the plots, verdict.yaml + run_configs/, and scores.json (last)."""
    from compsep_hpc.recognition import plots
    from compsep_hpc.recognition.verdict import write_verdict

    maps = {}
    for route, (choice, prob, _) in preds.items():
        wrong = np.where(test.labels >= 0, (choice != test.labels).astype(np.int8), -1)
        maps.update({f"{route}/predicted": choice, f"{route}/probability": prob, f"{route}/wrong": wrong})
    with atomic_path(folder / "maps.npz") as tmp:
        np.savez(tmp, true_labels=test.labels, labels=np.array(config.labels), **maps)
    (folder / "plots").mkdir(exist_ok=True)
    for route, (choice, prob, _) in preds.items():
        plots.route_maps(folder / "plots" / f"maps_{route}.png", route, choice, prob, maps[f"{route}/wrong"],
                         config.labels)
    if nets:
        plots.accuracy_vs_epoch(folder / "plots" / "accuracy_vs_epoch.png", {n: h for n, (_, h) in nets.items()})
    plots.accuracy_vs_latitude(folder / "plots" / "accuracy_vs_latitude.png",
                               {r: s["accuracy_by_latitude"] for r, s in result["routes"].items()})
    route = config.verdict.route
    route = route if route != "network" else f"network_{next(iter(nets))}"
    result["verdict"] = write_verdict(folder, config, preds[route][2], route)
    write_atomic(folder / "scores.json", json.dumps(result, indent=1))


def recognize(config: RecognizeConfig, output: str | Path | None = None, *, stream: TextIO | None = None) -> dict:
    """Run (or resume) model recognition; return the scores (also in ``scores.json``)."""
    folder = Path(output or config.output)
    if not check_folder(config, folder):
        create_folder(config, folder)
    enable_compilation_cache(folder)  # a resumed run skips recompiling the fits (folder/jax_cache)
    test = skies.test_sky(config.test.sky, config.test.regions, config.nside, config.instrument,
                          dict(config.candidates), config.test.noise_seed)
    start = time.perf_counter()
    lk = likelihood_results(config, folder, test) if config.likelihood.enabled else None
    lk_seconds = time.perf_counter() - start
    nets = networks(config, folder, Evaluation(skies.features(test.data), test.labels), stream or sys.stderr)
    preds = route_predictions(config, lk, nets, test)
    result = {**provenance(config), "labels": list(config.labels), "likelihood_seconds_this_call": lk_seconds,
              "training_seconds": {n: h.get("training_seconds") for n, (_, h) in nets.items()},
              **score_routes(preds, test, len(config.candidates), config.nside)}
    write_outputs(folder, config, preds, result, nets, test)
    return result


def _sky_of(raw, source: str):
    """(sky, regions, nside, instrument, noise seed) of a recognize config (its test sky) or a run config."""
    from compsep_hpc.config import parse_config
    from compsep_hpc.recognition.config import parse_recognize

    if isinstance(raw, dict) and ("test" in raw or "candidates" in raw):
        c = parse_recognize(raw, source)
        return c.test.sky, c.test.regions, c.nside, c.instrument, c.test.noise_seed
    c = parse_config(raw, source)
    return c.sky, c.regions, c.nside, c.instrument, c.noise.seed


def apply(run_dir: str | Path, sky_config: str | Path, output: str | Path | None = None, overrides=()) -> dict:
    """Reload a finished run's networks and classify the pixels of another sky (``sky_config``:
    a recognize config's test sky, or a run config's sky, regions and first noise realization).
    Writes ``predictions.npz`` and ``scores.json`` to ``output`` (default
    ``RUN_DIR/applied/<config name>``)."""
    from compsep_hpc.errors import ConfigError, RunFolderError
    from compsep_hpc.recognition.config import parse_recognize, read_yaml
    from compsep_hpc.recognition.folder import CONFIG_FILE, META_FILE

    run_dir = Path(run_dir)
    if not (run_dir / META_FILE).exists():
        raise RunFolderError(f"{run_dir} holds no recognize run ({META_FILE} missing)")
    config = parse_recognize(read_yaml(run_dir / CONFIG_FILE), str(run_dir / CONFIG_FILE))
    sky, regions, nside, instrument, noise_seed = _sky_of(read_yaml(sky_config, overrides), str(sky_config))
    if tuple(instrument.frequencies) != tuple(config.instrument.frequencies):
        raise ConfigError(f"{sky_config}: the networks of {run_dir} take the bands {config.instrument.frequencies}")
    names = [n for n, _, _ in network_names(config) if (run_dir / "weights" / f"{n}.eqx").exists()]
    if not names:
        raise RunFolderError(f"{run_dir} holds no trained network yet (weights/ is empty): finish the run first")
    test = skies.test_sky(sky, regions, nside, instrument, dict(config.candidates), noise_seed)
    x = skies.features(test.data)
    n_classes = len(config.candidates)
    preds = {}
    for name in names:
        net = load_weights(run_dir / "weights" / f"{name}.eqx", x.shape[1], n_classes, config.network.dropout)
        prob = np.asarray(predict(net, x))
        preds[f"network_{name}"] = (prob.argmax(axis=1), prob.max(axis=1),
                                    scores.majority(prob.argmax(axis=1), test.regions, n_classes))
    folder = Path(output) if output else run_dir / "applied" / Path(sky_config).stem
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "predictions.npz") as tmp:
        np.savez(tmp, true_labels=test.labels, labels=np.array(config.labels),
                 **{f"{r}/{k}": v for r, (c, p, _) in preds.items() for k, v in (("predicted", c), ("probability", p))})
    result = {**provenance(config), "sky_config": str(sky_config), "labels": list(config.labels),
              **score_routes(preds, test, n_classes, nside)}
    write_atomic(folder / "scores.json", json.dumps(result, indent=1))
    return result
