"""Other tools' feature files (issue #34): TRIDENT's and STAMP's ``.h5`` read as
``--input-embeddings`` and written by ``--output-embeddings``.

Fixtures: neither TRIDENT (installed from git, CC BY-NC-ND) nor STAMP (pins transformers 4 and
pillow 12, which conflict with ours) installs into the test environment from PyPI, so their files
are written here with h5py from the layouts their writers produce, read in their source:

* TRIDENT ``trident/IO.py`` ``save_h5`` (one dataset per key, chunks of one row, ``maxshape``
  ``(None, ...)``, attributes per dataset, None written as 'None') called by ``coords_to_h5``
  (the ``coords`` attributes) and ``trident/wsi_objects/WSI.py`` ``extract_features``
  (``features`` float32 with ``name``, ``savetodir``, ``encoder``);
* STAMP ``src/stamp/preprocessing/__init__.py`` (``coords`` float in µm, ``feats`` float16,
  root attributes ``stamp_version``, ``extractor``, ``unit``, ``tile_size_um``,
  ``tile_size_px``, ``code_hash``, ``feat_type``).

The vectors are those of a cache our CLI made with the Test model, so "the heatmap from their
file equals the one from our .npz" is checked cell for cell.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import h5py
import numpy as np
import pytest
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from EmbeddingSimilarity.cache import interop, store
from EmbeddingSimilarity.errors import CacheError

KEYPOINT = '1000,1500'


@pytest.fixture(scope='module')
def ours(tmp_path_factory, sample_slide) -> dict:
    """A copy of the sample slide, its cache by the CLI (Test model) and the heatmap from it."""
    folder = tmp_path_factory.mktemp('interop')
    slide = str(folder / 'slide.svs')
    shutil.copy(sample_slide, slide)
    cache = str(folder / 'slide.npz')
    result = run_cli(slide, '--model', 'Test', '--output-embeddings', cache)
    assert result.returncode == 0, result.stderr
    data = store.load(cache)
    rows, cols = np.nonzero(data.embedded)
    return {'folder': folder, 'slide': slide, 'cache': cache, 'data': data, 'rows': rows,
            'cols': cols, 'heatmap': heatmap(slide, cache, folder / 'ours.anot')}


def heatmap(slide: str, embeddings: str, annotation, *more: str) -> list:
    """The heatmap's elements (values and cell geometry) from a run on ``embeddings``."""
    result = run_cli(slide, '--model', 'Test', '--input-embeddings', embeddings, '--keypoints',
                     KEYPOINT, '--output-annotation', str(annotation), *more)
    assert result.returncode == 0, result.stderr
    assert 'embedded now' in result.stderr and ', 0 embedded now' in result.stderr
    with open(annotation) as handle:
        return json.load(handle)['elements']


def trident_file(path, features, coords, encoder='Test', **attrs) -> str:
    """A feature file as TRIDENT's ``save_h5`` writes one (see the module docstring)."""
    coords_attrs = {'patch_size': 224, 'patch_size_level0': 224, 'level0_magnification': 20,
                    'target_magnification': 20, 'overlap': 0, 'name': 'slide',
                    'savetodir': '/out/20x_224px_0px_overlap/patches', 'level0_width': 2220,
                    'level0_height': 2967}
    coords_attrs.update(attrs)
    with h5py.File(path, 'w') as handle:
        for key, value, extra in (
                ('features', np.asarray(features, dtype=np.float32),
                 {'name': 'slide', 'savetodir': '/out/features_x', 'encoder': encoder}),
                ('coords', np.asarray(coords, dtype=np.int64), coords_attrs)):
            dset = handle.create_dataset(key, shape=value.shape, maxshape=(None,) + value.shape[1:],
                                         chunks=(1,) + value.shape[1:], dtype=value.dtype)
            dset[:] = value
            for name, attr in extra.items():
                dset.attrs[name] = 'None' if attr is None else attr
    return str(path)


def stamp_file(path, features, coords_um, extractor='Test', **attrs) -> str:
    """A tile-feature file as STAMP's preprocessing writes one (see the module docstring)."""
    with h5py.File(path, 'w') as handle:
        handle['coords'] = np.asarray(coords_um, dtype=np.float32)
        handle['feats'] = np.asarray(features, dtype=np.float16)
        handle.attrs.update({'stamp_version': '2.4.0', 'extractor': extractor, 'unit': 'um',
                             'tile_size_um': 224 * 0.499, 'tile_size_px': 224,
                             'code_hash': 'abcdef12', 'feat_type': 'tile', **attrs})
    return str(path)


