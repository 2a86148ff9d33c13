"""The per-stage clock of an item (compsep_hpc.stage_clock): nested stages charge the innermost,
JAX compilation inside a stage goes to ``compile``, and an unknown stage is refused."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import pytest

from compsep_hpc.stage_clock import STAGES, StageClock


def test_nested_stages_charge_the_innermost_only():
    clock = StageClock()
    with clock.stage("spectra"):
        time.sleep(0.05)
        with clock.stage("r"):
            time.sleep(0.1)
        time.sleep(0.05)
    s = clock.seconds
    assert set(s) == set(STAGES)
    assert 0.1 <= s["r"] < 0.15 and 0.1 <= s["spectra"] < 0.15
    assert all(s[k] == 0.0 for k in STAGES if k not in ("spectra", "r", "compile"))


def test_jax_compilation_is_charged_to_compile_not_to_the_stage():
    clock = StageClock()
    salt = time.perf_counter_ns()  # a function JAX has never compiled in this process

    @jax.jit
    def f(x):
        return jnp.cumsum(jnp.sin(x) * salt) @ jnp.cos(x)

    x = jnp.linspace(0.0, 1.0, 1000)
    with clock.stage("noisy_fits"):
        jax.block_until_ready(f(x))
    compiled = clock.seconds["compile"]
    assert compiled > 0.0
    with clock.stage("noisy_fits"):
        jax.block_until_ready(f(x))  # cached: nothing more to compile
    assert clock.seconds["compile"] == compiled


def test_an_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="unknown stage 'fitting'"):
        with StageClock().stage("fitting"):
            pass
