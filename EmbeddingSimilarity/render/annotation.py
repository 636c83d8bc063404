"""What is drawn: the similarity map and the cluster map as large_image annotations.

The similarity map is one ``griddata`` element shown as a heatmap (smooth), a choropleth (one
cell per grid cell) or a contour (levels at the cut-off and quantiles), coloured by a
:class:`~.colours.Colormap` from the calibrated cut-off up (``SimilarityMap.cutoff``, computed
once by :mod:`..query.calibration`; nothing here computes a cut-off of its own). The colour
key (:func:`.legend.colour_key`) travels with the hits: HistomicsUI draws a heatmap only in an
annotation that holds nothing else. The cluster map is one categorical ``griddata``
choropleth plus one element group per cluster (rectangles covering its cells, merged where
they touch), which HistomicsUI's annotation panel lists and toggles. The PNG pictures are in
:mod:`.overlay`.

The annotation satisfies what a real large_image server demands beyond its JSON schema:
``origin``, ``dx`` and ``dy`` are always present (the server answers 500 without them), colours
are ``rgba(r, g, b, a)`` with a plain decimal alpha, there are no NaNs (serialised with
``allow_nan=False``), and ``display.visible`` is true so HistomicsUI draws it at once.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .. import CLUSTER_TOOL_ATTRIBUTE, TOOL_ATTRIBUTE
from ..errors import InputError
from ..query.similarity import SimilarityMap
from ..slide.tiling import TileGrid
from .colours import RGB, Colormap, heatmap_positions, hex_text, parse_colormap, rgba_text
from .legend import HEATMAP_MAX_ALPHA, contour_levels
from .overlay import DISPLAYS

HEATMAP_RADIUS_CELLS = 0.7071
"""A heatmap point's glow reaches its own cell's corners (half the diagonal), no farther: enough
for neighbouring hit cells to merge, too little to paint the glass beyond a tissue edge."""
CLUSTER_FILL_ALPHA = 0.3
"""Cluster fills are translucent: the tissue under them stays readable."""
MIN_CONTOUR_CELLS = 9
"""Contours need a grid of at least 3 x 3 cells and this many cells with a value."""
CHOROPLETH_BANDS = 10


def check_display(display: str, grid: TileGrid, valid: np.ndarray) -> None:
    """``display`` is known, and a contour has enough cells to draw lines through."""
    if display not in DISPLAYS:
        raise InputError('unknown display %r; use one of %s' % (display, ', '.join(DISPLAYS)))
    if display == 'contour':
        count = int(valid.sum())
        if grid.rows < 3 or grid.cols < 3 or count < MIN_CONTOUR_CELLS:
            raise InputError('--display contour needs a grid of at least 3 x 3 cells with %d or '
                             'more tissue cells; this one has %d x %d cells, %d of them tissue; '
                             'use --display heatmap or a smaller stride'
                             % (MIN_CONTOUR_CELLS, grid.rows, grid.cols, count))


def griddata_element(grid: TileGrid, values: np.ndarray, colour: RGB | None = None, *,
                     colormap: Colormap | None = None, display: str = 'heatmap',
                     levels: list[tuple[float, str]] | None = None,
                     cutoff: float = 0.0) -> dict:
    """One ``griddata`` element of display values in [0, 1].

    heatmap and contour grid points are the cell centres; a choropleth's ``origin`` is the
    corner of cell (0, 0) (large_image draws choropleth cells from the origin), each cell one
    stride wide. A contour is stepped: bands between the ``levels``, clear below the first.
    Colour starts at the ``cutoff`` (display units); 0 (glass, no hit) is clear.
    """
    colormap = colormap or parse_colormap('single', colour or (255, 255, 0))
    ox, oy = grid.origin
    step = float(grid.stride_base)
    flat = np.round(np.nan_to_num(values.astype(np.float64)), 4).ravel()
    element: dict[str, Any] = {
        'type': 'griddata',
        'interpretation': display,
        'origin': [float(ox), float(oy), 0],
        'dx': step,
        'dy': step,
        'gridWidth': int(grid.cols),
        'values': [float(v) for v in flat],
        'normalizeRange': False,
    }
    if display == 'contour':
        start = float(cutoff) if np.isfinite(cutoff) else 0.0
        bounds = [v for v, _ in (levels or [])] or [start or 0.5]
        element['rangeValues'] = [*bounds, 1.0]
        element['colorRange'] = [rgba_text(tuple(np.rint(c)), HEATMAP_MAX_ALPHA)
                                 for c in colormap.shade(np.array(bounds), 1.0, start)[0]]
        element['stepped'] = True
        element['minColor'] = rgba_text((0, 0, 0), 0)
        element['maxColor'] = element['colorRange'][-1]
        return element
    positions, colours = colormap.annotation_range(HEATMAP_MAX_ALPHA, cutoff)
    if display == 'heatmap':
        positions = heatmap_positions(positions, cutoff)
    element['rangeValues'] = positions
    element['colorRange'] = colours
    if display == 'heatmap':
        element['radius'] = step * HEATMAP_RADIUS_CELLS
        element['scaleWithZoom'] = True
    else:
        element['origin'] = [float(ox - step / 2), float(oy - step / 2), 0]
    return element


def contour_lines(grid: TileGrid, values: np.ndarray, levels: list[tuple[float, str]],
                  colormap: Colormap) -> list[dict]:
    """Iso-lines of the display values at each level, as polylines through the cell centres,
    one group per level. HistomicsUI draws these; its griddata contour is a filled gradient."""
    if grid.rows < 2 or grid.cols < 2 or not levels:
        return []
    import contourpy

    ox, oy = grid.origin
    step = float(grid.stride_base)
    generator = contourpy.contour_generator(
        x=ox + np.arange(grid.cols) * step, y=oy + np.arange(grid.rows) * step,
        z=np.nan_to_num(values.astype(np.float64)), line_type='Separate')
    elements = []
    start = levels[0][0]
    for value, label in levels:
        colour = tuple(int(c) for c in np.rint(colormap.shade(np.array([value]), 1.0,
                                                               start)[0][0]))
        for line in generator.lines(value):
            closed = len(line) > 3 and bool(np.allclose(line[0], line[-1]))
            points = np.round(line[:-1] if closed else line, 1)
            if len(points) < 2:
                continue
            elements.append({
                'type': 'polyline',
                'points': [[float(x), float(y), 0] for x, y in points],
                'closed': closed,
                'lineColor': rgba_text(colour, 1),
                'lineWidth': 3,
                'fillColor': rgba_text(colour, 0),
                'group': 'Contour %s' % label,
                'label': {'value': '%s %.2f' % (label, value)},
                'user': {'level': value},
            })
    return elements


def build_annotation(grid: TileGrid, result: SimilarityMap, colour: RGB | None,
                     name: str, attributes: dict[str, Any], *,
                     colormap: Colormap | None = None, display: str = 'heatmap',
                     levels: list[tuple[float, str]] | None = None) -> dict:
    """The annotation document (what ``POST /annotation`` and a ``.anot`` file take), coloured
    from ``result.cutoff`` up. It holds no other element with a heatmap: HistomicsUI draws a
    heatmap only in an annotation without geojson shapes (the colour key goes with the hits)."""
    similarity = result.similarity[result.valid]
    colormap = colormap or parse_colormap('single', colour)
    if display == 'contour' and levels is None:
        levels = contour_levels(result.values, result.valid, result.cutoff)
    description = ('Cosine similarity of %d cells to %d key point(s); %s scaling from %g.'
                   % (int(result.valid.sum()), len(result.keypoint_cells), result.scaling,
                      result.threshold))
    attrs = {TOOL_ATTRIBUTE: dict(attributes,
                                  threshold=result.threshold,
                                  scaling=result.scaling,
                                  aggregation=result.aggregation,
                                  colormap=colormap.name,
                                  display=display,
                                  keypointCells=[list(c) for c in result.keypoint_cells],
                                  negativeKeypointCells=[list(c) for c in result.negative_cells],
                                  similarityRange=[float(similarity.min()), float(similarity.max())]
                                  if similarity.size else None)}
    if np.isfinite(result.cutoff):
        attrs[TOOL_ATTRIBUTE]['displayCutoff'] = round(float(result.cutoff), 6)
    if levels:
        attrs[TOOL_ATTRIBUTE]['contourLevels'] = [{'value': v, 'label': t} for v, t in levels]
    heat = griddata_element(grid, result.values, colour, colormap=colormap, display=display,
                            levels=levels, cutoff=result.cutoff)
    heat['group'] = 'Similarity map'
    return {
        'name': name or 'Embedding similarity',
        'description': description,
        'display': {'visible': True},
        'attributes': attrs,
        'elements': [heat,
                     *(value_bands(grid, result.values, colormap, result.cutoff)
                       if display == 'choropleth' else []),
                     *(contour_lines(grid, result.values, levels or [], colormap)
                       if display == 'contour' else [])],
    }


def cluster_name(cluster: int, share: float | None = None) -> str:
    """"Cluster 2", or with its share of the tissue "Cluster 2 · 31% of tissue"."""
    if share is None:
        return 'Cluster %d' % cluster
    return 'Cluster %d · %.0f%% of tissue' % (cluster, 100 * share)


def merged_rectangles(labels: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """``(label, row0, row1, col0, col1)`` rectangles (end exclusive) covering every cell with
    label >= 0: runs along each row, extended down while the next row has the same run."""
    done: list[tuple[int, int, int, int, int]] = []
    open_runs: dict[tuple[int, int, int], int] = {}
    rows, cols = labels.shape
    for row in range(rows + 1):
        runs: list[tuple[int, int, int]] = []
        if row < rows:
            line = labels[row]
            starts = np.flatnonzero(np.r_[True, line[1:] != line[:-1]])
            ends = np.r_[starts[1:], cols]
            runs = [(int(line[s]), int(s), int(e)) for s, e in zip(starts, ends, strict=True)
                    if line[s] >= 0]
        current = set(runs)
        for run in list(open_runs):
            if run not in current:
                done.append((run[0], open_runs.pop(run), row, run[1], run[2]))
        for run in runs:
            open_runs.setdefault(run, row)
    return sorted(done, key=lambda r: (r[0], r[1], r[3]))


def region_rectangles(grid: TileGrid, labels: np.ndarray, colours: list[RGB],
                      alphas: list[float], names: list[str]) -> list[dict]:
    """Filled rectangles covering the cells of each label >= 0 (merged where they touch),
    grouped by label so HistomicsUI's annotation panel lists and toggles each group."""
    ox, oy = grid.origin
    step = float(grid.stride_base)
    elements = []
    for label, row0, row1, col0, col1 in merged_rectangles(labels):
        left = max(0.0, ox + (col0 - 0.5) * step)
        top = max(0.0, oy + (row0 - 0.5) * step)
        right = min(float(grid.image_width), ox + (col1 - 0.5) * step)
        bottom = min(float(grid.image_height), oy + (row1 - 0.5) * step)
        elements.append({
            'type': 'rectangle',
            'center': [(left + right) / 2, (top + bottom) / 2, 0],
            'width': right - left,
            'height': bottom - top,
            'rotation': 0,
            'group': names[label],
            'label': {'value': names[label]},
            'lineColor': rgba_text(colours[label], 0),
            'lineWidth': 0,
            'fillColor': rgba_text(colours[label], alphas[label]),
        })
    return elements