def vectors(ours: dict) -> np.ndarray:
    return np.asarray(ours['data'].embeddings[ours['rows'], ours['cols']], dtype=np.float32)


def corners(ours: dict, step: float = 224.0) -> np.ndarray:
    return np.stack([ours['cols'] * step, ours['rows'] * step], axis=1)


def test_a_trident_file_gives_the_heatmap_of_our_cache(ours, tmp_path):
    order = np.random.default_rng(0).permutation(len(ours['rows']))  # any patch order
    path = trident_file(tmp_path / 'slide.h5', vectors(ours)[order], corners(ours)[order])
    assert interop.layout(path) == 'TRIDENT'
    assert heatmap(ours['slide'], path, tmp_path / 'h.anot') == ours['heatmap']


def test_a_stamp_file_gives_the_heatmap_of_our_cache(ours, tmp_path):
    path = stamp_file(tmp_path / 'slide.h5', vectors(ours), corners(ours) * 0.499)
    assert interop.layout(path) == 'STAMP'
    assert heatmap(ours['slide'], path, tmp_path / 'h.anot') == ours['heatmap']


@pytest.mark.parametrize('name', ['slide.h5', 'slide.stamp.h5'])
def test_ours_to_theirs_to_ours_gives_the_same_heatmap(ours, tmp_path, name):
    theirs = str(tmp_path / name)
    result = run_cli(ours['slide'], '--model', 'Test', '--input-embeddings', ours['cache'],
                     '--output-embeddings', theirs)
    assert result.returncode == 0, result.stderr
    assert interop.layout(theirs) == ('STAMP' if 'stamp' in name else 'TRIDENT')
    assert heatmap(ours['slide'], theirs, tmp_path / 'h.anot') == ours['heatmap']
    back = str(tmp_path / 'back.npz')
    result = run_cli(ours['slide'], '--model', 'Test', '--input-embeddings', theirs,
                     '--output-embeddings', back)
    assert result.returncode == 0, result.stderr
    again = store.load(back)
    assert (again.embedded == ours['data'].embedded).all()
    assert np.array_equal(again.embeddings, ours['data'].embeddings)
    assert again.grid == ours['data'].grid


def test_our_trident_file_reads_as_trident_reads_it(ours, tmp_path):
    """What TRIDENT's ``read_coords`` and ``extract_slide_features`` take from the file."""
    path = str(tmp_path / 'slide.h5')
    interop.save(path, ours['data'])
    with h5py.File(path, 'r') as handle:
        attrs = dict(handle['coords'].attrs)
        coords, features = handle['coords'][:], handle['features'][:]
        assert handle['features'].attrs['encoder'] == 'Test'
    assert coords.dtype == np.int64 and features.dtype == np.float32
    assert attrs['patch_size'] == 224 and attrs['patch_size_level0'] == 224
    assert attrs['level0_magnification'] / attrs['target_magnification'] == 1.0
    assert (attrs['level0_width'], attrs['level0_height']) == (2220, 2967)
    assert np.array_equal(coords, corners(ours).astype(np.int64))
    assert np.array_equal(features, vectors(ours))


def test_our_stamp_file_reads_as_stamp_reads_it(ours, tmp_path):
    """What STAMP's ``get_coords`` takes: µm coordinates, tile size in µm and pixels."""
    path = str(tmp_path / 'slide.stamp.h5')
    interop.save(path, ours['data'])
    with h5py.File(path, 'r') as handle:
        assert handle.attrs['unit'] == 'um' and handle.attrs['feat_type'] == 'tile'
        assert handle.attrs['tile_size_px'] == 224
        assert handle.attrs['tile_size_um'] == pytest.approx(224 * 0.499)
        assert handle['feats'].dtype == np.float16
        assert np.allclose(handle['coords'][:], corners(ours) * 0.499)


