"""The .npz cache format: round trip, memory mapping, validation, integrity checks."""

from __future__ import annotations

import json
import os
import re
import zipfile

import numpy as np
import pytest

from EmbeddingSimilarity.cache import store
from EmbeddingSimilarity.cache.float16 import FLOAT16_MAX, to_float32
from EmbeddingSimilarity.cache.integrity import gather_cells
from EmbeddingSimilarity.errors import CacheError, OutputError
from EmbeddingSimilarity.query import similarity
from EmbeddingSimilarity.query.similarity import compute, cosine_map
from EmbeddingSimilarity.slide.tiling import plan_grid


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


def _member_data(path: str, name: str) -> tuple[int, int]:
    """File offsets of the array bytes of member ``name`` (after the zip and .npy headers)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name + '.npy')
        with archive.open(info) as member:
            np.lib.format.read_magic(member)
            np.lib.format.read_array_header_1_0(member)
            header = member.tell()
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + header
    return start, info.header_offset + 30 + len(info.filename.encode()) + len(
        info.extra) + info.file_size


def _xor(path: str, positions, mask: int = 0x5A) -> None:
    with open(path, 'r+b') as handle:
        for position in positions:
            handle.seek(position)
            byte = handle.read(1)[0]
            handle.seek(position)
            handle.write(bytes([byte ^ mask]))


def _query(data: store.EmbeddingGrid) -> np.ndarray:
    point = data.grid.cell_center(*np.argwhere(data.embedded)[0])
    return compute(data.embeddings, data.embedded, data.grid, [point], norms=data.norms).similarity


@pytest.fixture(params=['one thread', 'threads'])
def pass_threads(request, monkeypatch):
    """The similarity pass inline, and split over threads with the CRC in a thread of its own."""
    if request.param == 'threads':
        monkeypatch.setattr(similarity, 'PARALLEL_VALUES', 1)
        monkeypatch.setattr(similarity, '_threads', lambda values: 3)
    return request.param


def test_grid_bytes_changed_after_writing_are_a_cache_error(tmp_path, pass_threads):
    path = str(tmp_path / 'e.npz')
    store.save(path, _grid_data())
    start, stop = _member_data(path, 'embeddings')
    _xor(path, range(stop - 7, stop))  # the last cells: caught at the end of the pass
    data = store.load(path)  # mapping reads nothing yet
    with pytest.raises(CacheError, match='CRC'):
        _query(data)
    with pytest.raises(CacheError, match='CRC'):
        store.verify(data.embeddings, data.norms)
    with pytest.raises(CacheError, match='CRC'):  # never copied under a fresh CRC
        store.save(str(tmp_path / 'copy.npz'), data)
    assert sorted(os.listdir(tmp_path)) == ['e.npz']


def test_undamaged_grid_passes_the_checks(tmp_path, pass_threads):
    path = str(tmp_path / 'e.npz')
    data = _grid_data()
    store.save(path, data)
    loaded = store.load(path)
    assert loaded.embeddings.integrity is not None
    store.verify(loaded.embeddings, loaded.norms)
    np.testing.assert_array_equal(_query(loaded), _query(data))
    store.save(str(tmp_path / 'copy.npz'), loaded)
    assert np.array_equal(store.load(str(tmp_path / 'copy.npz')).embeddings, data.embeddings)


def test_stored_norms_must_belong_to_the_embeddings(tmp_path):
    path = str(tmp_path / 'e.npz')
    store.save(path, _grid_data())
    loaded = store.load(path)
    _rewrite(path, norms=np.asarray(loaded.norms) * 1.5)  # valid CRCs, wrong norms
    with pytest.raises(CacheError, match='norm of cell'):
        _query(store.load(path))


def test_small_members_are_crc_checked_on_load(tmp_path):
    path = str(tmp_path / 'e.npz')
    store.save(path, _grid_data())
    start, stop = _member_data(path, 'norms')
    _xor(path, [start + (stop - start) // 2])
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() == 'norms.npy'
    with pytest.raises(CacheError, match='BadZipFile'):
        store.load(path)


def test_assigning_into_a_loaded_grid_drops_its_crc_check(tmp_path):
    """A resumed run embeds new cells into the mapped grid; its bytes then differ on purpose."""
    path = str(tmp_path / 'e.npz')
    store.save(path, _grid_data())
    data = store.load(path)
    data.embeddings[np.array([0]), np.array([0])] = np.ones(8, np.float16)
    assert data.embeddings.integrity is None
    data.embedded[0, 0] = True
    data.norms = store.embedding_norms(data.embeddings)
    assert np.isfinite(_query(data)).any()
    view = store.load(path).embeddings
    view[0][0] = 2  # through a view: the base forgets too
    assert view.integrity is None


def test_float16_conversion_is_exact_for_every_finite_half():
    halves = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    out = to_float32(halves, np.empty(halves.shape, np.float32))
    exact = halves.astype(np.float32)
    finite = np.isfinite(exact)
    assert np.array_equal(out[finite].view(np.uint32), exact[finite].view(np.uint32))
    assert (np.abs(out[~finite]) > FLOAT16_MAX).all()


def test_cosine_map_matches_float64_and_keeps_nan_cells(pass_threads):
    data = _grid_data(dim=40)
    row, col = np.argwhere(data.embedded)[1]
    data.embeddings[row, col, 5] = np.inf  # a damaged cell has no value, the others do
    query = np.random.default_rng(3).standard_normal(40)
    query /= np.linalg.norm(query)
    got = cosine_map(data.embeddings, data.embedded, query)
    wide = data.embeddings.astype(np.float64)
    with np.errstate(invalid='ignore'):
        expected = wide @ query / np.linalg.norm(wide, axis=-1)
    expected[~data.embedded] = np.nan
    expected[row, col] = np.nan
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_embedding_norms_match_numpy_and_keep_non_finite_cells():
    data = _grid_data(dim=300)
    data.embeddings[0, 0, 7] = np.inf
    data.embeddings[0, 1, 3] = np.nan
    data.embeddings[0, 2] = np.float16(6e-8)  # subnormal halves
    norms = store.embedding_norms(data.embeddings)
    with np.errstate(invalid='ignore', over='ignore'):
        expected = np.linalg.norm(data.embeddings.astype(np.float32), axis=-1)
    assert np.isposinf(norms[0, 0]) and np.isnan(norms[0, 1])
    np.testing.assert_allclose(norms[1:], expected[1:], rtol=1e-6)
    np.testing.assert_allclose(norms[0, 2:], expected[0, 2:], rtol=1e-6)


def _resident_kib(path: str) -> int:
    """KiB of ``path``'s memory maps resident in this process (``/proc/self/smaps``)."""
    total, inside = 0, False
    with open('/proc/self/smaps') as handle:
        for line in handle:
            if re.match(r'^[0-9a-f]+-[0-9a-f]+ ', line):
                inside = line.rstrip().endswith(path)
            elif inside and line.startswith('Rss:'):
                total += int(line.split()[1])
    return total


