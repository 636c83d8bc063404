"""The README's commands write the same annotation, table and return-parameter bytes as the code
did before the package was split into subpackages (``tests/data/golden``): a restructuring
moves code, not results."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

GOLDEN = os.path.join(REPO, 'tests', 'data', 'golden')
REGION = '1020,1410,1260,1410,1320,1950,1080,1980,-1,-1,1470,2640,270,240'


def _same(path: str, golden: str, replace: tuple[str, str] | None = None) -> None:
    with open(path, 'rb') as handle:
        made = handle.read()
    if replace:
        made = made.replace(replace[0].encode(), replace[1].encode())
    with open(os.path.join(GOLDEN, golden), 'rb') as handle:
        assert made == handle.read(), '%s differs from golden/%s' % (path, golden)


@pytest.fixture(scope='module')
def outputs(tmp_path_factory, sample_slide):
    """Run the README's commands once (they share nothing but the slide)."""
    folder = tmp_path_factory.mktemp('readme')
    archive = folder / 'archive'
    archive.mkdir()
    shutil.copy(sample_slide, archive / 'other.svs')
    commands = {
        'similarity': ['EmbeddingSimilarity', '--keypoints', '1000,1500', '--output-dir',
                       'similarity'],
        'regions': ['EmbeddingSimilarity', '--keypoints', REGION, '--negative-keypoints',
                    '600,2100,240,360', '--scorer', 'linear', '--output-dir', 'regions',
                    '--output-hits', 'regions/hits.anot', '--returnparameterfile',
                    'regions/results.txt'],
        'clusters': ['EmbeddingClusters', '--clusters', '4', '--output-dir', 'clusters'],
        'collection': ['CollectionSimilarity', '--keypoints', '1000,1500',
                       '--collection', 'archive', '--top-k', '20', '--output-results',
                       'collection/matches.csv'],
    }
    for name, (cli, *args) in commands.items():
        (folder / name).mkdir()
        # the Slicer CLI entry script of each CLI, as DSA runs it
        result = subprocess.run([sys.executable, os.path.join(REPO, cli, cli + '.py'),
                                 sample_slide, *args], cwd=str(folder), capture_output=True,
                                text=True, timeout=900, check=False)
        assert result.returncode == 0, (name, result.stderr[-2000:])
    return folder


def test_similarity_heatmap_is_unchanged(outputs):
    _same(outputs / 'similarity' / 'cmu_small_region.similarity.anot', 'similarity.anot')


def test_region_query_hits_and_return_parameters_are_unchanged(outputs):
    _same(outputs / 'regions' / 'cmu_small_region.similarity.anot', 'regions.anot')
    _same(outputs / 'regions' / 'hits.anot', 'regions.hits.anot')
    _same(outputs / 'regions' / 'results.txt', 'regions.results.txt')


def test_cluster_map_and_table_are_unchanged(outputs):
    _same(outputs / 'clusters' / 'cmu_small_region.clusters.anot', 'clusters.anot')
    _same(outputs / 'clusters' / 'cmu_small_region.clusters.csv', 'clusters.csv')


def test_collection_matches_are_unchanged(outputs, sample_slide):
    _same(outputs / 'collection' / 'matches.csv', 'collection.csv',
          (os.path.dirname(sample_slide), 'SAMPLE_DIR'))