def test_patches_off_the_grid_are_binned_and_the_file_says_so(ours, tmp_path):
    shifted = corners(ours) + np.array([30, -20])  # a tissue-only list on another origin
    shifted[:, 1] = shifted[:, 1].clip(0)
    path = trident_file(tmp_path / 'slide.h5', vectors(ours), shifted)
    out, annotation = tmp_path / 'back.npz', tmp_path / 'h.anot'
    result = run_cli(ours['slide'], '--model', 'Test', '--input-embeddings', path,
                     '--output-embeddings', str(out), '--keypoints', KEYPOINT,
                     '--output-annotation', str(annotation))
    assert result.returncode == 0, result.stderr
    assert 'binned to the nearest cell' in result.stderr
    with open(annotation) as handle:
        description = json.load(handle)['description']
    assert ('Cells are the 70 TRIDENT patches of slide.h5; 70 of 70 patches were not on one '
            'regular grid and were binned to the nearest cell (up to 30 level-0 px away).'
            in description), description
    data = store.load(str(out))
    assert 'binned' in data.provenance.tissue
    assert (data.embedded == ours['data'].embedded).all()


def test_the_encoder_must_be_the_runs_model(ours, tmp_path):
    path = trident_file(tmp_path / 'slide.h5', vectors(ours), corners(ours), encoder='uni_v2')
    failed = refused(ours, path, tmp_path)
    assert "encoder 'uni_v2' (our UNI2-h)" in failed and '--model UNI2-h' in failed


def refused(ours: dict, path: str, tmp_path) -> str:
    """Run on ``path``; it must fail with exit 4, one line, writing nothing."""
    out = tmp_path / 'out'
    out.mkdir(exist_ok=True)
    result = run_cli(ours['slide'], '--model', 'Test', '--input-embeddings', path, '--keypoints',
                     KEYPOINT, '--output-annotation', str(out / 'h.anot'),
                     '--output-embeddings', str(out / 'e.h5'))
    assert result.returncode == 4, result.stderr
    lines = [line for line in result.stderr.splitlines() if 'error' in line]
    assert len(lines) == 1 and 'Traceback' not in result.stderr, result.stderr
    assert os.listdir(out) == []
    return lines[0]


