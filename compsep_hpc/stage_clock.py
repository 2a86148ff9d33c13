"""Where an item's time goes: wall seconds per stage, with JAX's compilation counted apart.

An item passes through the stages of :data:`STAGES`; the code of each stage runs inside
``clock.stage(name)``. Stages nest: time inside an inner stage is charged to it alone, not to
the outer one as well. Seconds that JAX spends tracing, lowering and compiling (or loading a
compiled executable from the persistent cache) while a stage runs are charged to ``compile``
instead, from JAX's own monitoring events (``/jax/core/compile/*``), so a stage's seconds are
what it costs once compiled. JAX dispatches asynchronously: a stage must end on a value it has
waited for (``block_until_ready`` or a host copy), or its work is charged to the next stage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STAGES = ("prepare", "systematic_fit", "noisy_fits", "cmb_maps", "spectra", "r", "write", "compile")
"""``prepare``: the region's data and noise, patch labels, joint cells and fit arrays;
``systematic_fit``: the noiseless (foreground-only) fit and its CMB map; ``noisy_fits``: the fits
of the noise realizations; ``cmb_maps``: their recovered CMB maps and the map figures (variance,
error); ``spectra``: the residual BB bandpowers; ``r``: the r likelihood, also per realization;
``write``: what the rank waits for the checkpoint writer (the previous record's append, which
overlaps this item's fits); ``compile``: JAX compilation during any of them."""

COMPILE_EVENT_PREFIX = "/jax/core/compile/"


class _CompileSeconds:
    """Seconds of JAX compilation in this thread so far, from JAX's monitoring events."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._registered = False
        self._lock = threading.Lock()

    def _listener(self, event: str, duration: float, **_: object) -> None:
        if event.startswith(COMPILE_EVENT_PREFIX):
            self._local.total = self.total + duration

    @property
    def total(self) -> float:
        return getattr(self._local, "total", 0.0)

    def register(self) -> None:
        """Listen to JAX's duration events (once per process; imports jax)."""
        with self._lock:
            if not self._registered:
                import jax.monitoring

                jax.monitoring.register_event_duration_secs_listener(self._listener)
                self._registered = True


_COMPILE = _CompileSeconds()


class StageClock:
    """Seconds per stage of one item (:data:`STAGES`), in ``seconds``: wall seconds, or those of
    ``timer`` (e.g. ``time.process_time``, the CPU seconds of every thread of the process, for a
    benchmark on a loaded machine; compilation, from JAX's events, stays in wall seconds)."""

    def __init__(self, timer: Callable[[], float] = time.perf_counter) -> None:
        _COMPILE.register()
        self.seconds: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._stack: list[str] = []
        self._timer = timer
        self._mark = timer()
        self._compile_mark = _COMPILE.total

    def _charge(self) -> None:
        """Charge the time since the last mark to the innermost running stage (its compilation
        to ``compile``), and set the mark to now."""
        now, compiled = self._timer(), _COMPILE.total
        if self._stack:
            compile_seconds = compiled - self._compile_mark
            self.seconds[self._stack[-1]] += max(now - self._mark - compile_seconds, 0.0)
            self.seconds["compile"] += compile_seconds
        self._mark, self._compile_mark = now, compiled

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Charge the time of the ``with`` body to stage ``name`` (nested stages: to the innermost)."""
        if name not in self.seconds:
            raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
        self._charge()
        self._stack.append(name)
        try:
            yield
        finally:
            self._charge()
            self._stack.pop()

    def add(self, name: str, seconds: float) -> None:
        """Charge ``seconds`` measured elsewhere (e.g. the wait for the writer) to ``name``."""
        self.seconds[name] += seconds
