"""What a rank needs around the fits (compsep_hpc.grid.runtime): its contiguous share of the
items, and the release of compiled code near the kernel's memory-mapping limit."""

from __future__ import annotations

import itertools

import pytest

from compsep_hpc.grid.runtime import memory_map_usage, rank_slice, release_compiled_code

N_ITEMS = (0, 1, 2, 3, 5, 6, 7, 10, 17, 64, 100, 1001)
N_RANKS = (1, 2, 3, 4, 7, 8, 16, 33, 128)


def test_rank_slice_partitions_the_items_contiguously_and_evenly():
    for n_items, n_ranks in itertools.product(N_ITEMS, N_RANKS):  # 108 cases
        case = f"{n_items} items on {n_ranks} ranks"
        bounds = [rank_slice(n_items, r, n_ranks) for r in range(n_ranks)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n_items, case
        for (lo, hi), (next_lo, _) in zip(bounds, bounds[1:]):
            assert next_lo == hi, case  # contiguous, no gap, no overlap
        sizes = [hi - lo for lo, hi in bounds]
        assert min(sizes) >= 0 and max(sizes) - min(sizes) <= 1, case
        covered = [i for lo, hi in bounds for i in range(lo, hi)]
        assert covered == list(range(n_items)), case  # every item exactly once, in order


# A long run once segfaulted at vm.max_map_count: XLA maps every executable on its own.
N_EXECUTABLES = 16


@pytest.mark.skipif(memory_map_usage() is None, reason="needs Linux /proc")
def test_compiled_code_is_released_past_the_memory_mapping_threshold():
    """The mapping count is process-wide and other threads (XLA's pools, malloc arenas) map and
    unmap at any time, so only readings taken around the clearing itself are compared; that
    JAX's executables are gone is checked on JAX's own cache, which no other thread touches."""
    import jax
    import jax.numpy as jnp

    count, limit = memory_map_usage()
    assert 0 < count < limit
    assert release_compiled_code(fraction=1.0) is None  # below the limit: nothing cleared
    f = jax.jit(lambda x: jnp.cumsum(jnp.sin(x) * x) @ x)
    for n in range(1, N_EXECUTABLES + 1):  # one executable per shape, each mapped on its own
        f(jnp.ones(n + 100)).block_until_ready()
    assert f._cache_size() == N_EXECUTABLES
    cleared = release_compiled_code(fraction=0.0)
    assert cleared is not None
    before, after = cleared
    assert after < before  # clearing unmapped the executables
    assert f._cache_size() == 0  # and dropped them from JAX's caches
