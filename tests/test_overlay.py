"""Readable heatmaps: colour maps, the three griddata displays, and the PNG with its colour bar."""

from __future__ import annotations

import numpy as np
import pytest

from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.query.similarity import SimilarityMap, scale_values
from EmbeddingSimilarity.render.annotation import build_annotation, check_display, griddata_element
from EmbeddingSimilarity.render.colours import FLOOR_ALPHA, parse_colormap
from EmbeddingSimilarity.render.legend import contour_levels, scale_legend
from EmbeddingSimilarity.render.overlay import _nearest_cells, overlay_size, tint_similarity
from EmbeddingSimilarity.render.picture import scale_bar_length, similarity_picture
from EmbeddingSimilarity.slide.source import open_slide, thumbnail
from EmbeddingSimilarity.slide.tiling import plan_grid
from EmbeddingSimilarity.slide.tissue import tissue_mask

SAMPLE_MPP = 0.499


@pytest.mark.parametrize('name', ['viridis', 'magma', 'turbo', 'coolwarm', 'VIRIDIS'])
def test_named_colour_maps_span_their_stops(name):
    cmap = parse_colormap(name)
    ends = cmap.rgb(np.array([0.0, 1.0]))
    np.testing.assert_allclose(ends, [cmap.stops[0], cmap.stops[-1]])
    # clear at 0 (glass, no hit) and below the cut-off; full colour from the cut-off up
    _, alpha = cmap.shade(np.array([0.0, 0.2, 0.3, 1.0]), 0.7, start=0.3)
    np.testing.assert_allclose(alpha, [0, 0, 0.7, 0.7], atol=1e-6)


def test_single_fades_one_colour():
    cmap = parse_colormap('single', (255, 0, 0))
    assert cmap.fades
    np.testing.assert_allclose(cmap.rgb(np.array([0.2, 0.9])), [[255, 0, 0], [255, 0, 0]])
    positions, colours = cmap.annotation_range(0.7, start=0.6)
    assert positions == [0.0, 0.6, 0.8, 1.0]
    assert colours == ['rgba(255, 0, 0, 0)', 'rgba(255, 0, 0, %g)' % (0.7 * FLOOR_ALPHA),
                       'rgba(255, 0, 0, 0.525)', 'rgba(255, 0, 0, 0.7)']


def test_a_colour_list_is_a_colour_map():
    cmap = parse_colormap('#0000ff, rgb(255, 255, 255) ,red')
    assert cmap.stops == ((0, 0, 255), (255, 255, 255), (255, 0, 0))
    np.testing.assert_allclose(cmap.rgb(np.array([0.25])), [[127.5, 127.5, 255]])


@pytest.mark.parametrize('text, message', [
    ('jet', 'unknown colormap'), ('virdis', 'unknown colormap'),
    ('#ff0000', 'at least two colours'), ('#ff0000,', "'' is not a colour"),
    ('#ff0000,#12345', "'#12345' is not a colour"), ('rgb(1,2,3,#fff', 'unbalanced'),
    ('red;blue', 'unknown colormap')])
def test_bad_colour_maps_are_one_clear_error(text, message):
    with pytest.raises(InputError, match=message) as info:
        parse_colormap(text)
    assert '\n' not in str(info.value)


def test_annotation_ranges_are_monotonic_and_paired():
    for name in ('single', 'viridis', 'turbo', '#000000,#ffffff'):
        positions, colours = parse_colormap(name).annotation_range(0.7)
        assert positions == sorted(positions) and positions[0] == 0 and positions[-1] == 1
        assert len(positions) == len(colours)
        assert colours[0].endswith(', 0)')  # value 0 (glass, below threshold) is clear


def _grid_and_values(rows=6, cols=5):
    grid = plan_grid(cols * 100, rows * 100, 100, 100, 1.0)
    values = np.linspace(0, 1, rows * cols, dtype=np.float32).reshape(rows, cols)
    return grid, values


def test_choropleth_cells_start_at_the_cell_corner():
    grid, values = _grid_and_values()
    heat = griddata_element(grid, values, colormap=parse_colormap('viridis'), display='heatmap')
    cells = griddata_element(grid, values, colormap=parse_colormap('viridis'),
                             display='choropleth')
    assert heat['origin'][:2] == [50.0, 50.0] and 'radius' in heat
    assert cells['origin'][:2] == [0.0, 0.0] and 'radius' not in cells
    assert cells['interpretation'] == 'choropleth' and cells['values'] == heat['values']
    assert cells['colorRange'] == heat['colorRange']


