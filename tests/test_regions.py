"""Region key shapes: HistomicsUI's value formats, region queries on the real slide, the
calibrated cut-off, the hit polygons and the bad inputs of issue 12.

The value formats are those of ``drawRegion`` and ``_mergeRegions`` in
``girder_large_image_annotation/web_client/views/imageViewerWidget/geojs.js`` (large_image
1.35.6, the region widget HistomicsUI 1.8.1 uses) and the cleared value of
``histomicsui/web_client/views/body/ImageView.js`` (``widgetRegion``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from test_annotation_schema import _validate

from EmbeddingSimilarity.cache import store
from EmbeddingSimilarity.cli.request import parse_points
from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.query.cells import score, shape_cells
from EmbeddingSimilarity.query.options import QueryOptions
from EmbeddingSimilarity.query.scorer import prototype
from EmbeddingSimilarity.query.shapes import format_shapes, parse_shapes

# (value as HistomicsUI sends it, kinds, vertices of the first shape)
HISTOMICSUI_VALUES = [
    # drawRegion 'point': [round(cx), round(cy)]
    ('1200,3400', ['point'], [(1200, 3400)]),
    # drawRegion default (rectangle): [left, top, width, height]
    ('100,200,300,400', ['rectangle'], [(100, 200), (400, 200), (400, 600), (100, 600)]),
    # drawRegion 'polygon': a triangle padded to 4 vertices by repeating the first
    ('10,10,50,10,30,40,10,10', ['polygon'], [(10, 10), (50, 10), (30, 40)]),
    # a pentagon: no padding
    ('0,0,10,0,12,8,5,12,-2,8', ['polygon'], [(0, 0), (10, 0), (12, 8), (5, 12), (-2, 8)]),
    # a Slicer region: centre x, y, z and radius x, y, z
    ('500,600,0,50,40,0', ['rectangle'], [(450, 560), (550, 560), (550, 640), (450, 640)]),
    # _mergeRegions of two points: [x1, y1] + [-1, -1] + [x2, y2, -1, -1]
    ('1,2,-1,-1,3,4,-1,-1', ['point', 'point'], [(1, 2)]),
    # a third point merged: the separator doubles
    ('1,2,-1,-1,3,4,-1,-1,-1,-1,5,6', ['point', 'point', 'point'], [(1, 2)]),
    # _mergeRegions of a rectangle and a point: the rectangle as its 4 corners
    ('100,200,400,200,400,600,100,600,-1,-1,7,8', ['polygon', 'point'],
     [(100, 200), (400, 200), (400, 600), (100, 600)]),
]


@pytest.mark.parametrize('value, kinds, first', HISTOMICSUI_VALUES)
def test_every_histomicsui_value_format_parses_and_round_trips(value, kinds, first):
    shapes = parse_shapes(value)
    assert [s.kind for s in shapes] == kinds
    assert list(shapes[0].vertices) == [tuple(map(float, v)) for v in first]
    assert parse_shapes(format_shapes(shapes)) == shapes
    # the same value as the list of numbers slicer_cli_web's parser hands over
    assert parse_shapes([float(v) for v in value.split(',')]) == shapes


@pytest.mark.parametrize('value', ['-1,-1', '-1,-1,-1,-1', ''])
def test_a_cleared_widget_is_no_shape(value):
    assert parse_shapes(value) == []


def test_two_points_and_a_trailing_separator_stay_points():
    """4 numbers are a rectangle unless they hold a -1,-1 separator: x,y,-1,-1 is one point."""
    assert [s.kind for s in parse_shapes('5,6,-1,-1,7,8')] == ['point', 'point']
    assert [s.kind for s in parse_shapes('5,6,-1,-1')] == ['point']
    assert parse_points([5, 6, -1, -1, 7, 8]) == [(5.0, 6.0), (7.0, 8.0)]
    with pytest.raises(InputError, match='single points'):
        parse_points([0, 0, 10, 10])


@pytest.mark.parametrize('value, message', [
    ('10,10,20,20,10,10,20,20', 'at least 3 distinct vertices'),
    ('10,10,0,5', 'no area'),
    ('1,2,3', 'x,y pairs'),
])
def test_bad_shapes_are_one_clear_error(value, message):
    with pytest.raises(InputError, match=message):
        parse_shapes(value)


@pytest.fixture(scope='module')
def test_grid(tmp_path_factory, sample_slide):
    """The real slide embedded once with the deterministic Test model (every cell)."""

    out = tmp_path_factory.mktemp('regions')
    result = run_cli(sample_slide, '--model', 'Test', '--tissue-threshold', '0', '--output-dir',
                     str(out))
    assert result.returncode == 0, result.stderr
    return str(out / 'cmu_small_region.Test.npz')


def test_a_region_query_is_the_mean_of_its_cells_point_queries(test_grid, sample_slide):
    data = store.load(test_grid)
    region = parse_shapes('600,1200,700,600')[0]
    cells = shape_cells(data.grid, region)
    assert len(cells) >= 4
    centres = [data.grid.cell_center(r, c) for r, c in cells]
    by_region = score(QueryOptions(key_regions=[region]), data, 0)
    by_points = score(QueryOptions(keypoints=centres), data, 0)
    np.testing.assert_allclose(by_region.similarity, by_points.similarity, atol=1e-5)
    # and each shape weighs the same: a point plus the region is not the points' mean
    extra = (1800.0, 2600.0)
    mixed = score(QueryOptions(keypoints=[extra], key_regions=[region]), data, 0)
    cell = data.grid.cell_of_point(*extra)
    equal = prototype(data.embeddings, [[cell], cells]).direction
    pooled = prototype(data.embeddings, [[cell] + cells]).direction
    vector = np.asarray(data.embeddings[cells[0]], np.float32)
    expected = float(vector @ equal) / float(np.linalg.norm(vector))
    assert mixed.similarity[cells[0]] == pytest.approx(expected, abs=1e-5)
    assert not np.allclose(equal, pooled)


def test_bad_region_inputs_exit_2_and_keep_the_cache(cli, tmp_path, sample_slide, test_grid):
    cases = [
        (['--keypoints', '10,10,20,20,10,10,20,20'], 'at least 3 distinct vertices'),
        (['--keypoints', '5000,5000,300,300'], 'outside the image'),
        (['--keypoints', '0,0,400,1000', '--tissue-threshold', '0.5'],
         'covers only glass'),
        (['--keypoints', '1000,1500', '--scorer', 'linear'], 'at least 2 different positive'),
        (['--positive-annotations', 'tumour'], 'needs --api-url'),
    ]
    before = Path(test_grid).read_bytes()
    for args, message in cases:
        result = cli(sample_slide, '--model', 'Test', '--input-embeddings', test_grid,
                     '--output-annotation', str(tmp_path / 'a.anot'), *args)
        assert result.returncode == 2, (args, result.stderr)
        lines = [x for x in result.stderr.splitlines()
                 if x.startswith('EmbeddingSimilarity: error:')]
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
    assert Path(test_grid).read_bytes() == before


def test_cut_off_hits_and_simple_outputs(cli, tmp_path, sample_slide, test_grid,
                                         girder_env_python):
    hits, ret = tmp_path / 'hits.anot', tmp_path / 'ret.txt'
    result = cli(sample_slide, '--model', 'Test', '--input-embeddings', test_grid,
                 '--keypoints', '1000,1500,-1,-1,600,1200,700,600', '--negative-keypoints',
                 '1800,600', '--scorer', 'linear', '--output-hits', str(hits),
                 '--output-annotation', str(tmp_path / 'map.anot'),
                 '--returnparameterfile', str(ret))
    assert result.returncode == 0, result.stderr
    values = dict(line.split(' = ') for line in ret.read_text().splitlines())
    assert values['hitAreaUnit'] == 'mm²'
    regions, share = int(values['hitRegions']), float(values['hitTissueShare'])
    assert regions >= 1 and 0 < share < 1
    doc = json.loads(hits.read_text())
    polygons = [e for e in doc['elements'] if e['type'] == 'polyline']
    assert len(polygons) == regions and all(e['closed'] for e in polygons)
    heatmap = json.loads((tmp_path / 'map.anot').read_text())
    calibration = heatmap['attributes']['EmbeddingSimilarity']['calibration']
    assert calibration['suggestedCutoff'] == pytest.approx(float(values['suggestedCutoff']))
    assert set(calibration['quantiles']) >= {'0.05', '0.5', '0.95'}
    assert -1 <= calibration['randomPairBaseline']['mean'] <= 1
    assert 'Cut-off %.4g' % float(values['suggestedCutoff']) in heatmap['description']
    assert doc['name'].startswith('Hits ≥ %.2f · %d region' % (float(values['suggestedCutoff']),
                                                              regions))
    polygons = [e for e in doc['elements'] if e['type'] == 'polyline']
    assert {e['group'] for e in polygons} == {doc['name'].rsplit(' · ', 1)[0]}
    assert [e['type'] for e in heatmap['elements']] == ['griddata']  # drawn only alone
    key = [e for e in doc['elements'] if e['group'].startswith('Colour ≥')]
    assert len(key) == 3 and key[0]['group'].startswith(
        'Colour ≥ %.2f probability: cut-off' % float(values['suggestedCutoff']))
    assert [r['valid'] for r in _validate(girder_env_python, str(hits))] == [True]


def test_the_readme_region_query_runs(cli, tmp_path):
    """The region query docs/usage.rst shows, with its outputs in tmp."""
    import re
    import shlex

    from conftest import REPO

    with open(Path(REPO) / 'docs' / 'usage.rst') as handle:
        blocks = re.findall(r'\.\. code-block:: bash\n\n((?:   .*\n)+)', handle.read())
    command, = [b for b in blocks if '--scorer linear' in b and '--output-hits' in b]
    args = shlex.split(command.replace('\\\n', ' '))
    assert args[0] == 'EmbeddingSimilarity'
    out = tmp_path / 'out'
    out.mkdir()
    args = [a.replace('out/', str(out) + '/') if a.startswith('out/') else a for a in args[1:]]
    args[args.index('--output-dir') + 1] = str(out)
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    shapes = parse_shapes(args[args.index('--keypoints') + 1])
    assert [s.kind for s in shapes] == ['polygon', 'rectangle']
    values = dict(line.split(' = ') for line in (out / 'results.txt').read_text().splitlines())
    hits = json.loads((out / 'hits.anot').read_text())
    assert len([e for e in hits['elements'] if e['type'] == 'polyline']) == int(
        values['hitRegions']) >= 1
