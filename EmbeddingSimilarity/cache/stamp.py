"""STAMP's tile features (``{slide}.h5``; ``src/stamp/preprocessing/__init__.py`` and
``src/stamp/modeling/data.py`` ``get_coords``, at github.com/KatherLab/STAMP):

* ``feats`` ``(N, D)`` float16; ``coords`` ``(N, 2)`` float, the ``(x, y)`` top-left corner of
  each tile in micrometres from the slide's top-left corner;
* root attributes ``unit`` = 'um', ``tile_size_um`` (``tile_size`` before v2.1), ``tile_size_px``,
  ``extractor``, ``feat_type`` = 'tile', ``stamp_version``, ``code_hash``.

The file has no slide size and no level-0 pixels: the slide's own µm/px places the tiles. STAMP's
historic files (coordinates in 224-px units, no ``unit``) are not read.
"""

from __future__ import annotations

import json

import numpy as np

from ..atomic import atomic_write
from ..errors import CacheError, OutputError
from ..models.peers import their_name
from .hdf5 import dataset, number, opened, text
from .peer import PeerFeatures
from .store import EmbeddingGrid
from .trident import OURS, _ours

TOOL = 'STAMP'


def looks_like(handle) -> bool:
    """Whether an open HDF5 file has STAMP's two datasets."""
    return 'feats' in handle and 'coords' in handle


def read(path: str, features: bool = True) -> PeerFeatures:
    """The file's tiles (and their features unless ``features`` is False)."""
    with opened(path, TOOL) as handle:
        attrs = handle.attrs
        feat_type = text(attrs, 'feat_type')
        if feat_type and feat_type != 'tile':
            raise CacheError('%s holds %s-level STAMP features, not tile features; pass the '
                             'tile features of one slide' % (path, feat_type))
        coords = dataset(handle, 'coords', path, TOOL, columns=2)
        feats = dataset(handle, 'feats', path, TOOL, kind='f')
        if feats.shape[0] != coords.shape[0]:
            raise CacheError('%s is malformed: %d feature rows for %d tiles; extract its '
                             'features again' % (path, feats.shape[0], coords.shape[0]))
        if text(attrs, 'unit') != 'um' and 'tile_size_um' not in attrs:
            raise CacheError('%s is an old STAMP file without micrometre coordinates (no unit '
                             'attribute); extract its features again with STAMP 2' % path)
        tile_um = number(attrs, 'tile_size_um' if 'tile_size_um' in attrs else 'tile_size', path)
        tile_px = int(number(attrs, 'tile_size_px', path))
        peer = PeerFeatures(
            path=path, tool=TOOL, encoder=text(attrs, 'extractor'),
            corners=np.asarray(coords[()], dtype=np.float64), unit='um', tile=tile_px,
            stride=tile_px, mpp=tile_um / tile_px, dim=int(feats.shape[1]), ours=_ours(handle))
        if features:
            peer.features = feats[()]
    return peer


def write(path: str, data: EmbeddingGrid) -> None:
    """``data``'s embedded cells as a STAMP tile-feature file, atomically (coordinates in µm
    through the slide's own µm/px, which it must have)."""
    import h5py

    grid, provenance = data.grid, data.provenance
    slide_mpp = provenance.scale.slide_mpp if provenance.scale else None
    if not slide_mpp:
        raise OutputError('cannot write %s in STAMP\'s layout: the slide has no µm/px and STAMP '
                          'places tiles in micrometres; write a TRIDENT .h5 or our .npz' % path)
    if grid.stride != grid.tile:
        raise OutputError('cannot write %s in STAMP\'s layout: STAMP tiles do not overlap (stride '
                          '%d != tile %d); write a TRIDENT .h5 or our .npz'
                          % (path, grid.stride, grid.tile))
    rows, cols = np.nonzero(data.embedded)
    coords = np.stack([cols, rows], axis=1).reshape(-1, 2) * grid.stride_base * slide_mpp
    with atomic_write(path) as handle, h5py.File(handle, 'w') as out:
        out.create_dataset('coords', data=coords.astype(np.float64), fletcher32=True)
        out.create_dataset('feats', data=np.asarray(
            data.embeddings[rows, cols], dtype=np.float16).reshape(len(rows), -1),
            fletcher32=True)  # checksums, as in trident.write
        out.attrs.update({
            'extractor': their_name(TOOL, provenance.model.name), 'unit': 'um',
            'tile_size_um': grid.tile_base * slide_mpp, 'tile_size_px': grid.tile,
            'feat_type': 'tile',
            OURS: json.dumps(data.meta, allow_nan=False, sort_keys=True)})
