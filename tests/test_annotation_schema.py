"""Annotations this tool writes pass large_image's own annotation schema."""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from EmbeddingSimilarity.errors import InputError
from EmbeddingSimilarity.query.similarity import SimilarityMap
from EmbeddingSimilarity.render.annotation import build_annotation, to_json
from EmbeddingSimilarity.render.colours import parse_colour
from EmbeddingSimilarity.slide.tiling import plan_grid

VALIDATOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'girder',
                         'validate_annotation.py')


def _validate(girder_python: str, *paths: str) -> list[dict]:
    result = subprocess.run([girder_python, VALIDATOR, *paths], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _annotation(values: np.ndarray, colour: str) -> dict:
    grid = plan_grid(1000, 700, 224, 224, 1.0)
    similarity = np.where(values > 0, values, np.nan).astype(np.float32)
    result = SimilarityMap(similarity, values.astype(np.float32), [(0, 0)], [], 0.0, 'linear', 1)
    return build_annotation(grid, result, parse_colour(colour), 'test', {'model': 'Test'})


def test_written_annotations_pass_the_large_image_schema(girder_env_python, tmp_path, cli,
                                                         sample_slide):
    out = tmp_path / 'out'
    result = cli(sample_slide, '--model', 'Test', '--keypoints', '1000,1500', '--output-dir',
                 str(out))
    assert result.returncode == 0, result.stderr
    empty = tmp_path / 'empty.anot'  # every cell glass: values all 0, still valid
    empty.write_text(to_json(_annotation(np.zeros((4, 5)), 'rgb(0, 128, 255)')))
    reports = _validate(girder_env_python, str(out / 'cmu_small_region.similarity.anot'),
                        str(empty))
    assert [r['valid'] for r in reports] == [True, True], reports


def test_every_display_colour_map_and_cluster_map_pass_the_schema(girder_env_python,
                                                                  tmp_path):
    from EmbeddingSimilarity.render.annotation import build_cluster_annotation
    from EmbeddingSimilarity.render.colours import cluster_colours, parse_colormap

    rng = np.random.default_rng(0)
    values = rng.random((6, 7)).astype(np.float32)
    values[0, :3] = 0
    grid = plan_grid(700, 600, 100, 100, 1.0)
    result = SimilarityMap(values.copy(), values, [(1, 1)], [], 0.0, 'quantile', 1)
    paths = []
    for display, colormap in (('heatmap', 'viridis'), ('choropleth', 'viridis'),
                              ('contour', 'magma'), ('heatmap', '#2166ac,#f7f7f7,#b2182b'),
                              ('choropleth', 'single')):
        doc = build_annotation(grid, result, (255, 255, 0), display, {'model': 'Test'},
                               colormap=parse_colormap(colormap, (255, 255, 0)),
                               display=display)
        paths.append(tmp_path / ('%s-%d.anot' % (display, len(paths))))
        paths[-1].write_text(to_json(doc))
    labels = rng.integers(-1, 12, size=(6, 7))
    clusters = build_cluster_annotation(grid, labels, cluster_colours(12), 'clusters',
                                        {'model': 'Test', 'k': 12})
    paths.append(tmp_path / 'clusters.anot')
    paths[-1].write_text(to_json(clusters))
    reports = _validate(girder_env_python, *map(str, paths))
    assert [r['valid'] for r in reports] == [True] * len(paths), reports


def test_the_schema_check_catches_a_broken_annotation(girder_env_python, tmp_path):
    broken = _annotation(np.ones((4, 5)), '#00ff00')
    broken['elements'][0]['colorRange'] = ['yellow', 'rgba(0,0,0,1e-3)', '#fff']
    path = tmp_path / 'broken.anot'
    path.write_text(json.dumps(broken))
    report, = _validate(girder_env_python, str(path))
    assert not report['valid'] and 'yellow' in report['error']


@pytest.mark.parametrize('text, rgb', [('#ff0', (255, 255, 0)), ('#00FF80', (0, 255, 128)),
                                       ('rgb(1, 2, 3)', (1, 2, 3)), ('yellow', (255, 255, 0)),
                                       ('rgba(10,20,30,0.5)', (10, 20, 30))])
def test_colours_parse(text, rgb):
    assert parse_colour(text) == rgb


@pytest.mark.parametrize('text', ['', 'ff0000', '#12345', 'rgb(300, 0, 0)', 'hsl(1,2,3)',
                                  'blurple'])
def test_bad_colours_are_refused(text):
    with pytest.raises(InputError, match='colour'):
        parse_colour(text)