def test_contour_levels_and_stepped_element():
    grid, values = _grid_and_values()
    valid = np.ones(values.shape, dtype=bool)
    levels = contour_levels(values, valid, 0.5)
    assert [label for _, label in levels] == ['cut-off', 'q90', 'q99']
    assert levels[0] == (0.5, 'cut-off')  # the caller's cut-off, not one of render's own
    assert [label for _, label in contour_levels(values, valid, 0.95)] == ['cut-off', 'q99']
    numbers = [v for v, _ in levels]
    assert numbers == sorted(numbers) and all(0 < v < 1 for v in numbers)
    element = griddata_element(grid, values, colormap=parse_colormap('magma'),
                               display='contour', levels=levels)
    assert element['stepped'] is True
    assert element['rangeValues'] == [*numbers, 1.0]
    assert len(element['colorRange']) == len(element['rangeValues']) - 1


def test_contour_annotation_carries_iso_lines_per_level():
    grid, _ = _grid_and_values(8, 8)
    yy, xx = np.mgrid[:8, :8]
    values = np.clip(1 - np.hypot(yy - 3.5, xx - 3.5) / 5, 0, 1).astype(np.float32)  # a cone
    doc = build_annotation(grid, _result(values, 'linear'), (255, 255, 0), 'x', {},
                           colormap=parse_colormap('viridis'), display='contour')
    griddata, *lines = doc['elements']
    lines = [e for e in lines if e['group'].startswith('Contour')]
    levels = doc['attributes']['EmbeddingSimilarity']['contourLevels']
    assert griddata['interpretation'] == 'contour' and lines
    assert {e['group'] for e in lines} == {'Contour %s' % level['label'] for level in levels}
    centre = np.array([grid.origin[0] + 3.5 * 100, grid.origin[1] + 3.5 * 100])
    for line in lines:  # rings around the peak: inner rings for higher levels
        assert line['closed'] and line['type'] == 'polyline'
        radius = np.hypot(*(np.array(line['points'])[:, :2] - centre).T)
        assert radius.max() - radius.min() < 60  # round, to within the grid's resolution
    radii = {e['group']: np.hypot(*(np.array(e['points'])[:, :2] - centre).T).mean()
             for e in lines}
    ordered = [radii['Contour %s' % level['label']] for level in levels]
    assert ordered == sorted(ordered, reverse=True)


def test_contour_needs_enough_cells_and_display_must_be_known():
    grid, values = _grid_and_values(2, 8)
    with pytest.raises(InputError, match='at least 3 x 3 cells'):
        check_display('contour', grid, np.ones(values.shape, dtype=bool))
    grid, values = _grid_and_values()
    sparse = np.zeros(values.shape, dtype=bool)
    sparse[0, :4] = True
    with pytest.raises(InputError, match='4 of them tissue'):
        check_display('contour', grid, sparse)
    check_display('contour', grid, np.ones(values.shape, dtype=bool))
    with pytest.raises(InputError, match='unknown display'):
        check_display('hexbin', grid, sparse)


def _result(values: np.ndarray, scaling: str, cutoff: float = 0.3) -> SimilarityMap:
    similarity = (values * 0.8).astype(np.float32)
    scaled = scale_values(similarity, 0.1, scaling)
    return SimilarityMap(similarity, scaled, [(0, 0)], [], 0.1, scaling, 1, cutoff)


def test_scale_legend_says_percentile_or_cosine():
    _, values = _grid_and_values()
    title, ticks = scale_legend(_result(values, 'quantile'))
    assert 'percentile' in title and ticks[-1] == (1.0, '100th')
    title, ticks = scale_legend(_result(values, 'linear'))
    assert 'Cosine' in title and ticks[0] == (0.0, '0.10') and ticks[-1] == (1.0, '0.80')
    # the linear scorer's scores are probabilities, whichever scaling shows them
    title, ticks = scale_legend(_result(values, 'linear'), 'linear')
    assert 'Probability' in title and 'osine' not in title and ticks[-1] == (1.0, '0.80')
    title, _ = scale_legend(_result(values, 'quantile'), 'linear')
    assert 'probability <= 0.1' in title and 'cosine' not in title


