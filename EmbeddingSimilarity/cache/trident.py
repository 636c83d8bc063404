"""TRIDENT's patch features (``features_{encoder}/{slide}.h5``; ``trident/IO.py`` ``save_h5``
and ``coords_to_h5``, ``trident/wsi_objects/WSI.py`` ``extract_features``, at
github.com/mahmoodlab/TRIDENT):

* ``features`` ``(N, D)`` float32, attributes ``name``, ``savetodir``, ``encoder``;
* ``coords`` ``(N, 2)`` int64, the ``(x, y)`` top-left corner of each patch in level-0 pixels,
  attributes ``patch_size`` (at the target magnification), ``patch_size_level0``,
  ``level0_magnification``, ``target_magnification``, ``overlap``, ``level0_width``,
  ``level0_height``, ``name``, ``savetodir``.

The file knows magnifications only (TRIDENT takes 10 / magnification as µm/px); CLAM's older
files (``patch_level``, ``patch_size`` only) are not read.
"""

from __future__ import annotations

import json

import numpy as np

from ..atomic import atomic_write
from ..errors import CacheError
from ..models.peers import their_name
from ..slide.tiling import MPP_TIMES_MAGNIFICATION
from .hdf5 import dataset, number, opened, text
from .peer import PeerFeatures
from .store import EmbeddingGrid

TOOL = 'TRIDENT'
OURS = 'embedding_similarity_provenance'
"""Root attribute holding our provenance JSON in a file we wrote (TRIDENT ignores it)."""


def looks_like(handle) -> bool:
    """Whether an open HDF5 file has TRIDENT's two datasets."""
    return 'features' in handle and 'coords' in handle


def read(path: str, features: bool = True) -> PeerFeatures:
    """The file's patches (and their features unless ``features`` is False)."""
    with opened(path, TOOL) as handle:
        coords = dataset(handle, 'coords', path, TOOL, columns=2)
        feats = dataset(handle, 'features', path, TOOL, kind='f')
        if feats.shape[0] != coords.shape[0]:
            raise CacheError('%s is malformed: %d feature rows for %d patches; extract its '
                             'features again' % (path, feats.shape[0], coords.shape[0]))
        attrs = coords.attrs
        tile = number(attrs, 'patch_size', path)
        level0 = number(attrs, 'level0_magnification', path, required=False)
        target = number(attrs, 'target_magnification', path, required=False)
        size0 = number(attrs, 'patch_size_level0', path, required=False)
        if not (level0 and target) and not size0:
            raise CacheError('%s is malformed: its coords carry neither magnifications nor '
                             'patch_size_level0; extract its features again' % path)
        overlap = number(attrs, 'overlap', path, required=False) or 0.0
        width = number(attrs, 'level0_width', path, required=False)
        height = number(attrs, 'level0_height', path, required=False)
        ours = _ours(handle)
        peer = PeerFeatures(
            path=path, tool=TOOL, encoder=text(feats.attrs, 'encoder'),
            corners=np.asarray(coords[()], dtype=np.float64), unit='px', tile=int(tile),
            stride=max(1, int(round(tile - overlap))),
            factor=level0 / target if level0 and target else size0 / tile,
            magnification=target, dim=int(feats.shape[1]), ours=ours,
            image_size=(int(width), int(height)) if width and height else None)
        if features:
            peer.features = feats[()]
    return peer


def _ours(handle) -> dict | None:
    raw = text(handle.attrs, OURS)
    try:
        found = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return None
    return found if isinstance(found, dict) else None


def level0_magnification(data: EmbeddingGrid) -> float:
    """The slide's magnification as TRIDENT reckons it: its own, else 10 / its µm/px, else the
    model's times the factor (20x when nothing is known)."""
    scale, factor = data.provenance.scale, data.grid.factor
    if scale is not None and scale.slide_magnification:
        return float(scale.slide_magnification)
    if scale is not None and scale.slide_mpp:
        return MPP_TIMES_MAGNIFICATION / scale.slide_mpp
    if scale is not None and scale.magnification:
        return float(scale.magnification) * factor
    return 20.0 * factor


def write(path: str, data: EmbeddingGrid) -> None:
    """``data``'s embedded cells as a TRIDENT feature file, atomically."""
    import h5py

    grid, provenance = data.grid, data.provenance
    level0 = level0_magnification(data)
    rows, cols = np.nonzero(data.embedded)
    coords = np.stack([np.rint(cols * grid.stride_base), np.rint(rows * grid.stride_base)],
                      axis=1).astype(np.int64).reshape(-1, 2)
    name = provenance.image.name.rsplit('.', 1)[0]
    with atomic_write(path) as handle, h5py.File(handle, 'w') as out:
        # Fletcher-32 checksums (a standard HDF5 filter every reader applies): damage to a file
        # of ours is an error on reading, not a wrong heatmap
        feats = out.create_dataset('features', data=np.asarray(
            data.embeddings[rows, cols], dtype=np.float32).reshape(len(rows), -1),
            fletcher32=True)
        feats.attrs.update({'name': name, 'savetodir': 'None',
                            'encoder': their_name(TOOL, provenance.model.name)})
        dset = out.create_dataset('coords', data=coords, fletcher32=True)
        dset.attrs.update({
            'patch_size': grid.tile, 'patch_size_level0': int(round(grid.tile_base)),
            'level0_magnification': float(level0),
            'target_magnification': float(level0) / grid.factor,
            'overlap': grid.tile - grid.stride, 'name': name, 'savetodir': 'None',
            'level0_width': grid.image_width, 'level0_height': grid.image_height})
        out.attrs[OURS] = json.dumps(data.meta, allow_nan=False, sort_keys=True)
