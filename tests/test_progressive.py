"""Coarse-to-fine embedding: the levels, the preview fill, and a final grid equal to one pass."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_girder import _annotations

from EmbeddingSimilarity.query.cells import score
from EmbeddingSimilarity.steps.embed import compute_embeddings
from EmbeddingSimilarity.steps.progressive import fill_from_neighbours, levels, preview_map, wanted
from EmbeddingSimilarity.steps.request import Request

KEYPOINT = '1000,1500'


def test_levels_partition_the_cells_coarse_to_fine():
    rng = np.random.default_rng(0)
    todo = rng.random((13, 17)) > 0.3
    parts = levels(todo)
    assert len(parts) == 3
    assert (sum(p.astype(int) for p in parts) == todo).all()  # disjoint and complete
    rows, cols = np.nonzero(parts[0])
    assert (rows % 4 == 0).all() and (cols % 4 == 0).all()
    rows, cols = np.nonzero(parts[1])
    assert (rows % 2 == 0).all() and (cols % 2 == 0).all()
    assert not (parts[1] & (np.arange(13)[:, None] % 4 == 0)
                & (np.arange(17)[None, :] % 4 == 0)).any()
    assert levels(np.zeros((3, 3), bool)) == []
    first = np.zeros((13, 17), bool)
    first[5, 7] = first[11, 3] = True  # the query's cells join the first level
    parts = levels(todo | first, first=first)
    assert parts[0][5, 7] and parts[0][11, 3]
    assert (sum(p.astype(int) for p in parts) == (todo | first)).all()


def test_waiting_cells_take_their_nearest_embedded_neighbour():
    embeddings = np.zeros((5, 5, 2), np.float16)
    have = np.zeros((5, 5), bool)
    embeddings[0, 0] = (1, 0)
    embeddings[4, 4] = (0, 1)
    have[0, 0] = have[4, 4] = True
    need = np.ones((5, 5), bool)
    need[2, 4] = False  # glass: stays empty
    filled, mask = fill_from_neighbours(embeddings, have, need)
    assert (mask == need).all()
    assert tuple(filled[1, 1]) == (1, 0) and tuple(filled[0, 2]) == (1, 0)
    assert tuple(filled[3, 3]) == (0, 1) and tuple(filled[4, 2]) == (0, 1)
    assert not filled[2, 4].any()
    assert (embeddings[1, 1] == 0).all()  # the input is untouched


def test_progressive_only_by_default_when_posting():
    assert wanted('auto', posting=True) and not wanted('auto', posting=False)
    assert wanted('true', posting=False) and not wanted('false', posting=True)


def test_progressive_run_equals_a_one_pass_run(sample_slide):
    seen = []
    request = Request.of(image=sample_slide, model='Test', stride=112, tissue_threshold=0.1,
                      keypoints=[(1000.0, 1500.0)])

    def on_level(data, todo):
        seen.append(data.embedded.copy())
        assert data.embedded[data.grid.cell_of_point(1000, 1500)]  # the query came first
        preview = preview_map(score(request.query, data, request.tiling.tissue_threshold), todo)
        assert (np.isfinite(preview.similarity) == (todo | data.embedded)).all()


    progressive = compute_embeddings(request, on_level=on_level).data
    one_pass = compute_embeddings(request).data
    assert len(seen) == 2  # after the 4th and the 2nd rows/columns; not after the last level
    rows, cols = np.nonzero(seen[0])
    coarse = (rows % 4 == 0) & (cols % 4 == 0)
    assert coarse.sum() > 5 and (~coarse).sum() <= 1  # the 4th rows/columns and the key point
    assert seen[1].sum() > seen[0].sum()
    assert (progressive.embedded == one_pass.embedded).all()
    assert np.array_equal(progressive.embeddings, one_pass.embeddings)
    assert np.array_equal(progressive.norms, one_pass.norms)


def test_cli_writes_previews_then_the_final_map(cli, sample_slide, tmp_path):
    anot = tmp_path / 'h.anot'
    npz = tmp_path / 'e.npz'
    result = cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--stride', '112',
                 '--progressive', 'true', '--output-annotation', str(anot),
                 '--output-embeddings', str(npz))
    assert result.returncode == 0, result.stderr
    final = json.loads(anot.read_text())
    assert 'Preview' not in final['description']
    assert 'preview' not in final['attributes']['EmbeddingSimilarity']
    assert 'published preview heatmap 1 (preview: ' in result.stderr
    assert 'published preview heatmap 2' in result.stderr
    assert 'published preview heatmap 3' not in result.stderr


def test_girder_preview_is_updated_in_place_by_the_final_map(cli, girder_server, gc,
                                                             slide_item, sample_slide):
    result = cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--stride', '112',
                 '--api-url', girder_server['apiUrl'], '--girder-token', gc.token,
                 '--image-id', slide_item['fileId'])
    assert result.returncode == 0, result.stderr
    assert 'published preview heatmap 2' in result.stderr  # auto = on when posting
    listed = _annotations(gc, slide_item['_id'])  # the heatmap (the hit polygons are apart)
    assert len(listed) == 1
    final = gc.get('annotation/%s' % listed[0]['_id'])
    assert final['_version'] >= 2  # posted as a preview, then updated
    assert 'Preview' not in final['annotation']['description']
    assert 'preview' not in final['annotation']['attributes']['EmbeddingSimilarity']


@pytest.mark.parametrize('value', ['yes', 'TRUE'])
def test_bad_progressive_value_is_one_clear_line(cli, sample_slide, value):
    result = cli(sample_slide, '--model', 'Test', '--progressive', value)
    assert result.returncode != 0
    assert 'progressive' in result.stderr