def value_bands(grid: TileGrid, values: np.ndarray, colormap: Colormap,
                cutoff: float = 0.0) -> list[dict]:
    """A choropleth the HistomicsUI of large_image 1.35 draws: its web client ignores griddata
    ``choropleth`` (it draws heatmap and contour only), so the cells are also sent as
    rectangles in :data:`CHOROPLETH_BANDS` value bands, each band a group. Value 0 stays clear."""
    bands = np.minimum((values * CHOROPLETH_BANDS).astype(int), CHOROPLETH_BANDS - 1)
    bands = np.where(values > 0, bands, -1)
    middles = (np.arange(CHOROPLETH_BANDS) + 0.5) / CHOROPLETH_BANDS
    rgbs, shades = colormap.shade(middles, HEATMAP_MAX_ALPHA, cutoff)
    colours = [tuple(int(c) for c in np.rint(rgb)) for rgb in rgbs]
    alphas = [float(a) if a > 0 else HEATMAP_MAX_ALPHA / 2 for a in shades]
    names = ['Band %.1f-%.1f' % (i / CHOROPLETH_BANDS, (i + 1) / CHOROPLETH_BANDS)
             for i in range(CHOROPLETH_BANDS)]
    return region_rectangles(grid, bands, colours, alphas, names)


def cluster_elements(grid: TileGrid, labels: np.ndarray, colours: list[RGB],
                     names: list[str] | None = None) -> list[dict]:
    """The categorical choropleth, then each cluster's rectangles in a group of its own."""
    k = len(colours)
    ox, oy = grid.origin
    step = float(grid.stride_base)
    choropleth = {
        'type': 'griddata',
        'interpretation': 'choropleth',
        'origin': [float(ox - step / 2), float(oy - step / 2), 0],
        'dx': step,
        'dy': step,
        'gridWidth': int(grid.cols),
        'values': [float(v) for v in labels.ravel()],
        'normalizeRange': False,
        # one colour per integer value: -1 (not tissue) clear, then cluster 0..k-1
        'rangeValues': list(range(-1, k)),
        'colorRange': [rgba_text((0, 0, 0), 0)] + [rgba_text(c, CLUSTER_FILL_ALPHA)
                                                    for c in colours],
    }
    return [choropleth, *region_rectangles(grid, labels, colours, [CLUSTER_FILL_ALPHA] * k,
                                            names or [cluster_name(i) for i in range(k)])]


def build_cluster_annotation(grid: TileGrid, labels: np.ndarray, colours: list[RGB],
                             name: str, attributes: dict[str, Any],
                             names: list[str] | None = None) -> dict:
    """The cluster map document; ``attributes`` (model, K, how chosen, per-cluster stats...) go
    under ``EmbeddingClusters`` so a later run for the same model can find and update it."""
    sizes = np.bincount(labels[labels >= 0], minlength=len(colours))
    names = names or [cluster_name(i) for i in range(len(colours))]
    description = ('k-means map of %d tissue cells in %d clusters.'
                   % (int(sizes.sum()), len(colours)))
    return {
        'name': name or 'Embedding clusters',
        'description': description,
        'display': {'visible': True},
        'attributes': {CLUSTER_TOOL_ATTRIBUTE: dict(
            attributes, colours=[hex_text(c) for c in colours],
            groups=names)},
        'elements': cluster_elements(grid, labels, colours, names),
    }


def to_json(annotation: dict) -> str:
    return json.dumps(annotation, allow_nan=False, separators=(',', ':'))
