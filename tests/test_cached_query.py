"""The cached click: torch-free, and never a silently wrong map from a damaged cache.

* a cached query through the real CLI imports no torch, timm or transformers;
* a cache damaged after it was written (bytes flipped inside the memory-mapped ``embeddings``
  member, the case that used to give a "cosine" of 17,000) is a CacheError (exit 4);
* property tests: random byte flips and truncations of a valid ``.npz`` give either a
  CacheError or exactly the original result, and ``box_mean`` matches a naive loop for every
  window size, odd or even.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile

import numpy as np
import pytest
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from EmbeddingSimilarity.cache import store
from EmbeddingSimilarity.errors import CacheError
from EmbeddingSimilarity.query.similarity import box_mean, compute
from EmbeddingSimilarity.slide.tiling import plan_grid

KEYPOINT = '1000,1500'
HEAVY = ('torch', 'timm', 'transformers')


@pytest.fixture(scope='module')
def test_cache(tmp_path_factory, sample_slide) -> str:
    """A cache of the sample slide made by the CLI with the Test model."""
    path = str(tmp_path_factory.mktemp('cache') / 'sample.Test.npz')
    result = run_cli(sample_slide, '--model', 'Test', '--output-embeddings', path)
    assert result.returncode == 0, result.stderr
    return path


def imported_modules(importtime_log: str) -> set[str]:
    """Top-level package names in a ``python -X importtime`` log."""
    names = set()
    for line in importtime_log.splitlines():
        if line.startswith('import time:') and '|' in line:
            names.add(line.rsplit('|', 1)[1].strip().split('.')[0])
    return names


def test_cached_click_imports_no_torch(cli, test_cache, sample_slide, tmp_path):
    """The whole CLI run, as HistomicsUI's click runs it, from a cache."""
    annotation = tmp_path / 'h.anot'
    result = cli(sample_slide, '--model', 'Test', '--input-embeddings', test_cache,
                 '--keypoints', KEYPOINT, '--output-annotation', str(annotation),
                 env={'PYTHONPROFILEIMPORTTIME': '1'})
    assert result.returncode == 0, result.stderr
    modules = imported_modules(result.stderr)
    assert 'EmbeddingSimilarity' in modules and 'numpy' in modules  # the log is complete
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert '"griddata"' in annotation.read_text()


