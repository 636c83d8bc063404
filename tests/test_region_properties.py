"""Property tests of the Slicer region parser: any list of numbers (or any text) gives shapes
that round-trip through HistomicsUI's format, or one InputError; never another exception."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import EmbeddingSimilarity.query.shapes as shapes_module
from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.query.shapes import format_shapes, parse_shapes, polygon

NUMBERS = st.lists(st.one_of(st.integers(-3, 5000).map(float), st.just(-1.0),
                             st.floats(allow_nan=True, allow_infinity=True, width=32)),
                   max_size=30)


@settings(max_examples=500, deadline=None)
@given(NUMBERS)
def test_numbers_give_round_tripping_shapes_or_one_input_error(values):
    try:
        shapes = parse_shapes(values)
    except InputError as exc:
        assert '\n' not in str(exc)
        return
    for shape in shapes:
        assert all(math.isfinite(x) and math.isfinite(y) for x, y in shape.vertices)
    assert parse_shapes(format_shapes(shapes)) == shapes


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='0123456789-,. e+naif', max_size=40))
def test_text_gives_shapes_or_one_input_error(text):
    try:
        parse_shapes(text)
    except InputError as exc:
        assert '\n' not in str(exc)


def _contains_by_edges(shape, xs, ys):
    """The even-odd rule one edge at a time (the plain reading of it)."""
    inside = np.zeros(np.shape(xs), dtype=bool)
    vertices = shape.vertices
    for (x1, y1), (x2, y2) in zip(vertices, vertices[1:] + vertices[:1], strict=True):
        if y1 == y2:
            continue
        crosses = (ys >= min(y1, y2)) & (ys < max(y1, y2))
        inside ^= crosses & (xs < x1 + (ys - y1) * (x2 - x1) / (y2 - y1))
    return inside


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=3, max_size=40,
                unique=True),
       st.integers(1, 6))
def test_blocked_containment_equals_the_edge_by_edge_rule(vertices, block):
    try:
        shape = polygon([(float(x), float(y)) for x, y in vertices], 'p')
    except InputError:
        return
    grid = np.mgrid[0:61:3, 0:61:3].astype(float)
    xs, ys = grid[0] + 0.5, grid[1] + 0.25
    saved = shapes_module.EDGE_BLOCK
    shapes_module.EDGE_BLOCK = block * xs.size  # several blocks of edges, like a huge outline
    try:
        assert np.array_equal(shape.contains(xs, ys), _contains_by_edges(shape, xs, ys))
    finally:
        shapes_module.EDGE_BLOCK = saved