def test_build_annotation_records_colour_map_and_display():
    grid, values = _grid_and_values()
    doc = build_annotation(grid, _result(values, 'quantile'), (255, 255, 0), 'x', {},
                           colormap=parse_colormap('turbo'), display='contour')
    attrs = doc['attributes']['EmbeddingSimilarity']
    assert attrs['colormap'] == 'turbo' and attrs['display'] == 'contour'
    assert [level['label'] for level in attrs['contourLevels']] == ['cut-off', 'q90', 'q99']
    default = build_annotation(grid, _result(values, 'quantile'), (255, 255, 0), 'x', {})
    assert default['elements'][0]['interpretation'] == 'heatmap'
    assert default['elements'][0]['colorRange'][-1] == 'rgba(255, 255, 0, 0.7)'


def test_choropleth_is_also_sent_as_value_bands_histomicsui_draws():
    grid, values = _grid_and_values()
    values[0, 0] = 0.0
    doc = build_annotation(grid, _result(values, 'linear'), (255, 255, 0), 'x', {},
                           colormap=parse_colormap('viridis'), display='choropleth')
    griddata, *bands = doc['elements']
    bands = [band for band in bands if band['group'].startswith('Band')]
    assert griddata['interpretation'] == 'choropleth'
    painted = np.full(values.shape, -1.0)
    for band in bands:
        low, high = (float(v) for v in band['group'].split()[1].split('-'))
        col0 = int(round((band['center'][0] - band['width'] / 2) / 100))
        row0 = int(round((band['center'][1] - band['height'] / 2) / 100))
        cols, rows = int(round(band['width'] / 100)), int(round(band['height'] / 100))
        painted[row0:row0 + rows, col0:col0 + cols] = low
        cell = _result(values, 'linear').values[row0:row0 + rows, col0:col0 + cols]
        assert ((cell >= low - 1e-6) & (cell <= high + 1e-6)).all()
    shown = _result(values, 'linear').values > 0
    assert ((painted >= 0) == shown).all()


def test_scale_bar_length_is_round_and_fits():
    assert scale_bar_length(1.0, 250) == 200
    assert scale_bar_length(10.0, 250) == 2000
    assert scale_bar_length(1000.0, 5) is None


@pytest.fixture(scope='module')
def sample_thumb(sample_slide):
    source = open_slide(sample_slide)
    metadata = source.getMetadata()
    grid = plan_grid(metadata['sizeX'], metadata['sizeY'], 224, 224, 1.0)
    width, height = overlay_size(grid, 480)
    return grid, thumbnail(source, width, height)


def _ink_run(rows: np.ndarray) -> int:
    """Longest horizontal run of near-black pixels in ``rows``."""
    dark = (rows.max(axis=2) < 40)
    best = 0
    for line in dark:
        run = 0
        for value in line:
            run = run + 1 if value else 0
            best = max(best, run)
    return best


