"""Property tests of the colour parsers: any text gives a colour in range or one InputError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.render.colours import parse_colormap, parse_colour

COLOUR_TEXT = st.one_of(
    st.text(max_size=40),
    st.from_regex(r'#[0-9a-fA-F]{1,8}', fullmatch=True),
    st.builds('rgb({}, {}, {})'.format, st.integers(-5, 300), st.integers(-5, 300),
              st.integers(-5, 300)),
    st.builds('rgba({}, {}, {}, {})'.format, st.integers(0, 255), st.integers(0, 255),
              st.integers(0, 255), st.one_of(st.floats(-1, 2), st.just(float('nan')))),
)


@settings(max_examples=400, deadline=None)
@given(COLOUR_TEXT)
def test_a_colour_is_rgb_in_range_or_one_input_error(text):
    try:
        rgb = parse_colour(text)
    except InputError as exc:
        assert '\n' not in str(exc) and 'colour' in str(exc)
        return
    assert len(rgb) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in rgb)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60),
                 st.lists(COLOUR_TEXT, min_size=0, max_size=5).map(','.join)))
def test_a_colormap_maps_0_to_1_into_colours_or_is_one_input_error(text):
    import numpy as np

    try:
        colormap = parse_colormap(text, (255, 255, 0))
    except InputError as exc:
        assert '\n' not in str(exc)
        return
    rgb = colormap.rgb(np.linspace(0.0, 1.0, 11))
    assert rgb.shape == (11, 3) and np.isfinite(rgb).all()
    assert (rgb >= 0).all() and (rgb <= 255).all()
