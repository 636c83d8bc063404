"""Hits as editable polygons: the connected regions of cells at or above the cut-off, as closed
polyline elements (with holes) in base-image pixels, which HistomicsUI can edit, count and
measure.

The outline of a region is the 0.5 level (contourpy's marching squares) of the hit mask sampled
twice per cell and axis, at a quarter cell from its centre: it runs along the cell borders and
cuts each corner diagonally by a quarter cell (the smoothing), so a lone cell is an octagon of
7/8 its area and a staircase becomes a smooth edge. Collinear vertices are then dropped (the
simplification). The first and last cell of each axis may stick out of the image: their column
(row) is squeezed onto the image by a monotone piecewise-linear map of each axis, which keeps
every ring simple (clipping the points instead folded rings over themselves: a ring then drew
straight lines across the tissue).
"""

from __future__ import annotations

import numpy as np

from ..slide.tiling import TileGrid
from .calibration import percentiles
from .components import boxes, label

HIT_COLOUR = 'rgb(0, 255, 255)'
HIT_FILL = 'rgba(0, 255, 255, 0.15)'


def _simplify(ring: np.ndarray) -> np.ndarray:
    """Drop the closing repeat and every vertex on the straight line through its neighbours."""
    if len(ring) > 1 and np.allclose(ring[0], ring[-1]):
        ring = ring[:-1]
    if len(ring) < 4:
        return ring
    before, after = np.roll(ring, 1, axis=0), np.roll(ring, -1, axis=0)
    cross = ((ring[:, 0] - before[:, 0]) * (after[:, 1] - before[:, 1])
             - (ring[:, 1] - before[:, 1]) * (after[:, 0] - before[:, 0]))
    keep = np.abs(cross) > 1e-6 * max(1.0, float(np.abs(ring).max())) ** 2
    return ring[keep] if keep.sum() >= 3 else ring


def hit_outlines(grid: TileGrid, hits: np.ndarray, first: tuple[int, int] = (0, 0)
                 ) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """(outer ring, holes) of each connected hit region, in base pixels (rings not closed);
    ``hits`` may be a crop of the grid whose top left cell is ``first``."""
    import contourpy

    if not hits.any():
        return []
    step = grid.stride_base
    ox, oy = (o + f * step for o, f in zip(grid.origin, first[::-1], strict=True))
    z = np.pad(np.kron(hits.astype(np.float64), np.ones((2, 2))), 1)
    xs = ox - 0.75 * step + np.arange(z.shape[1]) * step / 2
    ys = oy - 0.75 * step + np.arange(z.shape[0]) * step / 2
    generator = contourpy.contour_generator(xs, ys, z, name='serial', fill_type='OuterOffset')
    polygons, offsets = generator.filled(0.5, 2.0)
    out = []
    for raw, offset in zip(polygons, offsets, strict=True):
        points = np.stack([_squeeze(raw[:, 0], grid.origin[0], step, grid.cols,
                                    grid.image_width),
                           _squeeze(raw[:, 1], grid.origin[1], step, grid.rows,
                                    grid.image_height)], axis=1)
        rings = [_simplify(points[a:b])
                 for a, b in zip(offset[:-1], offset[1:], strict=True)]
        rings = [ring for ring in rings if len(ring) >= 3]
        if rings:
            out.append((rings[0], rings[1:]))
    return out


def _squeeze(values: np.ndarray, origin: float, step: float, cells: int,
             size: float) -> np.ndarray:
    """Coordinates along one axis with the grid's outer borders mapped onto [0, size]: the
    identity between a quarter cell inside the image's edges, linear beyond; monotone, so
    rings stay simple."""
    low, high = origin - step / 2, origin + (cells - 0.5) * step
    inside_low, inside_high = max(low, 0.0), min(high, float(size))
    near_low, near_high = inside_low + step / 4, inside_high - step / 4
    if near_low >= near_high:  # an image smaller than half a cell: nothing to keep straight
        return np.clip(values, 0.0, size)
    knots = [low - step, low, near_low, near_high, high, high + step]
    mapped = [inside_low - step, inside_low, near_low, near_high, inside_high,
              inside_high + step]
    return np.interp(values, knots, mapped)


def _coordinates(ring: np.ndarray) -> list[list[float]]:
    return [[round(float(x), 2), round(float(y), 2), 0] for x, y in ring]


def _regions(grid: TileGrid, hits: np.ndarray, scores: np.ndarray | None):
    """(outer, holes, stats) of each 4-connected hit region, contoured on its own crop."""
    labels, count = label(hits)
    ranks = percentiles(scores) if scores is not None else None
    for index, box in enumerate(boxes(labels, count), 1):
        mine = labels[box] == index
        stats = {'cells': int(mine.sum())}
        if scores is not None:
            stats.update(meanScore=round(float(np.mean(scores[box][mine])), 6),
                         meanPercentile=round(float(np.mean(ranks[box][mine])), 2))
        for outer, holes in hit_outlines(grid, mine, (box[0].start, box[1].start)):
            yield outer, holes, stats


def hit_elements(grid: TileGrid, hits: np.ndarray, mpp: float | None,
                 scores: np.ndarray | None = None, group: str = 'Hits') -> list[dict]:
    """One closed polyline per hit region, largest first, labelled with its area; its ``user``
    record holds the area, the cell count and (given ``scores``) their mean score and mean
    percentile among the tissue cells."""
    elements = []
    for index, (outer, holes, stats) in enumerate(
            sorted(_regions(grid, hits, scores), key=lambda o: -_area(o[0])), 1):
        area = _area(outer) - sum(_area(hole) for hole in holes)
        size = ('%.4g mm²' % (area * mpp ** 2 / 1e6)) if mpp else '%.0f px²' % area
        element = {'type': 'polyline', 'closed': True, 'points': _coordinates(outer),
                   'lineColor': HIT_COLOUR, 'lineWidth': 2, 'fillColor': HIT_FILL,
                   'group': group, 'label': {'value': 'hit %d (%s)' % (index, size)},
                   'user': dict(stats, areaPixels=round(area, 1))}
        if holes:
            element['holes'] = [_coordinates(hole) for hole in holes]
        elements.append(element)
    return elements


def _area(ring: np.ndarray) -> float:
    x, y = ring[:, 0], ring[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def build_hits_annotation(grid: TileGrid, hits: np.ndarray, mpp: float | None, name: str,
                          description: str, attributes: dict,
                          scores: np.ndarray | None = None) -> dict:
    """The hits annotation, ``name`` (the cut-off, regions and share) also naming its
    elements' group, so HistomicsUI's panel shows the numbers."""
    return {'name': name, 'description': description,
            'attributes': dict(attributes), 'display': {'visible': True},
            'elements': hit_elements(grid, hits, mpp, scores, name.rsplit(' · ', 1)[0])}