def test_similarity_picture_has_colour_bar_scale_bar_and_caption(sample_thumb):
    grid, thumb = sample_thumb
    rng = np.random.default_rng(0)
    values = rng.random(grid.shape).astype(np.float32)
    cmap = parse_colormap('viridis')
    title, ticks = scale_legend(_result(values, 'quantile'))
    picture = similarity_picture(thumb, grid, values, cmap, title=title, ticks=ticks,
                                 points=[(1000, 1500)], slide_mpp=SAMPLE_MPP,
                                 caption='Model Test · grid 14 x 10 cells')
    th, tw = thumb.shape[:2]
    assert picture.shape[1] > tw + 150 and picture.shape[0] > th  # panel and caption
    panel = picture[:th, tw:].reshape(-1, 3).astype(int)
    top = np.rint(cmap.rgb(np.array([1.0]))[0] * 0.7 + 255 * 0.3)  # the bar's top on glass
    assert (np.abs(panel - top).max(axis=1) <= 2).sum() > 20
    # the scale bar: 200 µm at 0.499 µm/px over a thumbnail 2220 / tw times smaller
    um_per_pixel = SAMPLE_MPP * grid.image_width / tw
    expected = scale_bar_length(um_per_pixel, tw / 4) / um_per_pixel
    assert abs(_ink_run(picture[th - 20:th, :tw // 2]) - expected) <= 2
    assert picture[th:, :].min() < 100  # the caption has text
    without = similarity_picture(thumb, grid, values, cmap, title=title, ticks=ticks)
    assert _ink_run(without[th - 20:th, :tw // 2]) < expected / 2  # no µm/px, no bar


def test_displays_differ_as_described(sample_thumb):
    grid, thumb = sample_thumb
    values = np.zeros(grid.shape, dtype=np.float32)
    values[5:9, 3:7] = 1.0
    cmap = parse_colormap('magma')
    smooth = tint_similarity(thumb, grid, values, cmap, 'heatmap').astype(int)
    cells = tint_similarity(thumb, grid, values, cmap, 'choropleth').astype(int)
    lines = tint_similarity(thumb, grid, values, cmap, 'contour', [0.5]).astype(int)
    changed = [int((np.abs(x - thumb).sum(axis=2) > 30).sum()) for x in (smooth, cells, lines)]
    # the choropleth and the heatmap tint exactly the tissue of the 4 x 4 cells (no glow past
    # them, none on the glass between); the heatmap shades within them
    rows, cols = _nearest_cells(grid, thumb.shape[1], thumb.shape[0])
    block = float((values[rows[:, None], cols[None, :]] > 0).sum())
    tissue = float(((values[rows[:, None], cols[None, :]] > 0) & tissue_mask(thumb)).sum())
    assert tissue < block and abs(changed[1] - tissue) / tissue < 0.02
    assert abs(changed[0] - changed[1]) / block < 0.02
    dark_line = np.rint(cmap.shade(np.array([0.5]), 1.0)[0][0] * 0.6)  # the level's colour
    assert (np.abs(lines - dark_line).max(axis=2) == 0).sum() > 100


def test_similarity_xml_offers_colormap_and_display():
    import xml.etree.ElementTree as ET

    from EmbeddingSimilarity.cli.main import XML_PATH
    from EmbeddingSimilarity.render.overlay import DISPLAYS

    params = {p.findtext('name'): p for group in ET.parse(XML_PATH).getroot()
              .findall('parameters') for p in group if p.find('name') is not None}
    colormap, display = params['colormap'], params['display']
    # a free string: a list of colours is allowed; the names are in the description
    assert colormap.tag == 'string' and colormap.findtext('default') == 'single'
    assert all(name in colormap.findtext('description')
               for name in ('viridis', 'magma', 'turbo', 'coolwarm'))
    assert display.tag == 'string-enumeration'
    assert [e.text for e in display.findall('element')] == list(DISPLAYS)
    assert display.findtext('default') == 'heatmap'
    assert colormap.findtext('longflag') == 'colormap'
    assert display.findtext('longflag') == 'display'


def test_key_regions_are_outlined_positive_in_black_negative_in_magenta():
    grid, values = _grid_and_values()  # 500 x 600 base pixels
    thumb = np.full((600, 500, 3), 255, dtype=np.uint8)
    colormap = parse_colormap('single', (255, 255, 0))
    plain = tint_similarity(thumb, grid, values * 0, colormap)
    square = ((100.0, 100.0), (200.0, 100.0), (200.0, 200.0), (100.0, 200.0))
    other = ((300.0, 400.0), (400.0, 400.0), (400.0, 500.0), (300.0, 500.0))
    drawn = tint_similarity(thumb, grid, values * 0, colormap, regions=[square],
                            negative_regions=[other])
    assert (drawn[150, 99:102] == 0).all(axis=1).any()  # the left edge, black
    assert tuple(drawn[150, 150]) == tuple(plain[150, 150])  # the inside left as it was
    magenta = (drawn[:, :, 0] == 200) & (drawn[:, :, 1] == 0) & (drawn[:, :, 2] == 200)
    ys, xs = np.nonzero(magenta)
    assert ys.min() >= 397 and ys.max() <= 503 and xs.min() >= 297 and xs.max() <= 403
    assert magenta.sum() > 4 * 100  # all four edges
    picture = similarity_picture(thumb, grid, values, colormap, title='t', ticks=[(0, '0')],
                                 regions=[square], negative_regions=[other])
    assert picture.shape[1] > thumb.shape[1]  # the legend beside it names them


def test_heatmap_colour_stops_start_at_the_faintest_heap():
    """geojs colours a heatmap by the intensity its points heap up on a pixel, which is less
    than a hit cell's value: the cut-off's colour starts at the faintest intensity, the best
    match's at 1 (stops at the cells' values left the hits nearly clear in HistomicsUI)."""
    grid, values = _grid_and_values()
    doc = build_annotation(grid, _result(values, 'quantile', cutoff=0.6), (255, 255, 0), 'x', {})
    heat = doc['elements'][0]
    assert heat['rangeValues'][:2] == [0.0, 0.01] and heat['rangeValues'][-1] == 1.0
    assert heat['colorRange'][0].endswith(', 0)') and heat['colorRange'][1] == \
        'rgba(255, 255, 0, %g)' % (0.7 * FLOOR_ALPHA)
    assert heat['radius'] <= grid.stride_base * 2 ** 0.5 / 2 + 1e-6  # to its cell's corners
