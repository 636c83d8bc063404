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
    """The documented rule one edge at a time, in exact integers (the test's vertices are whole
    and its points quarter pixels, so 4x scales both to integers): even-odd, and a point on the
    outline is inside."""
    px = np.rint(np.asarray(xs) * 4).astype(np.int64)
    py = np.rint(np.asarray(ys) * 4).astype(np.int64)
    inside = np.zeros(np.shape(xs), dtype=bool)
    outline = np.zeros(np.shape(xs), dtype=bool)
    vertices = [(round(x * 4), round(y * 4)) for x, y in shape.vertices]
    for first, second in zip(vertices, vertices[1:] + vertices[:1], strict=True):
        (x1, y1), (x2, y2) = sorted((first, second), key=lambda vertex: vertex[1])
        cross = (x2 - x1) * (py - y1) - (px - x1) * (y2 - y1)
        outline |= ((cross == 0) & (py >= y1) & (py <= y2)
                    & (px >= min(x1, x2)) & (px <= max(x1, x2)))
        if y1 != y2:
            inside ^= (py >= y1) & (py < y2) & (cross > 0)
    return inside | outline


def test_a_point_on_an_edge_is_inside_whatever_the_rounding():
    """Hypothesis found this one: (12.5, 51.25) lies exactly on the edge (0,54)-(50,43); a
    division put the crossing a rounding either side of it, so two paths disagreed."""
    shape = polygon([(0.0, 0.0), (0.0, 54.0), (50.0, 43.0)], 'p')
    assert shape.contains(np.array([12.5]), np.array([51.25]))[0]
    square = polygon([(10.0, 10.0), (20.0, 10.0), (20.0, 20.0), (10.0, 20.0)], 'p')
    xs = np.array([10.0, 20.0, 15.0, 15.0, 20.0, 20.5, 9.5])
    ys = np.array([15.0, 15.0, 10.0, 20.0, 20.0, 15.0, 15.0])
    assert square.contains(xs, ys).tolist() == [True] * 5 + [False] * 2


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