def test_the_pass_leaves_little_of_a_mapped_grid_resident(tmp_path, pass_threads):
    """Each block's pages are released once read (and its CRC taken), so streaming a cache
    larger than memory never holds it; the map is still exact and the bytes still readable."""
    path = str(tmp_path / 'big.npz')
    data = _grid_data(dim=1 << 20)  # 20 cells x 2 MiB
    store.save(path, data)
    loaded = store.load(path)
    expected = _query(data)
    np.testing.assert_array_equal(_query(loaded), expected)
    assert _resident_kib(path) < 12 * 1024 < os.path.getsize(path) // 1024 // 3
    assert np.array_equal(np.asarray(loaded.embeddings), data.embeddings)  # read back from the file
    assert _resident_kib(path) > 30 * 1024  # the measure sees a resident map


def test_random_cells_are_read_from_the_file_not_through_the_map(tmp_path):
    path = str(tmp_path / 'big.npz')
    data = _grid_data(dim=1 << 20)
    store.save(path, data)
    loaded = store.load(path)
    cells = np.array([3, 17, 5, 3])
    np.testing.assert_array_equal(gather_cells(loaded.embeddings, cells),
                                  data.embeddings.reshape(-1, 1 << 20)[cells])
    assert _resident_kib(path) < 256  # not a page of the grid mapped
    np.testing.assert_array_equal(gather_cells(data.embeddings, cells),  # in memory: indexing
                                  data.embeddings.reshape(-1, 1 << 20)[cells])


def test_random_cells_of_a_cache_whose_file_is_gone_come_from_the_map(tmp_path):
    """A cache downloaded from Girder lives in a scratch folder removed while its map is still
    in use; a cache file can also be saved anew under the same name. Either way the cells come
    from the mapped bytes, never from whatever the path names now."""
    path = str(tmp_path / 'g.npz')
    data = _grid_data()
    store.save(path, data)
    loaded = store.load(path)
    cells = np.array([0, 7, 11])
    want = np.asarray(data.embeddings).reshape(-1, 8)[cells]
    assert np.array_equal(gather_cells(loaded.embeddings, cells), want)
    other = _grid_data()
    other.embeddings[:] = 0
    store.save(path, other)  # a new file under the old name
    assert np.array_equal(gather_cells(loaded.embeddings, cells), want)
    os.remove(path)
    assert np.array_equal(gather_cells(loaded.embeddings, cells), want)
