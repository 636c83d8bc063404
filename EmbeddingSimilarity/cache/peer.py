"""Feature files of other tools as embedding grids: what such a file holds once read
(:class:`PeerFeatures`), and how its patches, listed by their top-left corners, become the
cells of our regular grid (:func:`place`, :func:`to_grid`).

A patch's top-left corner ``(x, y)`` in level-0 pixels is cell ``(round(y / s), round(x / s))``
where ``s`` is the grid's stride in level-0 pixels: our cells are centred ``tile / 2`` past their
corner, theirs too, so corners and centres bin alike. Patches within 5% of a stride of a grid
point are on the grid; others are binned to the nearest cell and the provenance says how many.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Any

import numpy as np

from ..errors import CacheError, InputError
from ..models.peers import our_models
from ..slide.tiling import (
    MPP_TIMES_MAGNIFICATION,
    PLAUSIBLE_MAGNIFICATION,
    PLAUSIBLE_MPP,
    Scale,
    TileGrid,
    _plausible,
    plan_grid,
)
from .provenance import Provenance
from .store import EmbeddingGrid

logger = logging.getLogger(__name__)

ON_GRID = 0.05
"""A patch this share of a stride from a grid point is on the grid."""
FLOAT16_MAX = 65504.0
BLOCK = 16384
"""Patches converted at a time."""


@dataclasses.dataclass
class PeerFeatures:
    """One slide's patch features as another tool wrote them."""

    path: str
    tool: str
    """'TRIDENT', 'STAMP' or 'LazySlide'."""
    encoder: str
    """The file's encoder name ('' when it names none)."""
    corners: np.ndarray
    """``(N, 2)`` float64 top-left ``(x, y)`` of each patch, in :attr:`unit`."""
    unit: str
    """'px' (level-0 pixels) or 'um' (micrometres from the slide's top-left corner)."""
    tile: int
    """Patch side in model pixels."""
    stride: int
    """Distance between neighbouring patches in model pixels."""
    factor: float | None = None
    """Level-0 pixels per model pixel, when the file says (TRIDENT, LazySlide)."""
    mpp: float | None = None
    """µm per model pixel, when the file says (STAMP, LazySlide)."""
    magnification: float | None = None
    """The magnification the patches were read at, when the file says (TRIDENT)."""
    image_size: tuple[int, int] | None = None
    features: np.ndarray | None = None
    """``(N, D)``; None when only the geometry was read."""
    dim: int = 0
    ours: dict[str, Any] | None = None
    """Our provenance JSON, when EmbeddingSimilarity wrote the file."""


@dataclasses.dataclass
class Placement:
    """Where a peer file's patches fall on our grid."""

    grid: TileGrid
    scale: Scale
    cells: np.ndarray
    """``(N, 2)`` row, col of each patch."""
    binned: int = 0
    """Patches off the grid, put in the nearest cell."""
    worst: float = 0.0
    """The largest distance of a binned patch from its grid point, in level-0 pixels."""
    duplicates: int = 0
    """Patches that fell on a cell another patch already holds (the first one is kept)."""

    def describe(self, peer: PeerFeatures) -> dict[str, Any]:
        """The provenance's ``tissue`` section for a grid read from ``peer``."""
        out: dict[str, Any] = {
            'method': '%s patches (cells without a patch count as glass)' % peer.tool,
            'source': peer.path, 'patches': len(self.cells)}
        if self.binned:
            out['binned'] = ('%d of %d patches were not on one regular grid and were binned to '
                             'the nearest cell (up to %.0f level-0 px away)'
                             % (self.binned, len(self.cells), self.worst))
        if self.duplicates:
            out['duplicates'] = '%d patches shared a cell; the first was kept' % self.duplicates
        return out


