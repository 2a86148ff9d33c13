"""What ``compsep-hpc run --dry-run`` prints: each region's grid under ``grid.above_pixels`` (the
values capped or dropped, the item count), the baselines, and each rank's share of what is left.
Writes nothing."""

from __future__ import annotations

from compsep_hpc.grid.region_grids import RegionGrid
from compsep_hpc.grid.runtime import rank_slice
from compsep_hpc.grid.work import WorkItem

RULE_TEXT = {"refuse": "a K-means count above a region's pixel count refuses the run",
             "drop": "K-means counts above a region's pixel count are dropped in that region",
             "cap": "K-means counts above a region's pixel count become that count (duplicates removed)"}


def _values(values: tuple[int, ...]) -> str:
    """A short list: all values up to six, else the first two, the last and how many."""
    if len(values) <= 6:
        return ", ".join(map(str, values))
    return f"{values[0]}, {values[1]}, ..., {values[-1]} ({len(values)} values)"


def region_line(region: str, grid: RegionGrid, patch_keys: tuple[str, ...], rule: str, bound: bool) -> str:
    """One region's line: pixels, grid items and, per parameter (``patch_keys``, the model's
    ``K_<parameter>``), the values the rule changed."""
    at_most = "<= " if bound else ""
    target = "-> its pixel count" if bound else f"-> {grid.n_pixels}"
    changes = [f"{key} {_values(above)} " + (target if rule == "cap" else "dropped")
               for key, above in zip(patch_keys, grid.above) if above]
    what = "; ".join(changes) if changes else f"nothing above {grid.n_pixels}"
    return (f"  {region:<9} {at_most}{grid.n_pixels} pixels, {at_most}{grid.n_configurations()} grid items: "
            f"{what}")


def _split_lines(items: list[WorkItem], done: list[int], n_ranks: int | None) -> list[str]:
    """Items done and each rank's share of what is left (no share when ``n_ranks`` is None)."""
    todo = [it for it in items if it.item_id not in set(done)]
    counts = f"{len(items)} items in the work list, {len(done)} done, {len(todo)} to do"
    if n_ranks is None:
        return [counts]
    lines = [f"{counts} on {n_ranks} rank(s)"]
    for r in range(n_ranks):
        a, b = rank_slice(len(todo), r, n_ranks)
        ids = f"items {todo[a].item_id}..{todo[b - 1].item_id}" if b > a else "nothing"
        lines.append(f"  rank {r}: {b - a} item(s): {ids}")
    return lines


def dry_run_text(config, grids: dict[str, RegionGrid], grids_unknown: str | None, items: list[WorkItem],
                 done: list[int], n_ranks: int | None) -> str:
    """The dry run's report (also ``compsep-hpc check``'s). ``grids_unknown``: why the regions'
    pixels cannot be known yet (``grids`` are then bounds from the bands' pixel counts, and no rank
    split is given); ``n_ranks`` None: no rank split either."""
    g = config.grid
    lines = []
    if grids_unknown:
        lines.append(f"region pixel counts unknown before launch: {grids_unknown}. Each region is at most its "
                     "band of the derived masks: the counts below are upper bounds, resolved at launch")
    if g.strategy == "kmeans":
        lines.append(f"grid.above_pixels: {g.above_pixels} ({RULE_TEXT[g.above_pixels]})")
    else:
        lines.append("grid.strategy: multires (patch nsides, not counts: grid.above_pixels does not apply)")
    lines += [region_line(region, grid, config.model.patch_keys, g.above_pixels, bool(grids_unknown))
              for region, grid in grids.items()]
    n_baselines = sum(bool(it.preset) for it in items)
    if g.multires_baseline:
        lines.append(f"multires baselines {', '.join(g.multires_baseline)}: {n_baselines} items "
                     "(one per region and preset)")
    if grids_unknown:
        lines.append(f"at most {len(items)} items in the work list; the ranks' split is known at launch")
    else:
        lines += _split_lines(items, done, n_ranks)
    return "\n".join(lines)


def print_dry_run(config, grids: dict[str, RegionGrid], grids_unknown: str | None, items: list[WorkItem],
                  done: list[int], n_ranks: int) -> None:
    """Print :func:`dry_run_text` on stdout."""
    print(dry_run_text(config, grids, grids_unknown, items, done, n_ranks), flush=True)
