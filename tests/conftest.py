"""Shared test helpers: small configs, paths, and one JAX compilation cache per test session.

Every fit compiles once per array shape; XLA compilation dominates the suite on CPU. One
persistent compilation cache serves the whole session: the in-process JAX (configured here,
before any test compiles) and every subprocess (the CLI, the MPI ranks: they inherit
``$JAX_COMPILATION_CACHE_DIR``, which the launcher honours, see
``compsep_hpc.grid.runtime.enable_compilation_cache``). A shape compiled by one test, in any
process, is read back from disk by every later one. Entries are kept whatever their compile
time, so the many small computations of building a sky are cached too.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"
"""XLA's CPU backend without LLVM optimisation passes: compiles ~40 % faster (8.6 s against 14.5 s
for a Newton fit shape at nside 8), and IEEE results are unchanged (no fast-math either way). The
suite's time is mostly compilation; production runs keep XLA's default. Set before JAX starts
its backend, so the in-process tests get it too; subprocesses get it from the ``env`` fixture."""
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {TEST_XLA_FLAGS}".strip()

from compsep_hpc.precision import enable_float64  # noqa: E402

enable_float64()  # as the entry points do; the package itself leaves JAX's settings alone

REPO = Path(__file__).resolve().parents[1]
SHARED_MASKS = Path(os.environ.get("COMPSEP_SHARED_DATA", REPO.parent / "shared" / "data")) / "GAL_PlanckMasks_64.npz"
"""The real Planck GAL masks at nside 64, where a checkout has them (tests needing it skip otherwise)."""

MIN_COMPILE_TIME_S = 0.0  # cache every compilation, not only those over JAX's default 1 s


def shared_tmp_root(tmp_path_factory) -> Path:
    """The session's temporary root, shared by the pytest-xdist workers (each has its own
    ``popen-gwN`` folder below it), or this session's own root without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session", autouse=True)