def _flip(path: str, start: int, stop: int, count: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with open(path, 'r+b') as handle:
        for position in np.sort(rng.choice(np.arange(start, stop), count, replace=False)):
            handle.seek(int(position))
            byte = handle.read(1)[0]
            handle.seek(int(position))
            handle.write(bytes([byte ^ int(rng.integers(1, 256))]))


def test_bytes_flipped_in_the_mapped_grid_exit_4(cli, test_cache, sample_slide, tmp_path):
    damaged = str(tmp_path / 'damaged.npz')
    with open(test_cache, 'rb') as source, open(damaged, 'wb') as target:
        target.write(source.read())
    grid = store.load(damaged).embeddings
    _flip(damaged, grid.offset, grid.offset + grid.nbytes, min(3000, grid.nbytes // 4))
    with zipfile.ZipFile(damaged) as archive:
        assert archive.testzip() == 'embeddings.npy'  # the zip's own CRC fails
    out = tmp_path / 'out'
    out.mkdir()
    result = cli(sample_slide, '--model', 'Test', '--input-embeddings', damaged,
                 '--keypoints', KEYPOINT, '--output-annotation', str(out / 'h.anot'),
                 '--output-embeddings', str(out / 'copy.npz'))
    assert result.returncode == 4, result.stderr
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1 and 'corrupt' in errors[0] and 'CRC' in errors[0], result.stderr
    assert 'Traceback' not in result.stderr
    assert os.listdir(out) == []  # no heatmap, and no copy of the damage under a fresh CRC


def test_even_aggregation_window_runs(cli, test_cache, sample_slide, tmp_path):
    annotation = tmp_path / 'h.anot'
    result = cli(sample_slide, '--model', 'Test', '--input-embeddings', test_cache,
                 '--keypoints', KEYPOINT, '--aggregation', '2', '--output-annotation',
                 str(annotation))
    assert result.returncode == 0, result.stderr
    assert '"griddata"' in annotation.read_text()


# --- property tests on a small cache file ------------------------------------------------------

def _small_cache() -> tuple[bytes, tuple[float, float]]:
    grid = plan_grid(1000, 700, 224, 224, 1.0)
    rng = np.random.default_rng(1)
    embeddings = rng.standard_normal((grid.rows, grid.cols, 8)).astype(np.float16)
    embedded = rng.random(grid.shape) > 0.3
    embedded[1, 1] = True
    embeddings[~embedded] = 0
    meta = {'grid': grid.to_dict(), 'model': {'name': 'Test', 'embed_dim': 8, 'pooling': 'model'},
            'image': {'name': 'x', 'fingerprint': 'sha256:abc'}}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'e.npz')
        store.save(path, store.EmbeddingGrid(embeddings, embedded, np.ones(grid.shape), meta))
        with open(path, 'rb') as handle:
            return handle.read(), grid.cell_center(1, 1)


SMALL, POINT = _small_cache()


def _query(raw: bytes) -> tuple[np.ndarray, dict]:
    """Load the cache held in ``raw`` and run the similarity query (as the pipeline does)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, 'e.npz')
        with open(path, 'wb') as handle:
            handle.write(raw)
        data = store.load(path)
        result = compute(data.embeddings, data.embedded, data.grid, [POINT], aggregation=2,
                         norms=data.norms)
        return result.similarity, data.meta


ORIGINAL = _query(SMALL)


def _same_or_cache_error(raw: bytes) -> None:
    try:
        similarity, meta = _query(raw)
    except CacheError:
        return
    np.testing.assert_array_equal(similarity, ORIGINAL[0])
    assert meta == ORIGINAL[1]


FLIPS = st.lists(st.tuples(st.integers(0, len(SMALL) - 1), st.integers(1, 255)),
                 min_size=1, max_size=6)
PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(FLIPS)
def test_byte_flips_anywhere_never_change_the_result_silently(flips):
    raw = bytearray(SMALL)
    for position, mask in flips:
        raw[position] ^= mask
    _same_or_cache_error(bytes(raw))


def _structure_positions() -> list[int]:
    """Every byte that is not array data: zip headers, .npy headers, the central directory."""
    data = set()
    with zipfile.ZipFile(io.BytesIO(SMALL)) as archive:
        for info in archive.infolist():
            end = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            with archive.open(info) as member:
                np.lib.format.read_magic(member)
                np.lib.format.read_array_header_1_0(member)
                header = member.tell()
            data.update(range(end + header, end + info.file_size))
    return [i for i in range(len(SMALL)) if i not in data]


STRUCTURE = _structure_positions()


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(STRUCTURE), st.integers(1, 255)), min_size=1,
                max_size=3))
def test_byte_flips_in_headers_never_change_the_result_silently(flips):
    raw = bytearray(SMALL)
    for position, mask in flips:
        raw[position] ^= mask
    _same_or_cache_error(bytes(raw))


@PROPERTY
@given(st.integers(0, len(SMALL) - 1))
def test_truncations_are_a_cache_error(length):
    with pytest.raises(CacheError):
        _query(SMALL[:length])


def naive_box_mean(values: np.ndarray, window: int) -> np.ndarray:
    """The documented window, one cell at a time."""
    out = np.full(values.shape, np.nan, dtype=np.float64)
    before, after = (window - 1) // 2, window // 2
    for r in range(values.shape[0]):
        for c in range(values.shape[1]):
            if not np.isfinite(values[r, c]):
                continue
            patch = values[max(0, r - before):r + after + 1, max(0, c - before):c + after + 1]
            out[r, c] = patch[np.isfinite(patch)].mean()
    return out


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 9), st.integers(0, 2 ** 32 - 1),
       st.floats(0.0, 0.9))
def test_box_mean_matches_the_naive_window(rows, cols, window, seed, glass):
    rng = np.random.default_rng(seed)
    values = rng.uniform(-1, 1, (rows, cols)).astype(np.float32)
    values[rng.random((rows, cols)) < glass] = np.nan
    got = box_mean(values, window)
    assert got.shape == values.shape
    np.testing.assert_allclose(got, naive_box_mean(values, window), rtol=1e-5, atol=1e-6)
