"""One door for every embedding file a run reads or writes, told apart by content: our ``.npz``
(:mod:`.store`), TRIDENT's and STAMP's ``.h5`` (:mod:`.trident`, :mod:`.stamp`) and LazySlide's
``.zarr`` folder (:mod:`.lazyslide`, read only).

A peer file lays out the grid itself (:func:`plan_peer`: its patch size, stride and scale, the
slide's own size and µm/px), names the encoder that made it (which must be the run's model) and
marks the cells without a patch as not embedded. See ``docs/interop.rst``.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

from ..errors import CacheError
from . import lazyslide, stamp, store, trident
from .hdf5 import is_hdf5, opened
from .integrity import verify
from .peer import PeerFeatures, Placement, check_model, place, to_grid
from .provenance import Provenance

READERS = ('TRIDENT', 'STAMP', 'LazySlide')
STAMP_SUFFIX = '.stamp.h5'
"""An ``--output-embeddings`` name ending so is written in STAMP's layout (else ``.h5``:
TRIDENT's)."""


def layout(path: str) -> str:
    """'npz', 'TRIDENT', 'STAMP', 'LazySlide' or '' (none of these; :func:`load` says why)."""
    if lazyslide.looks_like(path):
        return 'LazySlide'
    if not os.path.isfile(path):
        return ''
    if zipfile.is_zipfile(path):
        return 'npz'
    if not is_hdf5(path):
        return ''
    try:
        with opened(path, 'HDF5') as handle:
            for name, module in (('TRIDENT', trident), ('STAMP', stamp)):
                if module.looks_like(handle):
                    return name
    except CacheError:
        return ''
    return ''


def is_peer(path: str) -> bool:
    """Whether ``path`` is another tool's feature file."""
    return bool(path) and layout(path) in READERS


def read_peer(path: str, features: bool = True, model: str = '') -> PeerFeatures:
    """A peer file read (a CacheError when it is none of the known layouts); ``model``: our
    model whose features to take from a LazySlide file that holds several."""
    found = layout(path)
    if found not in READERS:
        what = 'unreadable or truncated'
        if is_hdf5(path):
            with opened(path, 'HDF5') as handle:  # says why it cannot be read, if it cannot
                what = ('an HDF5 file in neither TRIDENT\'s nor STAMP\'s layout (it holds %s)'
                        % (', '.join(sorted(handle)[:8]) or 'nothing'))
        raise CacheError('embedding file %s is %s; pass our .npz, a TRIDENT or a STAMP .h5 or '
                         'a LazySlide .zarr' % (path, what))
    if found == 'LazySlide':
        return lazyslide.read(path, model, features=features)
    return (trident if found == 'TRIDENT' else stamp).read(path, features=features)


def plan_peer(path: str, metadata: dict[str, Any], model: str, dim: int) -> Placement:
    """The grid and scale a peer file's patches were cut on, over this slide, after checking
    that ``model`` (``dim``-dimensional) made them."""
    peer = read_peer(path, features=False, model=model)
    check_model(peer, model, dim)
    return place(peer, metadata)


def load(path: str, wanted: Provenance) -> store.EmbeddingGrid:
    """Any embedding file as a grid for a run that wants ``wanted`` (a peer file in
    ``wanted``'s grid, which :func:`plan_peer` laid out)."""
    if not lazyslide.looks_like(path) and (
            not os.path.isfile(path) or zipfile.is_zipfile(path) or not is_hdf5(path)):
        return store.load(path)  # ours, or its one-line reason why not
    peer = read_peer(path, model=wanted.model.name)
    ours = peer.ours or {}
    fingerprint = (ours.get('image') or {}).get('fingerprint') if isinstance(
        ours.get('image'), dict) else None
    if fingerprint and not wanted.image.matches(str(fingerprint)):
        raise CacheError('embedding file %s was made from another image (%s) than this one; give '
                         'the feature file of this slide' % (path, ours['image'].get('name')))
    check_model(peer, wanted.model.name, wanted.model.embed_dim)
    placement = place(peer, wanted.image.metadata or {
        'sizeX': wanted.grid.image_width, 'sizeY': wanted.grid.image_height})
    _check_ours(peer, placement)
    return to_grid(peer, placement, wanted)


def _check_ours(peer: PeerFeatures, placement: Placement) -> None:
    """A file we wrote lays out the grid its provenance records (HDF5 attributes carry no
    checksum: a damaged one would shift the grid)."""
    stored = (peer.ours or {}).get('grid')
    if not isinstance(stored, dict):
        return
    grid = placement.grid
    try:
        same = all(stored[key] == getattr(grid, key) for key in ('tile', 'stride', 'rows', 'cols')
                   ) and abs(float(stored['factor']) - grid.factor) <= 1e-6
    except (KeyError, TypeError, ValueError):
        same = False
    if not same:
        raise CacheError('embedding file %s is corrupt: its attributes lay out another grid than '
                         'the one it was written with; write it again' % peer.path)


def from_peer(data: store.EmbeddingGrid) -> bool:
    """Whether a grid was read from a peer file (its missing cells are not embedded now)."""
    return 'patches' in data.provenance.tissue


def source_note(data: store.EmbeddingGrid) -> str:
    """For an annotation's description: whose patches the cells are, and how many were binned
    ('' for a grid of ours)."""
    tissue = data.provenance.tissue
    if not from_peer(data):
        return ''
    tool = str(tissue.get('method', '')).split(' ')[0]
    note = 'Cells are the %s %s patches of %s' % (tissue.get('patches'), tool,
                                                  os.path.basename(str(tissue.get('source'))))
    return note + ('; %s.' % tissue['binned'] if tissue.get('binned') else '.')


def save(path: str, data: store.EmbeddingGrid) -> None:
    """Write ``data`` in the layout ``path``'s name asks for: ``.stamp.h5`` STAMP, ``.h5``
    TRIDENT, anything else our ``.npz``."""
    name = path.lower()
    if name.endswith(('.h5', '.hdf5')) and getattr(data.embeddings, 'integrity', None):
        verify(data.embeddings, data.norms)  # never copy a damaged cache into a new file
    if name.endswith(STAMP_SUFFIX):
        stamp.write(path, data)
    elif name.endswith(('.h5', '.hdf5')):
        trident.write(path, data)
    else:
        store.save(path, data)
