"""Cluster maps of the real sample slide: k-means on real EfficientNet-Lite0 embeddings."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from conftest import REPO

from EmbeddingSimilarity import CLUSTER_TOOL_ATTRIBUTE
from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.query import clusters
from EmbeddingSimilarity.render.annotation import build_cluster_annotation, merged_rectangles
from EmbeddingSimilarity.render.colours import CLUSTER_PALETTE, cluster_colours, parse_colour
from EmbeddingSimilarity.render.overlay import CLUSTER_ALPHA, overlay_size
from EmbeddingSimilarity.render.picture import cluster_picture
from EmbeddingSimilarity.slide.source import open_slide, thumbnail
from EmbeddingSimilarity.steps.embed import compute_embeddings
from EmbeddingSimilarity.steps.request import Request


@pytest.fixture(scope='module')
def grid_data(sample_slide, tmp_path_factory):
    """The sample slide embedded at tissue threshold 0: every cell, glass included."""
    out = tmp_path_factory.mktemp('clusters') / 'sample.npz'
    outcome = compute_embeddings(Request.of(image=sample_slide, model='efficientnet-lite0',
                                         tissue_threshold=0, output_embeddings=str(out)))
    return outcome.data


def _map(data, k, seed=0, valid=None):
    valid = data.embedded if valid is None else valid
    return clusters.cluster_grid(data.embeddings, valid, k, seed=seed, norms=data.norms)


def test_two_clusters_separate_tissue_from_glass(grid_data):
    fraction = grid_data.tissue_fraction
    assert (fraction == 0).sum() > 10 and (fraction >= 0.5).sum() > 10  # both are present
    result = _map(grid_data, 2)
    glass_cluster = int(np.bincount(result.labels[fraction == 0]).argmax())
    glass = result.labels == glass_cluster
    assert glass[fraction == 0].all(), 'every all-glass cell falls in one cluster'
    assert not glass[fraction >= 0.5].any(), 'no cell that is mostly tissue joins the glass'
    assert fraction[glass].max() < 0.1


def test_the_same_seed_gives_the_same_map(grid_data):
    first, second = _map(grid_data, 4, seed=7), _map(grid_data, 4, seed=7)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.distance, second.distance)
    # clusters are numbered by decreasing size
    assert list(first.sizes) == sorted(first.sizes, reverse=True)
    assert first.sizes.sum() == grid_data.embedded.sum()


def test_clusters_zero_chooses_k_by_silhouette(grid_data):
    result = _map(grid_data, 0)
    again = _map(grid_data, 0)
    assert result.chosen_by == 'silhouette'
    assert set(result.silhouettes) <= set(clusters.AUTO_K) and len(result.silhouettes) >= 5
    assert result.k == max(result.silhouettes, key=result.silhouettes.get)
    assert again.k == result.k
    np.testing.assert_array_equal(again.labels, result.labels)


def test_cells_that_are_not_tissue_get_minus_one(grid_data):
    valid = grid_data.embedded & (grid_data.tissue_fraction >= 0.1)
    result = _map(grid_data, 3, valid=valid)
    assert (result.labels[~valid] == -1).all() and (result.labels[valid] >= 0).all()
    assert np.isnan(result.distance[~valid]).all()
    distance = result.distance[valid]
    assert np.isfinite(distance).all() and (distance >= 0).all() and (distance <= 2).all()


def test_the_table_round_trips_to_cells(grid_data, tmp_path):
    grid = grid_data.grid
    valid = grid_data.embedded & (grid_data.tissue_fraction >= 0.1)
    result = _map(grid_data, 3, valid=valid)
    path = tmp_path / 'clusters.csv'
    clusters.write_table(str(path), grid, result, grid_data.tissue_fraction)
    with open(path, newline='') as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(clusters.TABLE_COLUMNS)
    assert len(rows) == grid.rows * grid.cols
    for row in rows:
        cell = grid.cell_of_point(float(row['x']), float(row['y']))
        assert cell == (int(row['row']), int(row['col']))
        assert int(row['cluster']) == result.labels[cell]
        assert (row['distance'] == '') == (int(row['cluster']) == -1)
    table = {(int(r['row']), int(r['col'])): r for r in rows}
    assert sum(int(r['cluster']) >= 0 for r in rows) == valid.sum()
    r, c = np.argwhere(valid)[0]
    assert float(table[(r, c)]['distance']) == pytest.approx(result.distance[r, c], abs=1e-5)


@pytest.mark.parametrize('k, message', [(1, 'out of range'), (51, 'out of range'),
                                        (-3, 'out of range')])
def test_k_out_of_range_is_refused(grid_data, k, message):
    with pytest.raises(InputError, match=message):
        _map(grid_data, k)


def test_more_clusters_than_tissue_cells_is_refused(grid_data):
    valid = np.zeros(grid_data.embedded.shape, dtype=bool)
    valid[0, :3] = True
    with pytest.raises(InputError, match='more than the 3 tissue cells'):
        _map(grid_data, 4, valid=valid)


def test_stats_give_share_and_area(grid_data):
    grid = grid_data.grid
    result = _map(grid_data, 3)
    stats = clusters.cluster_stats(result, grid, 0.499)
    assert sum(s.share for s in stats) == pytest.approx(1.0)
    cell_mm2 = (grid.stride_base * 0.499 / 1000) ** 2
    for stat, size in zip(stats, result.sizes, strict=True):
        assert stat.cells == size and stat.area_mm2 == pytest.approx(size * cell_mm2)
    assert all(s.area_mm2 is None for s in clusters.cluster_stats(result, grid, None))


def test_merged_rectangles_cover_each_cluster_exactly(grid_data):
    result = _map(grid_data, 4, valid=grid_data.embedded & (grid_data.tissue_fraction >= 0.1))
    painted = np.full(result.labels.shape, -1)
    for label, row0, row1, col0, col1 in merged_rectangles(result.labels):
        assert (painted[row0:row1, col0:col1] == -1).all(), 'rectangles do not overlap'
        painted[row0:row1, col0:col1] = label
    np.testing.assert_array_equal(painted, result.labels)


def test_cluster_annotation_has_a_choropleth_and_a_group_per_cluster(grid_data):
    grid = grid_data.grid
    result = _map(grid_data, 3, valid=grid_data.embedded & (grid_data.tissue_fraction >= 0.1))
    colours = cluster_colours(result.k)
    doc = build_cluster_annotation(grid, result.labels, colours, 'map', {'model': 'm', 'k': 3})
    choropleth, *rectangles = doc['elements']
    assert all(e['fillColor'].endswith(', 0.3)') for e in rectangles)  # translucent
    assert choropleth['interpretation'] == 'choropleth'
    assert choropleth['values'] == [float(v) for v in result.labels.ravel()]
    assert len(choropleth['colorRange']) == len(choropleth['rangeValues']) == result.k + 1
    assert {e['group'] for e in rectangles} == {'Cluster %d' % i for i in range(result.k)}
    assert doc['attributes'][CLUSTER_TOOL_ATTRIBUTE]['colours'] == list(CLUSTER_PALETTE[:3])
    for i in range(result.k):  # the group's rectangles add up to its cells (edges clipped)
        area = sum(e['width'] * e['height'] for e in rectangles if e['group'] == 'Cluster %d' % i)
        assert 0 < area <= result.sizes[i] * grid.stride_base ** 2 + 1e-6


def test_palette_starts_colour_blind_safe_and_stays_distinct():
    colours = cluster_colours(50)
    assert colours[:8] == [parse_colour(c) for c in CLUSTER_PALETTE[:8]]
    assert len(set(colours)) == 50


def test_cluster_picture_has_a_legend_swatch_per_cluster(grid_data, sample_slide):
    grid = grid_data.grid
    result = _map(grid_data, 3, valid=grid_data.embedded & (grid_data.tissue_fraction >= 0.1))
    colours = cluster_colours(result.k)
    stats = clusters.cluster_stats(result, grid, 0.499)
    width, height = overlay_size(grid, 400)
    thumb = thumbnail(open_slide(sample_slide), width, height)
    entries = ['%d  %.1f%%  %.2f mm²' % (s.cluster, 100 * s.share, s.area_mm2) for s in stats]
    picture = cluster_picture(thumb, grid, result.labels, colours, entries, title='clusters',
                              slide_mpp=0.499, caption='Model efficientnet-lite0')
    assert picture.shape[1] > thumb.shape[1] + 100  # the legend panel
    panel = picture[:, thumb.shape[1]:].reshape(-1, 3).astype(int)
    for colour in colours:
        swatch = np.rint(np.array(colour) * CLUSTER_ALPHA + 255 * (1 - CLUSTER_ALPHA))
        assert (np.abs(panel - swatch).max(axis=1) <= 1).sum() > 20, colour


def test_girder_accepts_the_cluster_map_and_updates_it_in_place(grid_data, gc, slide_item):
    """The real Girder server stores the map; a second run for the model replaces it."""
    from EmbeddingSimilarity.girder.session import GirderSession
    from EmbeddingSimilarity.query.similarity import compute
    from EmbeddingSimilarity.render.annotation import build_annotation
    from EmbeddingSimilarity.render.colours import parse_colormap

    grid = grid_data.grid
    valid = grid_data.embedded & (grid_data.tissue_fraction >= 0.1)
    session = GirderSession(gc.urlBase, gc.token)
    similarity = compute(grid_data.embeddings, valid, grid, [(1000, 1500)],
                         norms=grid_data.norms, scaling='quantile')
    heatmap = build_annotation(grid, similarity, (255, 255, 0), 'similarity',
                               {'model': 'efficientnet-lite0'},
                               colormap=parse_colormap('viridis'), display='choropleth')
    session.create_annotation(slide_item['_id'], heatmap)
    ids = []
    for k in (3, 5):
        result = _map(grid_data, k, valid=valid)
        doc = build_cluster_annotation(grid, result.labels, cluster_colours(k), 'clusters',
                                       {'model': 'efficientnet-lite0', 'k': k})
        previous = session.find_annotation(slide_item['_id'], 'efficientnet-lite0',
                                           tool=CLUSTER_TOOL_ATTRIBUTE)
        ids.append(session.update_annotation(str(previous['_id']), doc) if previous
                   else session.create_annotation(slide_item['_id'], doc))
    assert ids[0] == ids[1], 'the second map replaced the first'
    stored = gc.get('annotation/%s' % ids[1])
    elements = stored['annotation']['elements']
    assert stored['annotation']['attributes'][CLUSTER_TOOL_ATTRIBUTE]['k'] == 5
    assert elements[0]['interpretation'] == 'choropleth'
    assert {e.get('group') for e in elements[1:]} == {'Cluster %d' % i for i in range(5)}
    listed = gc.get('annotation', parameters={'itemId': slide_item['_id']})
    assert len(listed) == 2  # the similarity map is a separate annotation, untouched
    found = session.find_annotation(slide_item['_id'], 'efficientnet-lite0')
    assert found['_id'] != ids[1]


def _clusters_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, 'EmbeddingClusters/EmbeddingClusters.py', *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def test_the_cli_writes_table_annotation_and_picture_and_reuses_the_cache(sample_slide,
                                                                          tmp_path):
    from PIL import Image

    outputs = ['--output-table', str(tmp_path / 'c.csv'), '--output-annotation',
               str(tmp_path / 'c.anot'), '--output-overlay', str(tmp_path / 'c.png'),
               '--output-embeddings', str(tmp_path / 'grid.npz')]
    result = _clusters_cli(sample_slide, '--model', 'Test', '--clusters', '0', *outputs)
    assert result.returncode == 0, result.stderr
    assert 'chosen by silhouette' in result.stderr
    doc = json.loads((tmp_path / 'c.anot').read_text())
    assert doc['elements'][0]['interpretation'] == 'choropleth'
    k = doc['attributes'][CLUSTER_TOOL_ATTRIBUTE]['k']
    shares = doc['attributes'][CLUSTER_TOOL_ATTRIBUTE]['shares']
    assert {e.get('group') for e in doc['elements'][1:]} == {
        'Cluster %d · %.0f%% of tissue' % (i, 100 * shares[i]) for i in range(k)}
    rows = (tmp_path / 'c.csv').read_text().splitlines()
    assert rows[0] == 'x,y,row,col,cluster,distance,tissue_fraction' and len(rows) == 1 + 140
    with Image.open(tmp_path / 'c.png') as image:
        assert image.width > 400
    again = _clusters_cli(sample_slide, '--model', 'Test', '--clusters', '3', *outputs)
    assert again.returncode == 0, again.stderr
    assert '0 embedded now' in again.stderr and '3 clusters' in again.stderr


def test_the_cli_posts_the_map_and_updates_it_in_place(girder_server, gc, slide_item,
                                                      sample_slide, tmp_path):
    """Two runs through the CLI against the real server: one cluster map for the model, updated
    in place (a new K), and a heatmap on the same item left alone."""
    girder = ['--api-url', girder_server['apiUrl'], '--girder-token', gc.token, '--image-id',
              slide_item['fileId'], '--model', 'Test']
    heatmap = subprocess.run([sys.executable, '-m', 'EmbeddingSimilarity', sample_slide,
                              '--keypoints', '1000,1500', *girder], cwd=REPO,
                             capture_output=True, text=True, timeout=600, check=False)
    assert heatmap.returncode == 0, heatmap.stderr
    ids = []
    for k in ('3', '5'):
        result = _clusters_cli(sample_slide, '--clusters', k, *girder, '--output-annotation',
                               str(tmp_path / 'c.anot'), '--keep-output-files', 'true')
        assert result.returncode == 0, result.stderr
        maps = [a for a in gc.get('annotation', parameters={'itemId': slide_item['_id']})
                if CLUSTER_TOOL_ATTRIBUTE in a['annotation'].get('attributes', {})]
        assert len(maps) == 1
        ids.append(maps[0]['_id'])
        # kept on request: an empty list, since the map is posted (not ingested twice)
        assert json.loads((tmp_path / 'c.anot').read_text()) == []
    assert ids[0] == ids[1]
    stored = gc.get('annotation/%s' % ids[1])['annotation']
    assert stored['attributes'][CLUSTER_TOOL_ATTRIBUTE]['k'] == 5
    similarity = [a for a in gc.get('annotation', parameters={'itemId': slide_item['_id']})
                  if 'EmbeddingSimilarity' in a['annotation'].get('attributes', {})]
    assert len(similarity) == 1


@pytest.mark.parametrize('args, words', [
    (['--clusters', '1'], '--clusters 1 is out of range'),
    (['--clusters', '51'], 'out of range'),
    (['--tissue-threshold', '0.99', '--clusters', '50'], 'tissue cells'),
])
def test_bad_cluster_requests_are_one_line_and_lose_nothing(sample_slide, tmp_path, args, words):
    (tmp_path / 'keep.csv').write_text('mine')
    result = _clusters_cli(sample_slide, '--model', 'Test', '--output-table',
                           str(tmp_path / 'keep.csv'), '--output-dir', str(tmp_path), *args)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1 and errors[0].startswith('EmbeddingClusters: error: ')
    assert words in errors[0], errors[0]
    assert 'Traceback' not in result.stderr
    assert (tmp_path / 'keep.csv').read_text() == 'mine'


CLUSTERS_XML = os.path.join(REPO, 'EmbeddingSimilarity', 'EmbeddingClusters.xml')
SIMILARITY_XML = os.path.join(REPO, 'EmbeddingSimilarity', 'EmbeddingSimilarity.xml')


def _groups(path: str) -> dict[str, ET.Element]:
    return {group.findtext('label'): group for group in ET.parse(path).getroot()
            .findall('parameters')}


def test_clusters_xml_shares_the_model_tiling_and_girder_options():
    ours, theirs = _groups(CLUSTERS_XML), _groups(SIMILARITY_XML)
    for label in ('Tiling and scale', 'Compute', 'Compute on a Dask cluster'):
        assert ET.tostring(ours[label]) == ET.tostring(theirs[label]), label
    assert ([p.findtext('longflag') for p in ours['For developers']]
            == [p.findtext('longflag') for p in theirs['For developers']])
    params = {p.findtext('name'): p for group in ours.values() for p in group
              if p.find('name') is not None}
    similarity = {p.findtext('name'): p for group in theirs.values() for p in group
                  if p.find('name') is not None}
    assert ET.tostring(params['model']) == ET.tostring(similarity['model'])
    clusters_param = params['clusters']
    assert clusters_param.tag == 'integer' and clusters_param.findtext('default') == '0'
    assert clusters_param.find('constraints').findtext('maximum') == '50'
    table = params['outputTableFile']
    assert table.get('fileExtensions') == '.csv' and table.findtext('channel') == 'output'
    annotation = [p for name, p in params.items() if name.endswith('AnnotationFile')]
    assert len(annotation) == 1 and annotation[0].get('fileExtensions') == '.anot'
    assert 'keypoints' not in params


def test_clusters_xml_parses_with_slicer_cli_web(tmp_path):
    from slicer_cli_web import CLIArgumentParser
    from slicer_cli_web.ctk_cli_adjustment import CLIModule

    module = CLIModule(CLUSTERS_XML)
    index_params, optional, _ = module.classifyParameters()
    assert [p.name for p in index_params] == ['inputImageFile']
    assert {'clusters', 'seed', 'outputTableFile', 'outputOverlayFile'} <= {
        p.name for p in optional}
    args = CLIArgumentParser(CLUSTERS_XML).parse_args(
        ['slide.svs', '--clusters', '7', '--output-table', str(tmp_path / 't.csv'),
         '--model', 'Test', '--tissue-threshold', '0'])
    assert args.clusters == 7 and args.outputTableFile.endswith('t.csv')
    assert args.model == 'Test' and args.tissueThreshold == 0


@pytest.mark.parametrize('seed, words', [('-1', 'out of range'), ('4294967296', 'out of range'),
                                         ('1e23', 'not a value of the right type')])
def test_a_seed_out_of_range_is_one_line(sample_slide, seed, words):
    result = _clusters_cli(sample_slide, '--model', 'Test', '--seed', seed)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and 'error:' in errors[0] and words in errors[0], errors
