"""Property tests of the Slicer region parser: any list of numbers (or any text) gives shapes
that round-trip through HistomicsUI's format, or one InputError; never another exception."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.query.shapes import format_shapes, parse_shapes

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