@pytest.mark.parametrize('damage, expected', [
    ('truncate', 'unreadable or truncated'),
    ('nan', 'NaN'),
    ('coords3', "'coords' is int64 (70, 3)"),
    ('fewer', '69 feature rows for 70 patches'),
    ('other_slide', 'from a 4000 x 2967 slide, not this 2220 x 2967 one'),
    ('outside', 'outside this 2220 x 2967 slide'),
    ('dims', '50-dimensional features where Test gives 51'),
    ('no_features', "in neither TRIDENT's nor STAMP's layout (it holds coords)"),
])
def test_a_bad_trident_file_is_one_line_and_exit_4(ours, tmp_path, damage, expected):
    feats, coords, attrs = vectors(ours), corners(ours), {}
    if damage == 'nan':
        feats[3, 7] = np.nan
    elif damage == 'coords3':
        coords = np.concatenate([coords, coords[:, :1]], axis=1)
    elif damage == 'fewer':
        feats = feats[:-1]
    elif damage == 'other_slide':
        attrs = {'level0_width': 4000}
    elif damage == 'outside':
        coords = coords.copy()
        coords[5] = (5000, 100)
    elif damage == 'dims':
        feats = feats[:, :50]
    path = trident_file(tmp_path / 'slide.h5', feats, coords, **attrs)
    if damage == 'truncate':
        with open(path, 'r+b') as handle:
            handle.truncate(os.path.getsize(path) // 2)
    elif damage == 'no_features':
        with h5py.File(path, 'a') as handle:
            del handle['features']
    assert expected in refused(ours, path, tmp_path)


def test_a_bad_stamp_file_is_one_line_and_exit_4(ours, tmp_path):
    path = stamp_file(tmp_path / 'slide.h5', vectors(ours), corners(ours) * 0.499,
                      feat_type='slide')
    assert 'slide-level STAMP features' in refused(ours, path, tmp_path)
    path = stamp_file(tmp_path / 'far.h5', vectors(ours), corners(ours) * 0.499 + 2000)
    assert 'outside this 2220 x 2967 slide' in refused(ours, path, tmp_path)


def test_stamp_needs_the_slides_microns_per_pixel(ours, tmp_path, slide_no_scale):
    path = stamp_file(tmp_path / 'slide.h5', vectors(ours)[:1], [[0.0, 0.0]])
    out = tmp_path / 'out'
    out.mkdir()
    result = run_cli(slide_no_scale, '--model', 'Test', '--input-embeddings', path,
                     '--output-annotation', str(out / 'h.anot'))
    assert result.returncode == 4, result.stderr
    assert 'the slide has no µm/px' in result.stderr and os.listdir(out) == []


def test_a_collection_search_reads_peer_files_without_embedding(ours, tmp_path):
    """Two slides, one with a TRIDENT file in ``--embeddings-folder`` and one with a LazySlide
    store beside it: each is read once into our cache in the embeddings folder (nothing
    embedded) and the ranking equals a search over our own caches."""
    from test_collection import read_rows, search_args, search_cli

    ranked = {}
    for kind in ('ours', 'trident'):
        folder, caches = tmp_path / kind / 'slides', tmp_path / kind / 'features_Test'
        caches.mkdir(parents=True)
        folder.mkdir()
        for stem in ('a', 'b'):
            shutil.copy(ours['slide'], folder / (stem + '.svs'))
            if kind == 'ours':
                shutil.copy(ours['cache'], caches / (stem + '.svs.Test.npz'))
            elif stem == 'a':
                trident_file(caches / (stem + '.h5'), vectors(ours), corners(ours), name=stem)
            else:  # beside the slide: its store is not taken for slides
                import lazyslide_zarr

                lazyslide_zarr.write(str(folder / 'b.zarr'), vectors(ours), corners(ours),
                                     model='Test')
        result = search_cli(*search_args(str(folder), tmp_path / kind, '--embeddings-folder',
                                         str(caches)))
        assert result.returncode == 0, result.stderr
        ranked[kind] = [(row['image'], row['row'], row['col'], row['score'])
                        for row in read_rows(str(tmp_path / kind / 'results.csv'))]
        assert sorted(os.listdir(caches)) == sorted(
            ['a.svs.Test.npz', 'b.svs.Test.npz'] + (['a.h5'] if kind == 'trident' else []))
        assert '2 of 2 slides searched (0 embedded now, 0 skipped)' in result.stderr
    assert ranked['trident'] == ranked['ours'] and len(ranked['ours']) == 30
    for stem, tool in (('a', 'TRIDENT'), ('b', 'LazySlide')):
        read = store.load(str(tmp_path / 'trident' / 'features_Test' / (stem + '.svs.Test.npz')))
        assert read.provenance.tissue['method'].startswith(tool + ' patches')


def test_a_real_encoder_name_needs_no_weights(ours, tmp_path):
    """TRIDENT's ``uni_v2`` (1536-d, 256-px patches at 20x) read with ``--model UNI2-h``
    offline: the grid is the file's (256-px cells), nothing is loaded or embedded."""
    rows, cols = np.mgrid[3:9, 2:7]
    features = np.random.default_rng(1).normal(size=(rows.size, 1536))
    path = trident_file(tmp_path / 'slide.h5', features,
                        np.stack([cols.ravel() * 256, rows.ravel() * 256], axis=1),
                        encoder='uni_v2', patch_size=256, patch_size_level0=256)
    back = tmp_path / 'back.npz'
    result = run_cli(ours['slide'], '--model', 'UNI2-h', '--input-embeddings', path,
                     '--keypoints', KEYPOINT, '--output-annotation', str(tmp_path / 'h.anot'),
                     '--output-embeddings', str(back), env={'HF_HUB_OFFLINE': '1'})
    assert result.returncode == 0, result.stderr
    assert '12 x 9 cells, 0 embedded now' in result.stderr
    data = store.load(str(back))
    assert (data.grid.tile, data.grid.stride, data.grid.factor) == (256, 256, 1.0)
    assert data.embedded.sum() == rows.size and data.embedded[3:9, 2:7].all()
    assert data.provenance.model.name == 'UNI2-h'


def test_stamp_output_needs_tiles_that_do_not_overlap(ours, tmp_path):
    from EmbeddingSimilarity.errors import OutputError

    data = store.load(ours['cache'])
    data.provenance.grid = dataclasses.replace(data.grid, stride=112)
    with pytest.raises(OutputError, match='STAMP tiles do not overlap'):
        interop.save(str(tmp_path / 'x.stamp.h5'), data)
    assert os.listdir(tmp_path) == []


def test_a_lazyslide_zarr_gives_the_heatmap_of_our_cache(ours, tmp_path):
    import lazyslide_zarr

    order = np.random.default_rng(2).permutation(len(ours['rows']))
    path = lazyslide_zarr.write(str(tmp_path / 'slide.zarr'), vectors(ours)[order],
                                corners(ours)[order], model='Test')
    assert interop.layout(path) == 'LazySlide'
    assert heatmap(ours['slide'], path, tmp_path / 'h.anot') == ours['heatmap']


def test_a_lazyslide_zarr_with_another_model_or_slide_is_one_line(ours, tmp_path):
    import lazyslide_zarr

    path = lazyslide_zarr.write(str(tmp_path / 'a.zarr'), vectors(ours), corners(ours),
                                model='uni')
    assert "LazySlide encoder 'uni' (our UNI), not of Test; pass --model UNI" in refused(
        ours, path, tmp_path)
    path = lazyslide_zarr.write(str(tmp_path / 'b.zarr'), vectors(ours), corners(ours),
                                model='Test', shape=(3000, 2220))
    assert 'from a 2220 x 3000 slide, not this 2220 x 2967 one' in refused(ours, path, tmp_path)
    path = lazyslide_zarr.write(str(tmp_path / 'c.zarr'), vectors(ours), corners(ours),
                                model='Test')
    shutil.rmtree(tmp_path / 'c.zarr' / 'tables' / 'Test_tiles' / 'X' / 'c')  # chunks gone
    assert 'is unreadable or truncated (1 of 1 chunks missing in X)' in refused(
        ours, path, tmp_path)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(['x.h5', 'x.stamp.h5']), st.lists(
    st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
    st.one_of(st.none(), st.floats(0, 1, exclude_max=True)))
def test_a_damaged_file_of_ours_is_refused_or_read_unchanged(ours, tmp_path, name, flips, cut):
    """HDF5 keeps no checksum of its own: ours carry Fletcher-32 on each dataset and our
    provenance, which the attributes must agree with, so a byte flipped or a file cut short is
    a CacheError, never another grid."""
    import copy

    path = str(tmp_path / name)
    if not os.path.exists(path):
        interop.save(path, ours['data'])
    with open(path, 'rb') as handle:
        raw = bytearray(handle.read())
    for where, value in flips:
        raw[int(where * len(raw))] = value
    if cut is not None:
        raw = raw[:int(cut * len(raw))]
    damaged = str(tmp_path / ('damaged.' + name))
    with open(damaged, 'wb') as handle:
        handle.write(bytes(raw))
    try:
        data = interop.load(damaged, copy.deepcopy(ours['data'].provenance))
    except CacheError:
        return
    assert data.grid == ours['data'].grid
    assert (data.embedded == ours['data'].embedded).all()
    assert np.array_equal(np.asarray(data.embeddings), np.asarray(ours['data'].embeddings))


class CacheFolder:
    """The user's Girder cache folder as the run sees it (finding, downloading and storing a
    cache; no claims), holding ``files``: item name -> local file."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.asked: list[str] = []

    def find_cached_embeddings(self, name: str, ending: str = '') -> dict | None:
        self.asked.append(name)
        return {'_id': name} if name in self.files else None

    def download_file(self, file_id: str, path: str) -> None:
        shutil.copy(self.files[file_id], path)

    def claim(self, name: str, owner: str) -> str:
        from EmbeddingSimilarity.errors import GirderError

        raise GirderError('this folder takes no claims')

    def store_cached_embeddings(self, path: str, name: str, metadata: dict) -> str:
        self.files[name] = path
        return name


@pytest.mark.parametrize('encoder', ['Test', 'uni_v2'])
def test_a_trident_file_in_the_girder_cache_folder_serves_a_job(ours, tmp_path, encoder):
    """``<stem>.h5`` in the cache folder serves a job that has no cache of ours; one made with
    another model is passed over with a warning (the job embeds as usual)."""
    from EmbeddingSimilarity.girder.session import GirderLink
    from EmbeddingSimilarity.steps.embed import compute_embeddings
    from EmbeddingSimilarity.steps.request import Request

    path = trident_file(tmp_path / 'up.h5', vectors(ours), corners(ours), encoder=encoder)
    folder = CacheFolder({'slide.h5': path})
    request = Request.of(ours['slide'], keypoints=[(1000.0, 1500.0)], model='Test')
    outcome = compute_embeddings(request, girder=GirderLink(session=folder))
    assert 'slide.h5' in folder.asked
    if encoder == 'Test':
        assert outcome.cache_source == 'girder:slide.h5' and outcome.cells_embedded == 0
        assert np.array_equal(np.asarray(outcome.data.embeddings), ours['data'].embeddings)
    else:
        assert outcome.cache_source is None and outcome.cells_embedded > 0
        assert any(name.endswith('.npz') for name in folder.files)  # cached as ours