def jax_compilation_cache(tmp_path_factory) -> Path:
    """The session's persistent JAX compilation cache, set up before the first test runs.

    In-process: ``jax.config`` (JAX read its environment when it was imported). Subprocesses:
    the environment variables, set for the whole session and restored after it."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    cache = shared_tmp_root(tmp_path_factory) / "jax_cache"
    cache.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JAX_COMPILATION_CACHE_DIR", str(cache))
        mp.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", str(MIN_COMPILE_TIME_S))
        previous = (jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs)
        jax.config.update("jax_compilation_cache_dir", str(cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_TIME_S)
        compilation_cache.reset_cache()  # in case anything compiled (without a cache) during collection
        yield cache
        jax.config.update("jax_compilation_cache_dir", previous[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", previous[1])
        compilation_cache.reset_cache()


@pytest.fixture
def tiny_raw_config(tmp_path) -> dict:
    """A run config small enough for an end-to-end run in seconds (nside 8, 2 items)."""
    return {
        "name": "tiny",
        "nside": 8,
        "sky": {"model": "synthetic_clustered", "seed": 3, "true_patches": {"beta_dust": 2, "temp_dust": 1, "beta_synch": 1}},
        "regions": ["GAL060_U"],
        "grid": {"beta_dust": [1, 2], "temp_dust": [1], "beta_synch": [1]},
        "noise": {"realizations": 3, "seed": 5},
        "output": str(tmp_path / "run"),
    }


@pytest.fixture(scope="session")
def env(jax_compilation_cache) -> dict:
    """Subprocess environment: CPU JAX, one host device, the session's compilation cache, no
    inherited Slurm or MPI launcher variables."""
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "PMI_", "OMPI_"))}
    e.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count=1 {TEST_XLA_FLAGS}",
             JAX_COMPILATION_CACHE_DIR=str(jax_compilation_cache),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=str(MIN_COMPILE_TIME_S))
    return e


@pytest.fixture(scope="session")
def planck_masks() -> Path:
    """The real Planck GAL masks (nside 64 .npz); skips the test where the checkout lacks them."""
    if not SHARED_MASKS.is_file():
        pytest.skip(f"shared mask file {SHARED_MASKS} not present")
    return SHARED_MASKS


@pytest.fixture
def four_parameter_raw_config() -> dict:
    """A run config of a 4-parameter model (cmb, dust, curved_synch: beta_dust, temp_dust,
    beta_synch, curv_synch) on the synthetic sky, nside 8, one region, a 2 x 1 x 1 x 2 grid."""
    return {"name": "four", "nside": 8, "sky": {"model": "synthetic", "seed": 1}, "regions": ["GAL060_U"],
            "model": {"components": ["cmb", "dust", "curved_synch"]},
            "grid": {"beta_dust": [1, 2], "temp_dust": [1], "beta_synch": [1], "curv_synch": [1, 3]},
            "noise": {"realizations": 3}}


SYNTHETIC_STAGE_SECONDS = {"prepare": 0.25, "systematic_fit": 0.25, "noisy_fits": 1.0, "cmb_maps": 0.125,
                           "spectra": 0.125, "r": 0.125, "write": 0.125, "compile": 0.0}
"""The seconds per stage of every synthetic record: 2 s in all."""


@pytest.fixture(scope="session")
def synthetic_record():
    """``make(item, model, n_patches, seed=0, **figures)``: the record ``store.records.item_record``
    writes for ``item`` of a run of ``model`` from a made-up fit (no engine; SYNTHETIC_STAGE_SECONDS): 3 realizations, each
    fitted parameter with ``n_patches[i]`` patches near its declared start, realization r with
    (r + i) % 2 patches of parameter i on a bound; ``figures`` (cmb_variance, cmb_mse, ...) as given."""
    from types import SimpleNamespace

    import numpy as np

    from compsep_hpc.store.records import item_record

    def make(item, model, n_patches, seed=0, **figures):
        rng = np.random.default_rng(seed)
        starts = [p.start for p in model.fitted_parameters]
        params = {p: s + 0.01 * rng.standard_normal((3, k)) for p, s, k in zip(model.fitted, starts, n_patches)}
        at_bound = np.array([[(r + i) % 2 for i in range(len(n_patches))] for r in range(3)])
        fit = SimpleNamespace(params=params, nll=-1e6 - rng.random(3), iterations=np.array([10, 20, 30]),
                              converged=np.ones(3, bool), n_at_bound=at_bound)
        systematic = SimpleNamespace(params={p: v[0] for p, v in params.items()}, nll=-2e6, iterations=15,
                                     converged=True, n_at_bound=at_bound[0])
        result = SimpleNamespace(n_patches=tuple(n_patches), likelihood="compressed", n_cells=int(np.prod(n_patches)),
                                 fit=fit, systematic=systematic, systematic_cmb_power=1e-3, fisher_sigma=None)
        figures = {"cmb_variance": 1.0, "cmb_mse": 1.0, "spatial_variance": rng.random(3), **figures}
        return item_record(item, result, figures, SYNTHETIC_STAGE_SECONDS, "test", model)

    return make


FIRST_MODULES = ("grid/test_slurm.py", "grid/test_launcher.py",
                 # then the longest of the rest, longest first (--durations=0 summed per module)
                 "separation/test_model_terms.py", "report/test_combine.py", "separation/test_golden_default_model.py",
                 "report/test_reduce.py", "separation/test_evaluate.py", "test_cli_errors.py", "sky/test_sky.py",
                 "recognition/test_recognition.py", "separation/test_newton.py", "separation/test_packing.py",
                 "separation/test_linearized.py")
"""Scheduling (pytest-xdist ``--dist loadfile --no-loadscope-reorder``, pyproject.toml: each module
runs whole on one worker; modules are handed out in this order, each to the next free worker;
without ``--no-loadscope-reorder``, xdist >= 3.5 would hand them out by number of tests instead). The two longest modules, which start
the MPI launches and the Slurm jobs (subprocesses, mostly), go first, one per worker; the other
long ones follow, longest first, and the short ones fill in behind them (longest processing time
first): no long module is left to run alone at the end."""


def _schedule_rank(item: pytest.Item) -> int:
    module = item.path.relative_to(Path(__file__).parent).as_posix()
    return FIRST_MODULES.index(module) if module in FIRST_MODULES else len(FIRST_MODULES)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_schedule_rank)  # stable: collection order otherwise
