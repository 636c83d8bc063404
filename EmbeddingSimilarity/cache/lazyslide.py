"""LazySlide's tile features, in the SpatialData ``{slide}.zarr`` wsidata writes
(``wsidata/io/_elems.py`` ``add_tiles``, ``add_features``; ``wsidata/_model/tile.py``
``TileSpec``; LazySlide ``src/lazyslide/_const.py`` ``Key.feature``; SpatialData
``src/spatialdata/_io/io_shapes.py``, ``_core/spatialdata.py`` ``write_attrs``):

* root attributes: ``tile_spec`` ``{tile_key: {height, width, stride_height, stride_width, mpp,
  ops_level, ops_downsample, base_level, base_downsample, tissue_name}}`` and
  ``slide_properties`` (``shape`` = [height, width], ``mpp``, ``magnification``, ...);
* ``shapes/{tile_key}/shapes.parquet``: GeoParquet with ``tile_id``, ``x``, ``y`` (top-left in
  level-0 pixels), ``tissue_id`` and the box ``geometry``;
* ``tables/{model}_{tile_key}``: an AnnData, ``X`` (N, D) and ``obs/tile_id``.

Reading the GeoParquet needs pyarrow (the ``lazyslide`` extra). Only numeric arrays are read
(never an object array, whose codec could unpickle).
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..errors import CacheError
from .peer import PeerFeatures

TOOL = 'LazySlide'


def looks_like(path: str) -> bool:
    """Whether ``path`` is a zarr folder with SpatialData tables (a LazySlide ``.zarr``)."""
    return os.path.isdir(path) and os.path.isdir(os.path.join(path, 'tables')) and any(
        os.path.isfile(os.path.join(path, name)) for name in ('zarr.json', '.zgroup'))


def _bad(path: str, what: str) -> CacheError:
    return CacheError('LazySlide file %s is malformed: %s; run LazySlide\'s tile_tissues and '
                      'feature_extraction on the slide again' % (path, what))


def _open(path: str) -> Any:
    try:
        import zarr
    except ImportError as exc:
        raise CacheError('reading LazySlide file %s needs zarr 3; pip install '
                         '"embedding-similarity[lazyslide]"' % path) from exc
    try:
        return zarr.open_group(path, mode='r')
    except Exception as exc:  # zarr raises many kinds for a damaged store
        raise CacheError('LazySlide file %s is unreadable (%s); run its feature extraction '
                         'again' % (path, type(exc).__name__)) from exc


def _table(root: Any, path: str, model: str, tables: dict[str, str]) -> tuple[str, str]:
    """The feature table to read and its tile key: the one whose model is ``model`` (our
    name), else the only one."""
    from ..models.peers import our_models

    found = []
    for name in tables:
        for key in sorted(root.attrs.get('tile_spec') or {}, key=len, reverse=True):
            if name.endswith('_' + key) and len(name) > len(key) + 1:
                found.append((name[:-len(key) - 1], key))
                break
    mine = [item for item in found if model in our_models(TOOL, item[0])]
    if len(mine) == 1 or len(found) == 1:
        return (mine or found)[0]
    if not found:
        raise _bad(path, 'no feature table of a tiling in its tile_spec')
    raise CacheError('LazySlide file %s holds features of %s, none of them (or several) %s; '
                     'pass the --model that made one' % (
                         path, ', '.join(sorted(m for m, _ in found)), model))


def _numeric(group: Any, name: str, path: str, ndim: int) -> np.ndarray:
    import zarr

    array = group.get(name)
    if not isinstance(array, zarr.Array) or array.ndim != ndim or \
            np.dtype(array.dtype).kind not in 'fiu':
        raise _bad(path, '%s is not a %d-d numeric array' % (name, ndim))
    try:
        if array.nchunks_initialized < array.nchunks:  # zarr reads a missing chunk as zeros
            raise EOFError('%d of %d chunks missing' % (
                array.nchunks - array.nchunks_initialized, array.nchunks))
        return array[...]
    except Exception as exc:  # a chunk missing or damaged
        raise CacheError('LazySlide file %s is unreadable or truncated (%s in %s); run its '
                         'feature extraction again' % (path, str(exc)[:80] or type(exc).__name__,
                                                       name)) from exc


def _tiles(path: str, key: str) -> dict[str, np.ndarray]:
    try:
        from pyarrow import parquet
    except ImportError as exc:
        raise CacheError('reading LazySlide file %s needs pyarrow; pip install '
                         '"embedding-similarity[lazyslide]"' % path) from exc
    try:
        table = parquet.read_table(os.path.join(path, 'shapes', key, 'shapes.parquet'),
                                   columns=['tile_id', 'x', 'y'])
        return {name: table.column(name).to_numpy() for name in ('tile_id', 'x', 'y')}
    except Exception as exc:  # pyarrow's errors: missing file, bad footer, missing column
        raise CacheError('LazySlide file %s has unreadable tiles %s (%s); run its tile_tissues '
                         'again' % (path, key, str(exc).splitlines()[0][:100])) from exc


def _spec(spec: Any, path: str, key: str) -> tuple[int, int, float, float | None]:
    """Tile, stride (model px), level-0 px per model px and µm/px of tiling ``key``."""
    try:
        tile, stride = int(spec['width']), int(spec['stride_width'])
        factor = float(spec.get('base_downsample', 1.0))
        square = tile == int(spec['height']) and stride == int(spec['stride_height'])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _bad(path, 'tile_spec %r lacks its sizes' % key) from exc
    if not square or tile < 1 or stride < 1 or not (math.isfinite(factor) and factor > 0):
        raise _bad(path, 'tile_spec %r is not square tiles with a positive scale' % key)
    mpp = spec.get('mpp')
    return tile, stride, factor, float(mpp) if isinstance(mpp, (int, float)) and mpp > 0 else None


def read(path: str, model: str = '', features: bool = True) -> PeerFeatures:
    """The tiles of the feature table made by ``model`` (the only one when there is one)."""
    root = _open(path)
    tables = dict(root['tables'].groups()) if 'tables' in root else {}
    encoder, key = _table(root, path, model, tables)
    tile, stride, factor, mpp = _spec(root.attrs['tile_spec'][key], path, key)
    group = tables[encoder + '_' + key]
    obs = group.get('obs')
    if obs is None:
        raise _bad(path, 'table %s_%s has no obs' % (encoder, key))
    ids = _numeric(obs, 'tile_id', path, 1)
    found = _tiles(path, key)
    order = np.argsort(found['tile_id'], kind='stable')
    where = np.searchsorted(found['tile_id'], ids, sorter=order)
    where = order[np.clip(where, 0, len(order) - 1)] if len(order) else where
    if not len(order) or (found['tile_id'][where] != ids).any():
        raise _bad(path, 'its features name tiles that %s does not hold' % key)
    corners = np.stack([found['x'][where], found['y'][where]], axis=1).astype(np.float64)
    props = root.attrs.get('slide_properties') or {}
    shape = props.get('shape') if isinstance(props, dict) else None
    x = _numeric(group, 'X', path, 2) if features else None
    dim = int(x.shape[1]) if x is not None else int(group['X'].shape[1])
    if x is not None and len(x) != len(ids):
        raise _bad(path, '%d feature rows for %d tiles' % (len(x), len(ids)))
    return PeerFeatures(
        path=path, tool=TOOL, encoder=encoder, corners=corners, unit='px', tile=tile,
        stride=stride, factor=factor, mpp=mpp, features=x, dim=dim,
        image_size=(int(shape[1]), int(shape[0])) if isinstance(shape, list) and len(shape) == 2
        else None)
