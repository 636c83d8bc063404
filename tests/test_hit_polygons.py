"""Hits that hold: every hit polygon is a simple ring (holes as holes), one element per
connected region, covering exactly the hit cells, inside the image even where the grid's last
cells stick out of it; and the map, the contour's cut-off line and the hits agree."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from EmbeddingSimilarity.query.calibration import Calibration, shown
from EmbeddingSimilarity.query.components import label
from EmbeddingSimilarity.query.hits import hit_elements, hit_outlines
from EmbeddingSimilarity.query.similarity import SimilarityMap, scale_values
from EmbeddingSimilarity.render.annotation import build_annotation
from EmbeddingSimilarity.render.colours import parse_colormap
from EmbeddingSimilarity.render.overlay import HIT_INK, _nearest_cells, tint_similarity
from EmbeddingSimilarity.slide.tiling import plan_grid


def _orient(a, b, c) -> float:
    return float(np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])))


def _crossings(first: np.ndarray, second: np.ndarray | None = None) -> int:
    """Proper crossings between the edges of one ring (``second`` None) or two rings."""
    rings = [first] if second is None else [first, second]
    edges = [[(r[i], r[(i + 1) % len(r)]) for i in range(len(r))] for r in rings]
    pairs = ([(i, j) for i in range(len(edges[0])) for j in range(i + 2, len(edges[0]))
              if not (i == 0 and j == len(edges[0]) - 1)] if second is None else
             [(i, j) for i in range(len(edges[0])) for j in range(len(edges[1]))])
    other = edges[0] if second is None else edges[1]
    count = 0
    for i, j in pairs:
        (p, q), (r, s) = edges[0][i], other[j]
        if _orient(p, q, r) * _orient(p, q, s) < 0 and _orient(r, s, p) * _orient(r, s, q) < 0:
            count += 1
    return count


def _inside(ring: np.ndarray, x: float, y: float) -> bool:
    xs, ys = ring[:, 0], ring[:, 1]
    xn, yn = np.roll(xs, -1), np.roll(ys, -1)
    straddle = (ys > y) != (yn > y)
    with np.errstate(divide='ignore', invalid='ignore'):
        at = xs + (y - ys) * (xn - xs) / (yn - ys)
    return bool(np.sum(straddle & (x < at)) % 2)


masks = st.integers(2, 7).flatmap(lambda rows: st.integers(2, 7).flatmap(
    lambda cols: st.tuples(st.lists(st.booleans(), min_size=rows * cols,
                                    max_size=rows * cols).map(
        lambda bits: np.array(bits).reshape(rows, cols)),
        st.integers(0, 99), st.integers(0, 99))))


@settings(max_examples=120, deadline=None)
@given(masks)
def test_hit_polygons_are_simple_rings_covering_exactly_the_hits(case):
    hits, cut_x, cut_y = case
    rows, cols = hits.shape
    # the image ends somewhere inside the last cell, as a real slide's does
    grid = plan_grid(cols * 100 - cut_x, rows * 100 - cut_y, 100, 100, 1.0)
    hits = hits[:grid.rows, :grid.cols]
    outlines = hit_outlines(grid, hits)
    elements = hit_elements(grid, hits, None)
    assert len(elements) >= label(hits)[1]  # each region its own element (or more)
    for outer, holes in outlines:
        assert _crossings(outer) == 0, outer
        for hole in holes:
            assert _crossings(hole) == 0 and _crossings(outer, hole) == 0
            assert all(_inside(outer, x, y) for x, y in hole)  # holes lie inside
        for ring in (outer, *holes):
            assert ring[:, 0].min() >= 0 and ring[:, 0].max() <= grid.image_width
            assert ring[:, 1].min() >= 0 and ring[:, 1].max() <= grid.image_height
    for (row, col), hit in np.ndenumerate(hits):  # the middle of each cell's visible part
        left, top, right, bottom = grid.cell_box(row, col)
        x = (max(left, 0) + min(right, grid.image_width)) / 2
        y = (max(top, 0) + min(bottom, grid.image_height)) / 2
        covering = sum(_inside(o, x, y) and not any(_inside(h, x, y) for h in hs)
                       for o, hs in outlines)
        assert covering == int(hit), (row, col)


def _quantile_case():
    grid = plan_grid(1000, 800, 100, 100, 1.0)
    yy, xx = np.mgrid[:grid.rows, :grid.cols]
    similarity = np.clip(1 - np.hypot(yy - 3, xx - 4) / 6, 0, 1).astype(np.float32)
    similarity[0, :3] = np.nan  # glass
    values = scale_values(similarity, 0.0, 'quantile')
    result = SimilarityMap(similarity, values, [(3, 4)], [], 0.0, 'quantile', 1)
    cutoff = 0.55
    hits = np.isfinite(similarity) & (similarity >= cutoff)
    calibration = Calibration(cutoff, 0.0, {}, {}, hits, 1, 0.0, 'px²', float(hits.mean()))
    return grid, result, calibration, hits


def test_contour_cutoff_line_png_and_hits_agree_under_quantile_scaling():
    grid, result, calibration, hits = _quantile_case()
    view = shown(result, calibration)
    assert 0 < view.cutoff < 1
    assert ((view.values >= view.cutoff) & (view.values > 0) == hits).all()
    doc = build_annotation(grid, view, (255, 255, 0), 'x', {},
                           colormap=parse_colormap('viridis'), display='contour')
    levels = doc['attributes']['EmbeddingSimilarity']['contourLevels']
    assert levels[0] == {'value': round(view.cutoff, 4), 'label': 'cut-off'}
    lines = [e for e in doc['elements'] if e.get('group') == 'Contour cut-off']
    assert lines
    ox, oy = grid.origin
    for line in lines:  # every vertex lies between a hit cell and a cell that is not a hit
        for x, y, _ in line['points']:
            col, row = (x - ox) / 100, (y - oy) / 100
            if float(col).is_integer():
                ends = [(int(np.floor(row)), int(col)), (int(np.ceil(row)), int(col))]
            else:
                ends = [(int(row), int(np.floor(col))), (int(row), int(np.ceil(col)))]
            assert len({bool(hits[e]) for e in ends}) == 2 or (
                ends[0] == ends[1] and hits[ends[0]]), (x, y, ends)
    thumb = np.zeros((800, 1000, 3), dtype=np.uint8)
    thumb[:] = (190, 110, 170)  # all tissue (glass pixels are never coloured)
    thumb[700:, :100] = 250  # but for a patch of glass
    tinted = tint_similarity(thumb, grid, view.values, parse_colormap('viridis'), 'heatmap',
                             cutoff=view.cutoff)
    rows, cols = _nearest_cells(grid, 1000, 800)
    hit_pixels = hits[rows[:, None], cols[None, :]]
    expected = hit_pixels & (thumb[:, :, 1] < 200)
    outline = (tinted == HIT_INK).all(axis=2)  # the hits' outline, along the cell borders
    near = hit_pixels.copy()  # the hit pixels grown by 2 pixels (a 5 x 5 square)
    for axis in (0, 1):
        near = np.logical_or.reduce([np.roll(near, shift, axis) for shift in range(-2, 3)])
    assert outline.any() and not (outline & ~near).any()
    coloured = np.abs(tinted.astype(int) - thumb).sum(axis=2) > 0
    assert (coloured[~outline] == expected[~outline]).all()
