"""The main job end to end on the real slide: outputs, geometry, similarity, cache reuse."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from EmbeddingSimilarity.cache import store
from EmbeddingSimilarity.cli.embedding_similarity import run
from EmbeddingSimilarity.steps.request import Request

KEYPOINT = (1000.0, 1500.0)  # stroma in the middle of the sample's tissue


@pytest.fixture(scope='module')
def sample_run(tmp_path_factory, sample_slide):
    out = tmp_path_factory.mktemp('run')
    request = Request.of(image=sample_slide, model='Test', keypoints=[KEYPOINT],
                      output_embeddings=str(out / 'e.npz'), output_annotation=str(out / 'h.anot'),
                      output_overlay=str(out / 'h.png'))
    return request, run(request)


def test_outputs_are_written_with_consistent_shapes(sample_run):
    request, outcome = sample_run
    data = store.load(request.outputs.output_embeddings)
    grid = data.grid
    # 2220 x 2967 px at 0.499 µm/px: read natively for a 0.5 µm/px model (0.2% apart)
    assert (grid.image_width, grid.image_height) == (2220, 2967)
    assert grid.factor == 1.0
    assert data.meta['scale']['requested_factor'] == pytest.approx(0.5 / 0.499)
    assert data.meta['scale']['mpp'] == pytest.approx(0.499)
    assert data.embeddings.shape == (grid.rows, grid.cols, 51) == (14, 10, 51)
    assert data.embeddings.dtype == np.float16
    assert 0 < data.embedded.sum() < grid.rows * grid.cols  # glass was skipped
    assert not data.embeddings[~data.embedded].any()
    assert data.meta['model']['name'] == 'Test'
    assert data.meta['scale']['source'] == 'mpp'
    with open(request.outputs.output_annotation) as handle:
        annotation = json.load(handle)
    # the heatmap alone: HistomicsUI draws a heatmap only in an annotation without shapes
    element, = annotation['elements']
    assert len(element['values']) == grid.rows * grid.cols
    assert element['gridWidth'] == grid.cols
    overlay = Image.open(request.outputs.output_overlay)
    # the 1024-px-high thumbnail (2220 x 2967 slide), a legend panel beside it, a caption below
    assert overlay.format == 'PNG' and overlay.size[1] > 1024
    assert overlay.size[0] > round(1024 * 2220 / 2967) + 150


def test_griddata_geometry_is_in_base_pixels(sample_run):
    request, outcome = sample_run
    grid = outcome.data.grid
    element = outcome.annotation['elements'][0]
    ox, oy, _ = element['origin']
    assert (ox, oy) == pytest.approx(grid.cell_center(0, 0))
    assert element['dx'] == element['dy'] == 224
    # the value at the key point's grid position is the largest
    row, col = grid.cell_of_point(*KEYPOINT)
    values = np.array(element['values']).reshape(grid.rows, grid.cols)
    assert values[row, col] == values.max() == 1.0
    x = ox + col * element['dx']
    y = oy + row * element['dy']
    assert abs(x - KEYPOINT[0]) <= element['dx'] / 2 and abs(y - KEYPOINT[1]) <= element['dy'] / 2


def test_similarity_is_highest_at_the_key_point(sample_run):
    _, outcome = sample_run
    result = outcome.similarity
    row, col = result.keypoint_cells[0]
    assert result.similarity[row, col] == pytest.approx(1.0, abs=1e-3)
    assert np.nanargmax(result.similarity) == row * result.similarity.shape[1] + col
    # glass cells have no value and show nothing
    glass = ~outcome.data.embedded
    assert np.isnan(result.similarity[glass]).all()
    assert (result.values[glass] == 0).all()


def test_annotation_has_what_large_image_requires(sample_run):
    _, outcome = sample_run
    annotation = outcome.annotation
    assert set(annotation) <= {'name', 'description', 'display', 'attributes', 'elements'}
    assert annotation['display'] == {'visible': True}
    element = annotation['elements'][0]
    for key in ('type', 'interpretation', 'origin', 'dx', 'dy', 'gridWidth', 'values'):
        assert key in element
    assert element['type'] == 'griddata' and element['interpretation'] == 'heatmap'
    assert len(element['origin']) == 3
    assert all(0.0 <= v <= 1.0 for v in element['values'])
    assert len(element['colorRange']) == len(element['rangeValues'])
    json.dumps(annotation, allow_nan=False)
    attrs = annotation['attributes']['EmbeddingSimilarity']
    assert attrs['model'] == 'Test' and attrs['keypoints'] == [list(KEYPOINT)]


def test_second_run_reuses_the_cache(sample_run, tmp_path):
    request, first = sample_run
    before = os.stat(request.outputs.output_embeddings).st_mtime_ns
    again = run(Request.of(image=request.image, model='Test', keypoints=[(600.0, 2600.0)],
                        output_embeddings=request.outputs.output_embeddings))
    assert again.cells_embedded == 0
    assert again.cache_source == request.outputs.output_embeddings
    assert os.stat(request.outputs.output_embeddings).st_mtime_ns == before
    assert again.similarity.keypoint_cells != first.similarity.keypoint_cells


def test_other_native_resolution_gives_the_same_grid(sample_run, slide_40x, tmp_path):
    """The same tissue scanned at 0.25 µm/px is tiled at the model's 0.5 µm/px: same cells."""
    _, native = sample_run
    outcome = run(Request.of(image=slide_40x, model='Test', keypoints=[(2 * KEYPOINT[0],
                                                                     2 * KEYPOINT[1])],
                          output_embeddings=str(tmp_path / 'e40.npz')))
    grid = outcome.data.grid
    assert grid.factor == 2.0
    assert grid.shape == native.data.grid.shape
    assert grid.cell_center(3, 4) == pytest.approx(
        tuple(2 * v for v in native.data.grid.cell_center(3, 4)), rel=1e-3)
    both = native.data.embedded & outcome.data.embedded
    assert both.sum() >= 0.9 * native.data.embedded.sum()
    a = native.similarity.similarity[both]
    b = outcome.similarity.similarity[both]
    assert np.corrcoef(a, b)[0, 1] > 0.95


def test_slide_without_scale_is_taken_as_20x(slide_no_scale, tmp_path, caplog):
    outcome = run(Request.of(image=slide_no_scale, model='Test', keypoints=[KEYPOINT]))
    assert outcome.data.meta['scale']['source'] == 'assumed'
    assert outcome.data.grid.factor == 1.0
    assert 'assuming 20x' in caplog.text


def test_keypoints_only_embedding_mode(sample_slide, tmp_path):
    outcome = run(Request.of(image=sample_slide, model='Test',
                          output_embeddings=str(tmp_path / 'only.npz')))
    assert outcome.similarity is None and outcome.annotation is None
    assert store.load(str(tmp_path / 'only.npz')).embedded.any()
