"""CollectionSimilarity: search every slide of a folder for the tissue under the key points.

Real slides (the sample SVS, a copy of it, the same tissue rescanned as a 40x pyramidal TIFF),
the real Test embedder, the real CLI in a subprocess; exact results are checked against a
brute-force cosine written here from the caches, the FAISS index and a Dask LocalCluster
against the exact in-process search.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from EmbeddingSimilarity.cache import store
from EmbeddingSimilarity.collection.search import TopK, merge

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, 'CollectionSimilarity', 'CollectionSimilarity.py')
KEYPOINT = (1100.0, 1500.0)
GLASS = (100.0, 100.0)
COLUMNS = ['rank', 'image', 'x', 'y', 'score', 'percentile', 'row', 'col', 'query', 'path',
           'item_id', 'url']


def search_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``CollectionSimilarity ...`` as slicer_cli_web runs it (the script folder)."""
    return subprocess.run([sys.executable, SCRIPT, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, check=False)


def make_collection(folder, sample_slide: str, slide_40x: str) -> str:
    os.makedirs(folder / 'sub')
    shutil.copy(sample_slide, folder / 'a.svs')
    shutil.copy(sample_slide, folder / 'sub' / 'b.svs')
    shutil.copy(slide_40x, folder / 'c.tiff')
    (folder / 'notes.dat').write_text('not a slide')
    return str(folder)


def read_rows(path: str) -> list[dict]:
    with open(path, newline='') as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == COLUMNS
        return list(reader)


def search_args(folder: str, out, *extra: str, k: int = 30) -> list[str]:
    return [os.path.join(folder, 'a.svs'), '--keypoints', '%g,%g' % KEYPOINT, '--collection',
            folder, '--model', 'Test', '--top-k', str(k), '--output-results',
            str(out / 'results.csv'), *extra]


@pytest.fixture(scope='module')
def searched(tmp_path_factory, sample_slide, slide_40x):
    """A collection searched once from scratch (every cache embedded by the search)."""
    folder = make_collection(tmp_path_factory.mktemp('collection'), sample_slide, slide_40x)
    out = tmp_path_factory.mktemp('out')
    result = search_cli(*search_args(folder, out, '--output-gallery',
                                     str(out / 'gallery.png')))
    assert result.returncode == 0, result.stderr
    return folder, out, result


def brute_force(folder: str, k: int, threshold: float = 0.1) -> list[tuple[float, str, int,
                                                                          int]]:
    """Every tissue cell of every cache scored in float64, best first."""
    caches = {}
    for root, _, names in os.walk(folder):
        for name in names:
            if name.endswith('.Test.npz'):
                caches[name] = store.load(os.path.join(root, name))
    query_data = caches['a.svs.Test.npz']
    r, c = query_data.grid.cell_of_point(*KEYPOINT)
    query = query_data.embeddings[r, c].astype(np.float64)
    query /= np.linalg.norm(query)
    scored = []
    for data in caches.values():
        vectors = np.asarray(data.embeddings, dtype=np.float64)
        cos = vectors @ query / np.maximum(np.linalg.norm(vectors, axis=2), 1e-12)
        ok = data.embedded & (data.tissue_fraction >= threshold)
        for row, col in np.argwhere(ok):
            scored.append((float(cos[row, col]), data.provenance.image.name, int(row), int(col)))
    scored.sort(key=lambda item: -item[0])
    return scored[:k]


def test_a_folder_search_ranks_the_tissue_of_every_slide(searched):
    folder, out, result = searched
    rows = read_rows(str(out / 'results.csv'))
    assert [int(row['rank']) for row in rows] == list(range(1, 31))
    scores = [float(row['score']) for row in rows]
    assert scores == sorted(scores, reverse=True)
    # the query image is flagged, and its key-point cell is a perfect match
    assert {row['image'] for row in rows if row['query'] == '1'} == {'a.svs'}
    assert {row['image'] for row in rows} <= {'a.svs', 'b.svs', 'c.tiff'}
    top = rows[0]
    assert float(top['score']) == pytest.approx(1.0, abs=1e-3)
    assert top['image'] in ('a.svs', 'b.svs')
    data = store.load(os.path.join(folder, 'a.svs.Test.npz'))
    assert (int(top['row']), int(top['col'])) == data.grid.cell_of_point(*KEYPOINT)
    x, y = data.grid.cell_center(int(top['row']), int(top['col']))
    assert (float(top['x']), float(top['y'])) == (x, y)
    assert abs(x - KEYPOINT[0]) <= data.grid.stride_base / 2
    # the copy in the subfolder scores exactly like the query image, cell for cell
    by_cell = {}
    for row in rows:
        by_cell.setdefault((row['row'], row['col']), {})[row['image']] = row['score']
    assert any(len(v) >= 2 and v.get('a.svs') == v.get('b.svs') for v in by_cell.values())
    percentiles = [float(row['percentile']) for row in rows]
    assert percentiles == sorted(percentiles, reverse=True) and 0 < percentiles[-1] <= 100
    # the unreadable file is reported and the search went on
    assert 'notes.dat cannot be read' in result.stderr
    assert '3 of 4 slides searched (3 embedded now, 1 skipped)' in result.stderr
    assert '<filter-progress>' in result.stdout


def test_exact_search_equals_a_brute_force_cosine(searched):
    folder, out, _ = searched
    rows = read_rows(str(out / 'results.csv'))
    expected = brute_force(folder, 30)
    np.testing.assert_allclose([float(r['score']) for r in rows], [e[0] for e in expected],
                               atol=2e-5)
    cut = expected[-1][0] + 1e-4  # cells tied at the cut may come in either order
    got = {(r['image'], int(r['row']), int(r['col'])) for r in rows if float(r['score']) > cut}
    assert got == {(name, row, col) for score, name, row, col in expected if score > cut}


def test_the_gallery_shows_the_matches(searched):
    from PIL import Image

    _, out, _ = searched
    image = np.asarray(Image.open(out / 'gallery.png').convert('RGB'))
    assert image.shape[1] > 10 * 192 and image.shape[0] > 3 * 192
    # tiles of tissue, not blank: the first tile's pixels vary
    assert image[40:220, 10:190].std() > 20


def test_a_second_search_reuses_every_cache(searched):
    folder, out, _ = searched
    again = search_cli(*search_args(folder, out, k=30)[:-1], str(out / 'again.csv'))
    assert again.returncode == 0, again.stderr
    assert '(0 embedded now, 1 skipped)' in again.stderr
    assert read_rows(str(out / 'again.csv')) == read_rows(str(out / 'results.csv'))


def test_a_slide_damaged_partway_is_skipped_and_the_search_goes_on(sample_slide, tmp_path):
    """A tile that does not decode, found while embedding one slide of the folder: that slide
    is skipped with its reason and the others are searched."""
    import slides

    folder = tmp_path / 'archive'
    folder.mkdir()
    shutil.copy(sample_slide, folder / 'a.svs')
    slides.damage_a_tile(slides.write_pyramid(str(folder / 'damaged.tiff'),
                                              slides.read_sample(), slides.SAMPLE_MPP,
                                              compression='zlib'))
    result = search_cli(*search_args(str(folder), tmp_path))
    assert result.returncode == 0, result.stderr
    assert 'slide damaged.tiff could not be embedded, skipped' in result.stderr
    assert 'damaged or incomplete' in result.stderr and 'internal error' not in result.stderr
    assert '1 of 2 slides searched' in result.stderr
    assert {row['image'] for row in read_rows(str(tmp_path / 'results.csv'))} == {'a.svs'}
    assert not os.path.exists(folder / 'damaged.tiff.Test.npz')  # no cache of a damaged slide


def test_a_cache_made_for_another_slide_is_embedded_afresh(searched, tmp_path):
    folder, _, _ = searched
    copy = tmp_path / 'copy'
    shutil.copytree(folder, copy)
    shutil.copy(copy / 'a.svs.Test.npz', copy / 'c.tiff.Test.npz')  # c's name, a's content
    result = search_cli(*search_args(str(copy), tmp_path))
    assert result.returncode == 0, result.stderr
    assert 'c.tiff.Test.npz does not match' in result.stderr
    assert 'embedding afresh with Test' in result.stderr
    assert store.load(str(copy / 'c.tiff.Test.npz')).provenance.image.name == 'c.tiff'


def test_an_interrupted_runs_checkpoint_is_completed_before_the_search(searched, tmp_path):
    """A cache marked incomplete (a cancelled job's) is not searched as it is: its slide is
    embedded in full first."""
    folder, _, _ = searched
    copy = tmp_path / 'copy'
    shutil.copytree(folder, copy)
    data = store.load(str(copy / 'a.svs.Test.npz'))
    data.provenance.complete = False
    store.save(str(copy / 'a.svs.Test.npz'), data)
    result = search_cli(*search_args(str(copy), tmp_path))
    assert result.returncode == 0, result.stderr
    assert "a.svs.Test.npz does not match (an interrupted run's checkpoint)" in result.stderr
    assert store.load(str(copy / 'a.svs.Test.npz')).complete


def test_caches_go_to_the_embeddings_folder(searched, tmp_path, sample_slide):
    folder = tmp_path / 'slides'
    folder.mkdir()
    shutil.copy(sample_slide, folder / 'a.svs')
    caches = tmp_path / 'caches'
    caches.mkdir()
    result = search_cli(*search_args(str(folder), tmp_path, '--embeddings-folder', str(caches)))
    assert result.returncode == 0, result.stderr
    assert os.listdir(folder) == ['a.svs']
    assert os.listdir(caches) == ['a.svs.Test.npz']


@pytest.mark.parametrize('case', ['empty', 'no-slide', 'top-k-0', 'top-k-negative', 'glass',
                                  'glass-cached', 'not-a-folder', 'region', 'garbage-query',
                                  'symlink-loop'])
def test_bad_input_is_one_line(case, searched, tmp_path, sample_slide):
    folder, _, _ = searched
    query = os.path.join(folder, 'a.svs')
    collection = tmp_path / 'collection'
    collection.mkdir()
    point, k = KEYPOINT, '10'
    expected = {'empty': 'holds no files', 'no-slide': 'no slide of collection',
                'top-k-0': '--top-k 0 is out of range', 'top-k-negative': '--top-k -3',
                'glass': 'is on glass', 'glass-cached': 'is on glass',
                'not-a-folder': 'is not a folder', 'region': 'takes key points, not regions',
                'garbage-query': 'cannot read', 'symlink-loop': 'is a symlink loop'}[case]
    if case == 'no-slide':
        (collection / 'readme.dat').write_text('no slide here')
    elif case in ('top-k-0', 'top-k-negative'):
        k = '0' if case == 'top-k-0' else '-3'
    elif case == 'glass':
        query = str(tmp_path / 'alone.svs')  # no cache: the key point's cell is checked
        shutil.copy(sample_slide, query)
        shutil.copy(sample_slide, collection / 'x.svs')
        point = GLASS
    elif case == 'glass-cached':
        point = GLASS
        collection = folder
    elif case == 'not-a-folder':
        collection = tmp_path / 'missing'
    elif case == 'region':
        point = (1000, 1400, 200, 200)  # a rectangle: left, top, width, height
        collection = folder
    elif case == 'garbage-query':
        # a PNG cut short: its header opens, its pixels do not; the query cannot be embedded
        from PIL import Image

        query = str(collection / 'cut.png')
        Image.fromarray(np.asarray(Image.open(sample_slide).convert('RGB'))).save(query)
        with open(query, 'rb') as handle:
            head = handle.read(os.path.getsize(query) // 3)
        with open(query, 'wb') as handle:
            handle.write(head)
        shutil.copy(sample_slide, collection / 'x.svs')
    elif case == 'symlink-loop':
        os.symlink(tmp_path / 'loop2', tmp_path / 'loop')
        os.symlink(tmp_path / 'loop', tmp_path / 'loop2')
        collection = tmp_path / 'loop'
    out = tmp_path / 'out'
    out.mkdir()
    result = search_cli(query, '--keypoints', ','.join('%g' % v for v in point),
                        '--collection', str(collection), '--model', 'Test', '--top-k', k,
                        '--output-results', str(out / 'r.csv'))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if 'error' in line]
    assert len(lines) == 1 and lines[0].startswith('CollectionSimilarity: error:'), result.stderr
    assert expected in lines[0]
    assert os.listdir(out) == []
    if case == 'glass':
        assert os.listdir(collection) == ['x.svs']  # failed before embedding anything
    if case == 'garbage-query':
        assert sorted(os.listdir(collection)) == ['cut.png', 'x.svs']


def test_top_k_merges_like_one_pass():
    rng = np.random.default_rng(3)
    maps = [np.round(rng.normal(size=(7, 9)), 1).astype(np.float32) for _ in range(6)]
    maps[2][1:3] = np.nan
    whole = TopK(15)
    for number, values in enumerate(maps):
        whole.add_map(values, number)
    shards = []
    for first in (0, 2, 5):
        shard = TopK(15)
        for number in range(first, {0: 2, 2: 5, 5: 6}[first]):
            shard.add_map(maps[number], number)
        shards.append(shard)
    merged = merge(shards, 15)
    for name in ('scores', 'targets', 'rows', 'cols', 'histogram'):
        np.testing.assert_array_equal(getattr(merged, name), getattr(whole, name))
    flat = np.concatenate([m[np.isfinite(m)] for m in maps])
    np.testing.assert_allclose(whole.scores, np.sort(flat)[::-1][:15])
    assert whole.histogram.sum() == len(flat)


def _targets_of(folder: str):
    """The searched collection's targets and query, as the run builds them."""
    from EmbeddingSimilarity.collection.query import query_of
    from EmbeddingSimilarity.collection.targets import list_targets, prepare_targets
    from EmbeddingSimilarity.progress import NullProgress
    from EmbeddingSimilarity.steps.request import Request

    request = Request.of(image=os.path.join(folder, 'a.svs'), model='Test', keypoints=[KEYPOINT],
                      collection=folder, top_k=25)
    targets = list_targets(request)
    assert prepare_targets(request, targets, NullProgress()) == 0  # all cached
    return request, targets, query_of(request, NullProgress())[0]


@pytest.mark.parametrize('kind', ['flat', 'hnsw'])
def test_the_index_finds_what_exact_search_finds(searched, tmp_path, kind):
    from EmbeddingSimilarity.collection.index import build_or_update, search_index
    from EmbeddingSimilarity.collection.search import scan_caches

    folder, _, _ = searched
    request, targets, query = _targets_of(folder)
    usable = [t for t in targets if t.cache]
    caches = {t.path: (t.cache, t.fingerprint) for t in usable}
    path = str(tmp_path / 'collection.faiss')
    index, changes = build_or_update(path, caches, 0.1, kind)
    assert changes == {'added': 3, 'dropped': 0, 'kept': 0} and index.kind == kind
    keys, paths = [t.path for t in usable], [t.cache for t in usable]
    found = search_index(index, query, 25, keys, paths)
    exact = scan_caches(paths, query, 25, 0.1)
    np.testing.assert_allclose(found.scores, exact.scores, atol=1e-6)
    assert set(zip(found.targets, found.rows, found.cols, strict=False)) == set(zip(
        exact.targets, exact.rows, exact.cols, strict=False))
    # persisted with its provenance, and reopened unchanged
    import json

    with open(path + '.json') as handle:
        meta = json.load(handle)
    assert meta['model']['name'] == 'Test' and meta['grid']['tile'] == 224
    assert {s['fingerprint'].split(':')[0] for s in meta['slides'].values()} == {'sha256'}
    again, changes = build_or_update(path, caches, 0.1, kind)
    assert changes == {'added': 0, 'dropped': 0, 'kept': 3}
    assert again.index.ntotal == index.index.ntotal == sum(s.cells for s in index.slides.values())


def test_the_index_adds_new_slides_and_drops_changed_caches(searched, tmp_path):
    from EmbeddingSimilarity.collection.index import build_or_update

    folder, _, _ = searched
    _, targets, _ = _targets_of(folder)
    usable = [t for t in targets if t.cache]
    copies = {}
    for t in usable:
        copies[t.path] = (shutil.copy(t.cache, tmp_path / os.path.basename(t.cache)),
                          t.fingerprint)
    path = str(tmp_path / 'collection.faiss')
    first = dict(list(copies.items())[:2])
    index, changes = build_or_update(path, first, 0.1, 'flat')
    assert changes['added'] == 2
    index, changes = build_or_update(path, copies, 0.1, 'flat')
    assert changes == {'added': 1, 'dropped': 0, 'kept': 2}
    # a cache recomputed (different bytes): its slide is dropped and added again
    changed_key = list(copies)[0]
    data = store.load(copies[changed_key][0])
    data.embeddings = np.asarray(data.embeddings) * np.float16(0.5)
    data.norms = None
    store.save(copies[changed_key][0], data)
    before = index.index.ntotal
    index, changes = build_or_update(path, copies, 0.1, 'flat')
    assert changes == {'added': 1, 'dropped': 1, 'kept': 2}
    assert index.index.ntotal == before


def test_the_cli_index_path_equals_exact_search(searched, tmp_path):
    folder, out, _ = searched
    result = search_cli(*search_args(folder, tmp_path, '--index',
                                     str(tmp_path / 'archive.faiss')))
    assert result.returncode == 0, result.stderr
    assert 'index ' in result.stderr and '3 slides added' in result.stderr
    exact, indexed = read_rows(str(out / 'results.csv')), read_rows(str(tmp_path / 'results.csv'))
    np.testing.assert_allclose([float(r['score']) for r in indexed],
                               [float(r['score']) for r in exact], atol=2e-6)
    assert {(r['image'], r['row'], r['col']) for r in indexed} == {
        (r['image'], r['row'], r['col']) for r in exact}


def test_a_dask_local_cluster_equals_in_process(searched, tmp_path, sample_slide, slide_40x):
    """Uncached slides embedded as whole-slide Dask tasks, caches scanned in shards on the
    workers, top-k merged on the client: the same CSV as the in-process search."""
    folder = make_collection(tmp_path / 'fresh', sample_slide, slide_40x)
    result = search_cli(*search_args(folder, tmp_path, '--scheduler', 'local',
                                     '--num_workers', '2'))
    assert result.returncode == 0, result.stderr
    assert '3 embedded now' in result.stderr
    exact = read_rows(str(searched[1] / 'results.csv'))
    dask = read_rows(str(tmp_path / 'results.csv'))
    keep = ('rank', 'image', 'x', 'y', 'score', 'percentile', 'row', 'col', 'query')
    assert [{k: r[k] for k in keep} for r in dask] == [{k: r[k] for k in keep} for r in exact]


def test_a_query_image_that_cannot_be_embedded_is_an_error(tmp_path, sample_slide, monkeypatch):
    """Its key-point cells read, the whole slide not (a damaged tile further on): the search
    fails in one line instead of leaving the query image out of the results."""
    from EmbeddingSimilarity.cli.collection_similarity import run
    from EmbeddingSimilarity.collection import targets as targets_module
    from EmbeddingSimilarity.errors import InputError
    from EmbeddingSimilarity.steps.request import Request

    folder = tmp_path / 'slides'
    folder.mkdir()
    shutil.copy(sample_slide, folder / 'a.svs')

    def damaged(request):
        raise InputError('cannot read tile (3, 4) of %s' % request.image)
    monkeypatch.setattr(targets_module, 'embed_target', damaged)
    results = tmp_path / 'r.csv'
    request = Request.of(image=str(folder / 'a.svs'), model='Test', keypoints=[KEYPOINT],
                         collection=str(folder), top_k=5, output_results=str(results))
    with pytest.raises(InputError, match='the query image .*a.svs cannot be searched'):
        run(request)
    assert not results.exists()


@pytest.mark.parametrize('damage', ['vectors-replaced', 'truncated', 'corrupt-json',
                                    'json-missing-keys'])
def test_a_damaged_index_is_rebuilt_in_one_line(searched, tmp_path, caplog, damage):
    """An index that disagrees with its provenance is never searched: it is rebuilt, and the
    log says so once (no FAISS RuntimeError, no JSONDecodeError)."""
    import json
    import logging

    import faiss

    from EmbeddingSimilarity.collection.index import build_or_update, search_index
    from EmbeddingSimilarity.collection.search import scan_caches

    folder, _, _ = searched
    _, targets, query = _targets_of(folder)
    usable = [t for t in targets if t.cache]
    caches = {t.path: (t.cache, t.fingerprint) for t in usable}
    path = str(tmp_path / 'collection.faiss')
    index, _ = build_or_update(path, caches, 0.1, 'flat')
    if damage == 'vectors-replaced':
        inner = faiss.downcast_index(index.index.index)
        vectors = faiss.rev_swig_ptr(inner.get_xb(), inner.ntotal * inner.d).reshape(
            inner.ntotal, inner.d).copy()
        ids = faiss.vector_to_array(index.index.id_map)
        noise = np.random.default_rng(0).normal(size=vectors.shape).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        forged = faiss.IndexIDMap2(faiss.IndexFlatIP(inner.d))
        forged.add_with_ids(noise, ids)
        with open(path, 'wb') as handle:
            handle.write(faiss.serialize_index(forged).tobytes())
    elif damage == 'truncated':
        with open(path, 'rb') as handle:
            raw = handle.read()
        with open(path, 'wb') as handle:
            handle.write(raw[:len(raw) // 2])
    elif damage == 'corrupt-json':
        with open(path + '.json', 'w') as handle:
            handle.write('{"format": "EmbeddingSimilarity.collection-index", garbage')
    else:
        with open(path + '.json') as handle:
            meta = json.load(handle)
        del meta['slides']
        with open(path + '.json', 'w') as handle:
            json.dump(meta, handle)
    caplog.set_level(logging.INFO, logger='EmbeddingSimilarity')
    again, changes = build_or_update(path, caches, 0.1, 'flat')
    assert changes == {'added': 3, 'dropped': 0, 'kept': 0}
    lines = [r.getMessage() for r in caplog.records if 'rebuilding' in r.getMessage()]
    assert len(lines) == 1 and path in lines[0], caplog.text
    keys, paths = [t.path for t in usable], [t.cache for t in usable]
    found = search_index(again, query, 10, keys, paths)
    exact = scan_caches(paths, query, 10, 0.1)
    np.testing.assert_allclose(found.scores, exact.scores, atol=1e-6)
    # and the rebuilt index is trusted as it is next time
    _, changes = build_or_update(path, caches, 0.1, 'flat')
    assert changes == {'added': 0, 'dropped': 0, 'kept': 3}


def test_the_cli_rebuilds_a_truncated_index(searched, tmp_path):
    folder, _, _ = searched
    index = str(tmp_path / 'archive.faiss')
    first = search_cli(*search_args(folder, tmp_path, '--index', index))
    assert first.returncode == 0, first.stderr
    with open(index, 'rb') as handle:
        raw = handle.read()
    with open(index, 'wb') as handle:
        handle.write(raw[:100])
    again = search_cli(*search_args(folder, tmp_path, '--index', index))
    assert again.returncode == 0, again.stderr
    assert 'Traceback' not in again.stderr and 'RuntimeError' not in again.stderr
    assert len([line for line in again.stderr.splitlines() if 'rebuilding' in line]) == 1
    assert '3 slides added' in again.stderr
