"""Each region's own grid: the config's patch counts after ``grid.above_pixels``.

A K-means count K above a region's N pixels cannot be searched (K-means needs K <= N). The rule
``grid.above_pixels`` says what happens to such a value, never silently:

- ``refuse`` (default): the run is refused with a one-line error naming the value and the region;
- ``drop``: the value is left out of that region's grid (the region's search stops at the largest
  value <= N; a parameter left with no value is refused);
- ``cap``: the value becomes N (one patch per pixel), duplicates removed in order of first
  appearance, so the region's search reaches exactly its pixel count.

Values at or below N are kept as given. ``multires`` grids hold patch nsides, not counts: the rule
does not apply to them (their nsides are checked against the run nside). The resolution depends
on the regions' pixel counts, hence on the sky (derived masks) or the mask file: the launcher
resolves it once, stores it in the run folder (``region_grids.json``, store/run_folder.py) and
every later reader (resumes on any rank count, ``status``, ``reduce``) takes the work list from
that copy, so item ids never change. No JAX and no healpy here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from compsep_hpc.errors import ConfigError, RunFolderError
from compsep_hpc.grid.config import GridConfig
from compsep_hpc.partition.bands import derived_band_pixels
from compsep_hpc.partition.config import band_of


class RegionGrid(NamedTuple):
    """A region's grid: its pixel count, its values per parameter (``n_fitted`` tuples, the
    model's fitted order) and, per parameter, the config values above the pixel count (capped or
    dropped by the rule; ``n_fitted`` tuples, empty when none)."""

    n_pixels: int
    values: tuple[tuple[int, ...], ...]
    above: tuple[tuple[int, ...], ...]

    def n_configurations(self) -> int:
        """Grid points of the region: the product of its value counts."""
        return math.prod(len(v) for v in self.values)


def _apply(values: tuple[int, ...], n_pixels: int, rule: str, key: str, region: str) -> tuple[int, ...]:
    """One parameter's values after ``rule`` for a region of ``n_pixels``; ``key`` and ``region``
    (e.g. "region GAL020_U at nside 64") name them in errors."""
    above = [v for v in values if v > n_pixels]
    if not above:
        return values
    if rule == "refuse":
        raise ConfigError(f"{key} = {max(above)} exceeds the {n_pixels} pixels of {region}; set "
                          "grid.above_pixels to drop or cap to search each region up to its pixel count")
    if rule == "drop":
        kept = tuple(v for v in values if v <= n_pixels)
        if not kept:
            raise ConfigError(f"every {key} value exceeds the {n_pixels} pixels of {region} "
                              "(grid.above_pixels: drop leaves nothing to search)")
        return kept
    return tuple(dict.fromkeys(min(v, n_pixels) for v in values))  # cap, first appearance kept


def resolve_region_grid(grid: GridConfig, region: str, n_pixels: int, nside: int,
                        pixels_of: str | None = None) -> RegionGrid:
    """The grid of ``region`` (``n_pixels`` pixels at ``nside``) under ``grid.above_pixels``;
    ``pixels_of`` names what holds the ``n_pixels`` in errors (default "region <region>").

    Raises ConfigError (one line) under ``refuse`` for a count above ``n_pixels``, and under
    ``drop`` when a parameter keeps no value."""
    if grid.strategy != "kmeans":
        return RegionGrid(n_pixels, grid.axes, tuple(() for _ in grid.axes))
    where = f"{pixels_of or f'region {region}'} at nside {nside}"
    out = tuple(_apply(vals, n_pixels, grid.above_pixels, f"K_{p}", where) for p, vals in grid.values.items())
    return RegionGrid(n_pixels, out, tuple(tuple(v for v in vals if v > n_pixels) for vals in grid.axes))


def resolve_region_grids(config, pixel_count: Callable[[str], int],
                         pixels_of: Callable[[str], str] | None = None) -> dict[str, RegionGrid]:
    """Each region's grid of a RunConfig under ``grid.above_pixels``, ``pixel_count(region)`` its
    pixel count (the exact one, or an upper bound), ``pixels_of(region)`` what holds that count in
    errors (default "region <region>").

    Raises ConfigError for an empty region, a count above a region's pixels under ``refuse``,
    a parameter left without value under ``drop``, or a multires patch nside above the run nside."""
    g = config.grid
    if g.strategy == "multires" and max(max(axis) for axis in g.axes) > config.nside:
        raise ConfigError(f"a multires patch nside exceeds the run nside {config.nside}")
    grids = {}
    for region in config.regions.names:
        n_pix = pixel_count(region)
        if n_pix == 0:
            raise ConfigError(f"region {region} has no pixel at nside {config.nside}")
        grids[region] = resolve_region_grid(g, region, n_pix, config.nside, pixels_of and pixels_of(region))
    return grids


def region_grid_bounds(config) -> dict[str, RegionGrid]:
    """Each region's grid resolved against its band's pixel count in the derived masks (no sky
    needed), an upper bound of its own: what can be said before the sky is built. A value above
    the band is above the region too, so ``refuse`` still refuses it here."""
    return resolve_region_grids(config, lambda region: derived_band_pixels(band_of(region), config.nside),
                                lambda region: f"band {band_of(region)} (region {region} holds at most as many)")


def region_grids_json(grid: GridConfig, grids: Mapping[str, RegionGrid]) -> dict[str, Any]:
    """The JSON form of the regions' grids (``region_grids.json``): per region its pixel count, its
    values and its values above the pixel count, both keyed by parameter name."""
    names = grid.parameters
    return {"above_pixels": grid.above_pixels, "strategy": grid.strategy,
            "regions": {region: {"n_pixels": int(g.n_pixels), **{p: list(v) for p, v in zip(names, g.values)},
                                 "above_pixels_values": {p: list(a) for p, a in zip(names, g.above)}}
                        for region, g in grids.items()}}


def region_grids_from_json(content: Mapping[str, Any], parameters: Sequence[str],
                           where: str = "region_grids.json") -> dict[str, RegionGrid]:
    """The regions' grids of the fitted ``parameters`` (the run's ``model.fitted``) from their JSON
    form; RunFolderError naming ``where`` when it is malformed or lacks a parameter."""
    try:
        return {region: RegionGrid(int(g["n_pixels"]), tuple(tuple(int(v) for v in g[p]) for p in parameters),
                                   tuple(tuple(int(v) for v in g["above_pixels_values"][p]) for p in parameters))
                for region, g in content["regions"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RunFolderError(f"{where}: malformed region grids ({exc!r})") from exc


def check_same_grids(stored: Mapping[str, RegionGrid], resolved: Mapping[str, RegionGrid], where: str) -> None:
    """Raise RunFolderError when the grids resolved now differ from those stored at the run's start
    (the regions changed: another mask file, sky or package version): the item ids would change."""
    for region in resolved:
        then, now = stored.get(region), resolved[region]
        if then != now:
            was = "absent" if then is None else f"{then.n_pixels} pixels, {then.n_configurations()} grid points"
            raise RunFolderError(
                f"{where}: region {region} now has {now.n_pixels} pixels and {now.n_configurations()} grid points, "
                f"stored at the run's start: {was}; the item ids would change: use another --output")
