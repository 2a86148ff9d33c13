"""The search: which items get which noise realizations, rung by rung (the ``search`` section).

- ``exhaustive``: one rung, every item, realizations ``0 .. noise.realizations - 1``; the records in
  ``<run>/checkpoints/`` (as every run before the section existed).
- ``halving`` (successive halving over realizations, as scikit-learn's HalvingGridSearchCV): rung
  k gives its items realizations ``0 .. n_k - 1``, n_k = min(min_realizations * eta^k,
  noise.realizations), the last rung all of them. Rung 0 holds every item; rung k + 1, per region,
  the best ceil(m / eta) of the m grid items of rung k by ``search.criterion`` (the selection rule
  of science/selection.py on the items' rows, store/item_rows.py; items it may not pick, e.g.
  unconverged, never survive) and every multires baseline item. Rung k's records are in
  ``<run>/rungs/<k>/checkpoints/``; a survivor's record there holds the earlier rung's record
  with the fits of the new realizations added (grid/experiment.py ``rung_record``): nothing is
  fitted twice.

A rung starts when the previous one is complete, which only the checkpoint files decide
(:func:`search_rungs`): a launch with any rank count resumes at any rung. No JAX and no MPI here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from compsep_hpc.grid.config import SearchConfig
from compsep_hpc.grid.region_grids import RegionGrid
from compsep_hpc.grid.work import WorkItem
from compsep_hpc.science.selection import CRITERIA, candidates
from compsep_hpc.store.checkpoint import completed_item_ids, read_records
from compsep_hpc.store.item_rows import item_row

RUNGS_DIR = "rungs"


class Rung(NamedTuple):
    """Rung ``index``: its ``items``, fitted on realizations ``first .. realizations - 1`` (the
    earlier ones come from rung index - 1's records), and the ids already ``done``."""

    index: int
    first: int
    realizations: int
    items: tuple[WorkItem, ...]
    done: frozenset[int]

    @property
    def todo(self) -> list[WorkItem]:
        """The rung's items not recorded yet, by item id."""
        return [it for it in self.items if it.item_id not in self.done]

    @property
    def new_realizations(self) -> range:
        """The noise realization ids this rung adds to each of its items."""
        return range(self.first, self.realizations)


def rung_realizations(search: SearchConfig, total: int) -> tuple[int, ...]:
    """The realizations each rung's items hold: ``(total,)`` when exhaustive, else
    min_realizations x eta^k below ``total``, then ``total``."""
    if search.strategy == "exhaustive":
        return (total,)
    counts = []
    n = search.min_realizations
    while n < total:
        counts.append(n)
        n *= search.eta
    return (*counts, total)


def rung_folder(run_dir: str | Path, search: SearchConfig, index: int) -> Path:
    """The folder whose ``checkpoints/`` hold rung ``index``'s records: the run folder itself when
    exhaustive, ``<run>/rungs/<index>`` under halving."""
    run_dir = Path(run_dir)
    return run_dir if search.strategy == "exhaustive" else run_dir / RUNGS_DIR / str(index)


def survivors(items: Sequence[WorkItem], records: Sequence[dict], config, grids: Mapping[str, RegionGrid]
              ) -> tuple[WorkItem, ...]:
    """The items of the rung after the one of ``items`` and their ``records``: per region the
    best ceil(m / eta) of its m grid items by ``config.search.criterion`` among those the criterion
    may pick (science/selection.candidates; lowest item id on ties), and every baseline item; by
    item id. ``grids``: the regions' grids (their pixel counts, for the BIC's n)."""
    search = config.search
    figure = CRITERIA[search.criterion].figure
    by_id = {r["item_id"]: r for r in records}
    kept = [it for it in items if it.preset]
    for region in config.regions.names:
        grid_items = [it for it in items if it.region == region and not it.preset]
        rows = [_row(by_id[it.item_id], it, config, grids) for it in grid_items if it.item_id in by_id]
        ranked = sorted(candidates(rows, search.criterion), key=lambda r: (r[figure], r["item_id"]))
        chosen = {r["item_id"] for r in ranked[: math.ceil(len(grid_items) / search.eta)]}
        kept += [it for it in grid_items if it.item_id in chosen]
    return tuple(sorted(kept, key=lambda it: it.item_id))


def _row(record: dict, item: WorkItem, config, grids: Mapping[str, RegionGrid]) -> dict[str, Any]:
    """The items.csv row of an item's record, as ``reduce`` computes it (no held-out realizations
    under halving)."""
    n_data = grids[item.region].n_pixels * len(config.instrument.frequencies) * 2
    return item_row(record, config.model.fitted, item.grid_values, item.region, item.strategy, item.preset,
                    n_data=n_data, r_in=config.sky.r)


def search_rungs(run_dir: str | Path, config, items: Sequence[WorkItem], grids: Mapping[str, RegionGrid]
                 ) -> list[Rung]:
    """The rungs reached so far, from the checkpoint files alone: every complete rung, then the
    first incomplete one (the last rung when the search is complete)."""
    counts = rung_realizations(config.search, config.noise.realizations)
    rungs: list[Rung] = []
    current, first = tuple(items), 0
    for index, n in enumerate(counts):
        folder = rung_folder(run_dir, config.search, index)
        ids = {it.item_id for it in current}
        done = frozenset(completed_item_ids(folder) & ids)
        rungs.append(Rung(index, first, n, current, done))
        if len(done) < len(current) or index == len(counts) - 1:
            break
        current = survivors(current, read_records(folder, config_sha256=config.sha256(), item_ids=ids), config, grids)
        first = n
    return rungs


def rung_records(run_dir: str | Path, config, rungs: Sequence[Rung]) -> list[list[dict]]:
    """The records of each of ``rungs`` (of its items), by item id."""
    return [read_records(rung_folder(run_dir, config.search, rung.index), config_sha256=config.sha256(),
                         item_ids={it.item_id for it in rung.items}) for rung in rungs]


def latest_records(records_per_rung: Sequence[Sequence[dict]]) -> list[dict]:
    """Each item's record of the highest rung that holds one (its ``rung`` field says which), by
    item id; ``records_per_rung`` as :func:`rung_records` gives them."""
    latest = {r["item_id"]: r for records in records_per_rung for r in records}
    return [latest[i] for i in sorted(latest)]


class RungPlan(NamedTuple):
    """One rung of the plan: at most ``items`` items holding ``realizations`` realizations each,
    ``new_fits`` noise fits added (and one foreground-only fit per item in the first rung)."""

    index: int
    items: int
    realizations: int
    new_fits: int


def rung_plan(config, items: Sequence[WorkItem]) -> list[RungPlan]:
    """The rungs' sizes before any is run: rung k + 1 keeps ceil(m / eta) of each region's m grid
    items of rung k (at most: an unconverged item does not survive) and every baseline item."""
    counts = rung_realizations(config.search, config.noise.realizations)
    per_region = {r: sum(it.region == r and not it.preset for it in items) for r in config.regions.names}
    n_baselines = sum(bool(it.preset) for it in items)
    plan, first = [], 0
    for index, n in enumerate(counts):
        n_items = sum(per_region.values()) + n_baselines
        plan.append(RungPlan(index, n_items, n, n_items * (n - first)))
        per_region = {r: math.ceil(m / config.search.eta) for r, m in per_region.items()}
        first = n
    return plan


def plan_text(config, items: Sequence[WorkItem]) -> str:
    """What ``run --dry-run`` prints of the search: each rung's items and realizations, and the
    noise fits against the exhaustive search's."""
    search = config.search
    plan = rung_plan(config, items)
    exhaustive = len(items) * config.noise.realizations
    if search.strategy == "exhaustive":
        return f"search: exhaustive, {len(items)} items x {config.noise.realizations} realizations = {exhaustive} noise fits"
    lines = [f"search: halving (eta {search.eta}, min_realizations {search.min_realizations}, ranked by "
             f"{search.criterion}), {len(plan)} rungs"]
    lines += [f"  rung {p.index}: {p.items} items x {p.realizations} realizations ({p.new_fits} new noise fits)"
              for p in plan]
    total = sum(p.new_fits for p in plan)
    lines.append(f"  {total} noise fits at most, against {exhaustive} exhaustive ({exhaustive / total:.1f}x fewer)")
    return "\n".join(lines)


def rung_progress(config, items: Sequence[WorkItem], rungs: Sequence[Rung]) -> list[dict[str, Any]]:
    """Each rung of the search: its realizations, items done and items (for a rung not reached
    yet, at most :func:`rung_plan`'s), and whether it is reached."""
    plan = rung_plan(config, items)
    out = [{"rung": r.index, "realizations": r.realizations, "done": len(r.done), "total": len(r.items),
            "reached": True} for r in rungs]
    out += [{"rung": p.index, "realizations": p.realizations, "done": 0, "total": p.items, "reached": False}
            for p in plan[len(rungs):]]
    return out
