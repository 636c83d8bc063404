"""A LazySlide feature store written without wsidata: wsidata 0.12 pulls 60 packages from PyPI
(numba, pyarrow, geopandas, datashader, s3fs...) and pins an older dask than ours, so the test
writes the SpatialData layout its writers produce, read in their source:

* wsidata ``wsidata/io/_elems.py`` ``add_tiles`` (a GeoDataFrame ``tile_id``, ``x``, ``y``,
  ``tissue_id``, ``geometry`` = level-0 boxes; ``attrs['tile_spec'][key] = TileSpec.to_dict()``)
  and ``add_features`` (an AnnData ``X``, ``obs`` = ``tile_id``, ``library_id``, parsed as a
  ``TableModel`` with ``region=tile_key``); ``wsidata/_model/tile.py`` ``TileSpec``;
* LazySlide ``src/lazyslide/_const.py``: the table is ``{model}_{tile_key}``;
* SpatialData ``_io/io_shapes.py`` (``shapes/{key}/shapes.parquet``, GeoParquet with WKB
  geometry), ``_core/spatialdata.py`` (``SpatialData.attrs`` in the root group's attributes
  beside ``spatialdata_attrs``), and anndata's zarr encoding of a table (groups and arrays with
  ``encoding-type``; ``obs`` a ``dataframe`` with ``_index``, a categorical ``library_id``).
"""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import zarr


def _box_wkb(x: float, y: float, side: float) -> bytes:
    ring = [(x, y), (x + side, y), (x + side, y + side), (x, y + side), (x, y)]
    return struct.pack('<BII', 1, 3, 1) + struct.pack('<I', len(ring)) + b''.join(
        struct.pack('<dd', *point) for point in ring)


def _encoded(node, kind: str, version: str = '0.2.0') -> None:
    node.attrs.update({'encoding-type': kind, 'encoding-version': version})


def write(path: str, features: np.ndarray, corners: np.ndarray, model: str = 'uni',
          tile: int = 224, stride: int = 224, mpp: float = 0.499, downsample: float = 1.0,
          shape: tuple[int, int] = (2967, 2220), key: str = 'tiles') -> str:
    """``{slide}.zarr`` with tiles ``key`` at ``corners`` (level-0 top-left) and the table
    ``{model}_{key}``; ``shape`` is the slide's (height, width)."""
    root = zarr.open_group(path, mode='w')
    spec = {'height': tile, 'width': tile, 'stride_height': stride, 'stride_width': stride,
            'mpp': mpp, 'ops_level': 0, 'ops_downsample': 1.0, 'base_level': 0,
            'base_downsample': downsample, 'tissue_name': 'tissues'}
    root.attrs.update({
        'spatialdata_attrs': {'version': '0.2'}, 'tile_spec': {key: spec},
        'slide_properties': {'shape': list(shape), 'n_level': 1, 'level_shape': [list(shape)],
                             'level_downsample': [1.0], 'mpp': 0.499, 'magnification': 20.0,
                             'bounds': [0, 0, shape[1], shape[0]]}})
    ids = np.arange(len(corners))
    shapes = root.create_group('shapes').create_group(key)
    shapes.attrs.update({'encoding-type': 'ngff:shapes', 'axes': ['x', 'y'],
                         'spatialdata_attrs': {'version': '0.3'}})
    side = tile * downsample
    pq.write_table(pa.table({
        'tile_id': ids, 'x': corners[:, 0], 'y': corners[:, 1],
        'tissue_id': np.zeros(len(ids), dtype=np.int64),
        'geometry': [_box_wkb(x, y, side) for x, y in corners]}),
        '%s/shapes/%s/shapes.parquet' % (path, key))
    table = root.create_group('tables').create_group('%s_%s' % (model, key))
    _encoded(table, 'anndata', '0.1.0')
    table.attrs['spatialdata_attrs'] = {'region': key, 'region_key': 'library_id',
                                        'instance_key': 'tile_id'}
    _encoded(table.create_array('X', data=np.asarray(features, dtype=np.float32)), 'array')
    obs = table.create_group('obs')
    _encoded(obs, 'dataframe')
    obs.attrs.update({'_index': '_index', 'column-order': ['tile_id', 'library_id']})
    names = np.array([str(i) for i in ids], dtype=np.dtypes.StringDType())
    _encoded(obs.create_array('_index', data=names), 'string-array')
    _encoded(obs.create_array('tile_id', data=ids), 'array')
    library = obs.create_group('library_id')
    _encoded(library, 'categorical')
    library.attrs['ordered'] = False
    _encoded(library.create_array('codes', data=np.zeros(len(ids), dtype=np.int8)), 'array')
    categories = np.array([key], dtype=np.dtypes.StringDType())
    _encoded(library.create_array('categories', data=categories), 'string-array')
    return path
