"""The README's commands write the same annotations, tables and return parameters as the code did
before the package was split into subpackages (``tests/data/golden``): a restructuring moves code,
not results.

At the restructuring commit the files were byte-identical. Since then the scoring pass computes
norms with a BLAS dot per row, which moves some scores in their 7th significant digit, so numbers
are compared to a relative 1e-5 and everything else (keys, names, colours, counts, order) exactly.

The commands run at ``--precision fp32``: the default (``auto``) is bf16 autocast on a CPU with
native bf16 (AVX512-BF16, AMX) and fp32 elsewhere, so its numbers depend on the CPU the tests
land on (bf16 moves cosine scores in the 3rd digit). The golden files hold the fp32 numbers.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

GOLDEN = os.path.join(REPO, 'tests', 'data', 'golden')
REGION = '1020,1410,1260,1410,1320,1950,1080,1980,-1,-1,1470,2640,270,240'


RTOL = 1e-5


def _values(text: str, name: str):
    """The parsed content: JSON for annotations, rows of fields for tables and parameters."""
    if name.endswith('.anot'):
        return json.loads(text)
    return [re.split(r'[,=]', line) for line in text.splitlines()]


def _equal(made, want, where: str = '') -> list[str]:
    """Where ``made`` and ``want`` differ: numbers beyond RTOL, anything else at all."""
    if isinstance(want, dict) and isinstance(made, dict):
        if made.keys() != want.keys():
            return ['%s keys %s != %s' % (where, sorted(made), sorted(want))]
        return [d for key in want for d in _equal(made[key], want[key], '%s/%s' % (where, key))]
    if isinstance(want, list) and isinstance(made, list):
        if len(made) != len(want):
            return ['%s has %d items, not %d' % (where, len(made), len(want))]
        return [d for i, (m, w) in enumerate(zip(made, want, strict=True))
                for d in _equal(m, w, '%s[%d]' % (where, i))]
    number = _number(want)
    if number is not None and _number(made) is not None:
        ok = math.isclose(_number(made), number, rel_tol=RTOL, abs_tol=1e-9)
        return [] if ok else ['%s: %r != %r' % (where, made, want)]
    return [] if made == want else ['%s: %r != %r' % (where, made, want)]


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r'\s*-?\d+\.\d*(e-?\d+)?\s*', value):
        return float(value)
    return None


def _same(path: str, golden: str, replace: tuple[str, str] | None = None) -> None:
    with open(path) as handle:
        made = handle.read()
    if replace:
        made = made.replace(*replace)
    with open(os.path.join(GOLDEN, golden)) as handle:
        want = handle.read()
    differences = _equal(_values(made, golden), _values(want, golden))
    assert not differences, '%s differs from golden/%s: %s' % (path, golden, differences[:5])


def test_the_comparison_sees_a_changed_value_name_or_row():
    doc = {'name': 'a', 'elements': [{'values': [0.5, 0.25]}], 'count': 3}
    assert not _equal(json.loads(json.dumps(doc)), doc)
    assert _equal({**doc, 'name': 'b'}, doc)
    assert _equal({**doc, 'count': 4}, doc)
    assert _equal({**doc, 'elements': [{'values': [0.5, 0.2501]}]}, doc)
    assert not _equal({**doc, 'elements': [{'values': [0.5, 0.25000001]}]}, doc)
    assert _equal(_values('a,1.0\nb,2.0', 'x.csv'), _values('a,1.0', 'x.csv'))


COMMANDS = {
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
GOLDEN_FILES = {
    'similarity/cmu_small_region.similarity.anot': 'similarity.anot',
    'regions/cmu_small_region.similarity.anot': 'regions.anot',
    'regions/hits.anot': 'regions.hits.anot',
    'regions/results.txt': 'regions.results.txt',
    'clusters/cmu_small_region.clusters.anot': 'clusters.anot',
    'clusters/cmu_small_region.clusters.csv': 'clusters.csv',
    'collection/matches.csv': 'collection.csv',
}
"""Each README output and its golden file (``tools/regenerate.py --golden`` copies them)."""


def run_readme_commands(folder, sample_slide: str) -> None:
    """Run the README's commands in ``folder`` (they share nothing but the slide)."""
    archive = folder / 'archive'
    archive.mkdir()
    shutil.copy(sample_slide, archive / 'other.svs')
    (folder / 'data').mkdir()  # the collection search caches the query image beside it
    sample_slide = shutil.copy(sample_slide, folder / 'data' / 'cmu_small_region.svs')
    for name, (cli, *args) in COMMANDS.items():
        (folder / name).mkdir()
        # the Slicer CLI entry script of each CLI, as DSA runs it
        result = subprocess.run([sys.executable, os.path.join(REPO, cli, cli + '.py'),
                                 str(sample_slide), *args, '--precision', 'fp32'],
                                cwd=str(folder), capture_output=True,
                                text=True, timeout=900, check=False)
        assert result.returncode == 0, (name, result.stderr[-2000:])


@pytest.fixture(scope='module')
def outputs(tmp_path_factory, sample_slide):
    """Run the README's commands once."""
    folder = tmp_path_factory.mktemp('readme')
    run_readme_commands(folder, sample_slide)
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


def test_collection_matches_are_unchanged(outputs):
    _same(outputs / 'collection' / 'matches.csv', 'collection.csv',
          (str(outputs / 'data'), 'SAMPLE_DIR'))