def slide_scale(metadata: dict[str, Any]) -> tuple[float | None, float | None]:
    """The slide's own µm/px and magnification (None where missing or implausible)."""
    mm_x = metadata.get('mm_x')
    return (_plausible(mm_x * 1000.0 if mm_x else None, PLAUSIBLE_MPP),
            _plausible(metadata.get('magnification'), PLAUSIBLE_MAGNIFICATION))


def _level0(peer: PeerFeatures, metadata: dict[str, Any]) -> tuple[np.ndarray, float, Scale]:
    """Corners in level-0 pixels, the factor, and the scale the patches were read at."""
    slide_mpp, slide_mag = slide_scale(metadata)
    if peer.unit == 'um':
        if not slide_mpp:
            raise CacheError('%s gives patch positions in micrometres but the slide has no µm/px '
                             'to place them; use a slide with a µm/px in its metadata' % peer.path)
        factor = peer.mpp / slide_mpp
        corners = peer.corners / slide_mpp
    else:
        factor, corners = float(peer.factor), peer.corners
    mpp = peer.mpp or (slide_mpp * factor if slide_mpp else None) or (
        MPP_TIMES_MAGNIFICATION / peer.magnification if peer.magnification else None)
    magnification = peer.magnification or (slide_mag / factor if slide_mag else None) or (
        MPP_TIMES_MAGNIFICATION / mpp if mpp else None)
    source = 'mpp' if peer.mpp or (slide_mpp and not peer.magnification) else 'magnification'
    scale = Scale(factor, mpp, magnification, source, slide_mpp, slide_mag)
    return corners, factor, _our_scale(peer, factor) or scale


def _our_scale(peer: PeerFeatures, factor: float) -> Scale | None:
    """The scale record of a file we wrote, when it agrees with the file's geometry."""
    stored = (peer.ours or {}).get('scale')
    if not isinstance(stored, dict):
        return None
    try:
        scale = Scale(**{field.name: stored[field.name] for field in dataclasses.fields(Scale)
                         if field.name in stored})
    except TypeError:
        return None
    return scale if isinstance(scale.factor, float) and abs(scale.factor - factor) < 1e-6 \
        else None


def place(peer: PeerFeatures, metadata: dict[str, Any]) -> Placement:
    """Lay our grid over the slide the way ``peer``'s patches were cut, and find each patch's
    cell; a file of another slide (size, or patches outside it) is a :class:`CacheError`."""
    width, height = int(metadata['sizeX']), int(metadata['sizeY'])
    if peer.image_size is not None and tuple(peer.image_size) != (width, height):
        raise CacheError('%s was made from a %d x %d slide, not this %d x %d one; give the '
                         'feature file of this slide' % (peer.path, *peer.image_size, width,
                                                         height))
    corners, factor, scale = _level0(peer, metadata)
    if not (np.isfinite(factor) and factor > 0):
        raise CacheError('%s has an unusable patch scale; give a feature file written by %s'
                         % (peer.path, peer.tool))
    outside = (corners < -1) | (corners >= np.array([width, height]) + 1)
    if outside.any():
        x, y = corners[np.flatnonzero(outside.any(axis=1))[0]]
        raise CacheError('%s has a patch at (%.0f, %.0f), outside this %d x %d slide; give the '
                         'feature file of this slide' % (peer.path, x, y, width, height))
    try:
        grid = plan_grid(width, height, peer.tile, peer.stride, factor)
    except InputError as exc:  # the file's tile, stride or scale is out of range
        raise CacheError('%s cannot be laid over this slide: %s; extract its features again'
                         % (peer.path, str(exc).split(';')[0])) from exc
    step = grid.stride_base
    cells = np.rint(corners[:, ::-1] / step).astype(np.int64).clip(0)
    rows = max(grid.rows, int(cells[:, 0].max()) + 1 if len(cells) else 0)
    cols = max(grid.cols, int(cells[:, 1].max()) + 1 if len(cells) else 0)
    grid = dataclasses.replace(grid, rows=rows, cols=cols)
    distance = np.abs(corners[:, ::-1] - cells * step).max(axis=1) if len(cells) else cells
    off = distance > ON_GRID * step
    flat = cells[:, 0] * cols + cells[:, 1]
    duplicates = len(flat) - len(np.unique(flat))
    placement = Placement(grid, scale, cells, int(off.sum()),
                          float(distance[off].max()) if off.any() else 0.0, duplicates)
    if placement.binned or duplicates:
        logger.warning('%s: %s', peer.path, '; '.join(
            value for key, value in placement.describe(peer).items()
            if key in ('binned', 'duplicates')))
    return placement


