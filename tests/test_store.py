"""The .npz cache format: round trip, memory mapping, validation."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from EmbeddingSimilarity import store
from EmbeddingSimilarity.errors import CacheError, OutputError
from EmbeddingSimilarity.tiling import plan_grid


def _grid_data(dim: int = 8) -> store.EmbeddingGrid:
    grid = plan_grid(1000, 700, 224, 224, 1.0)
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((grid.rows, grid.cols, dim)).astype(np.float16)
    embedded = rng.random(grid.shape) > 0.3
    embeddings[~embedded] = 0
    meta = {'grid': grid.to_dict(), 'model': {'name': 'Test', 'embed_dim': dim,
                                              'pooling': 'model'},
            'image': {'name': 'x', 'fingerprint': 'sha256:abc'}}
    return store.EmbeddingGrid(embeddings, embedded, np.ones(grid.shape, np.float32), meta)


def _rewrite(path, **changes) -> None:
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays.update(changes)
    with open(path, 'wb') as handle:
        np.savez(handle, **arrays)


def test_round_trip_is_exact_and_memory_mapped(tmp_path):
    data = _grid_data()
    path = str(tmp_path / 'e.npz')
    store.save(path, data)
    loaded = store.load(path)
    assert isinstance(loaded.embeddings, np.memmap)
    assert np.array_equal(loaded.embeddings, data.embeddings)
    assert (loaded.embedded == data.embedded).all()
    expected = np.linalg.norm(data.embeddings.astype(np.float32), axis=-1)
    np.testing.assert_allclose(loaded.norms, expected, rtol=1e-6)
    assert loaded.meta['format_version'] == store.FORMAT_VERSION
    # the mapping is copy-on-write: changing it in memory leaves the file alone
    loaded.embeddings[0, 0] = 7
    assert store.load(path).embeddings[0, 0, 0] != 7
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_compressed_archives_load_too(tmp_path):
    data = _grid_data()
    path = tmp_path / 'e.npz'
    store.save(str(path), data)
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    np.savez_compressed(path, **arrays)
    assert np.array_equal(store.load(str(path)).embeddings, data.embeddings)


def test_nan_embeddings_are_refused(tmp_path):
    data = _grid_data()
    row, col = np.argwhere(data.embedded)[0]
    data.embeddings[row, col, 3] = np.nan
    path = str(tmp_path / 'e.npz')
    store.save(path, data)
    with pytest.raises(CacheError, match='NaN'):
        store.load(path)
    _rewrite(path, norms=np.zeros((1, 1), np.float32))  # a stale norms array is recomputed
    with pytest.raises(CacheError, match='NaN'):
        store.load(path)


@pytest.mark.parametrize('change, words', [
    ({'embeddings': np.zeros((2, 2, 8), np.float16)}, 'inconsistent'),
    ({'embeddings': np.zeros((4, 5, 8), np.float32)}, 'inconsistent'),
    ({'embedded': np.zeros((3, 3), bool)}, 'inconsistent'),
    ({'meta': np.array('not json')}, 'unreadable provenance'),
    ({'meta': np.array(json.dumps({'format': 'other'}))}, 'not written by EmbeddingSimilarity'),
])
def test_inconsistent_files_are_refused(tmp_path, change, words):
    path = str(tmp_path / 'e.npz')
    store.save(path, _grid_data())
    _rewrite(path, **change)
    with pytest.raises(CacheError, match=words):
        store.load(path)


def test_mismatch_names_what_differs():
    wanted = _grid_data().meta
    assert store.mismatch(wanted, wanted) is None
    other = json.loads(json.dumps(wanted))
    other['grid']['stride'] = 112
    assert 'grid' in store.mismatch(other, wanted)
    other = json.loads(json.dumps(wanted))
    other['image']['fingerprint'] = 'sha256:def'
    assert 'image' in store.mismatch(other, wanted)
    other = json.loads(json.dumps(wanted))
    other['model']['name'] = 'UNI'
    assert 'model' in store.mismatch(other, wanted)


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = str(tmp_path / 'e.npz')
    store.save(path, _grid_data())
    with open(path, 'rb') as handle:
        before = handle.read()

    def boom(*args, **kwargs):
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(np, 'savez', boom)
    with pytest.raises(OutputError, match='No space left'):
        store.save(path, _grid_data(dim=4))
    with open(path, 'rb') as handle:
        assert handle.read() == before
    assert os.listdir(tmp_path) == ['e.npz']