def check_model(peer: PeerFeatures, name: str, dim: int) -> None:
    """The run's model (``name``, ``dim``) is the one that made ``peer``'s features."""
    if peer.ours and isinstance(peer.ours.get('model'), dict):
        candidates: tuple[str, ...] = (str(peer.ours['model'].get('name')),)
    elif peer.encoder:
        candidates = our_models(peer.tool, peer.encoder)
    else:
        candidates = (name,)
        logger.warning('%s names no encoder; taking its features as %s', peer.path, name)
    if name not in candidates:
        raise CacheError('%s holds features of %s encoder %r (our %s), not of %s; pass --model '
                         '%s' % (peer.path, peer.tool, peer.encoder or candidates[0],
                                 ' or '.join(candidates), name, candidates[0]))
    if peer.dim != dim:
        raise CacheError('%s holds %d-dimensional features where %s gives %d (another pooling or '
                         'model); pass the --model that made them' % (peer.path, peer.dim, name,
                                                                      dim))


def to_grid(peer: PeerFeatures, placement: Placement, wanted: Provenance) -> EmbeddingGrid:
    """``peer``'s features in our grid (``wanted``'s, which :func:`place` laid out)."""
    grid = wanted.grid
    if (grid.rows, grid.cols, grid.tile, grid.stride) != (
            placement.grid.rows, placement.grid.cols, placement.grid.tile,
            placement.grid.stride) or abs(grid.factor - placement.grid.factor) > 1e-6:
        raise CacheError('%s was cut as %d px patches every %d px at %.4g level-0 px/px, not as '
                         'this run asks; drop --tile-size, --stride, --mpp and --magnification'
                         % (peer.path, placement.grid.tile, placement.grid.stride,
                            placement.grid.factor))
    features = peer.features
    embeddings = np.zeros((grid.rows, grid.cols, features.shape[1]), dtype=np.float16)
    embedded = np.zeros(grid.shape, dtype=bool)
    cells = placement.cells
    _, first = np.unique(cells[:, 0] * grid.cols + cells[:, 1], return_index=True)
    keep = np.sort(first)  # the first patch of each cell
    for start in range(0, len(keep), BLOCK):  # a block at a time: a bounded copy of the file
        some = keep[start:start + BLOCK]
        block = np.asarray(features[some], dtype=np.float32)
        with np.errstate(invalid='ignore', over='ignore'):
            bad = ~np.isfinite(block).all(axis=1) | (np.abs(block).max(axis=1, initial=0)
                                                     > FLOAT16_MAX)
        if bad.any():
            raise CacheError('%s is corrupt: patch %d holds NaN, infinite or out-of-range '
                             'values; extract its features again'
                             % (peer.path, some[np.flatnonzero(bad)[0]]))
        embeddings[cells[some, 0], cells[some, 1]] = block.astype(np.float16)
        embedded[cells[some, 0], cells[some, 1]] = True
    provenance = copy.deepcopy(wanted)
    provenance.tissue = placement.describe(peer)
    if peer.ours:
        for key in ('software', 'timings'):
            setattr(provenance, key, dict(peer.ours.get(key) or {}))
        provenance.updated = str(peer.ours.get('updated') or '')
    return EmbeddingGrid(embeddings, embedded, embedded.astype(np.float32), provenance)
