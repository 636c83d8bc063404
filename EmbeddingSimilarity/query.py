"""From what the user pointed at to a score per cell: key points become cells, cells become a
unit query, and the query scores the grid (:mod:`.similarity` does the arithmetic).
"""

from __future__ import annotations

import numpy as np

from .request import Request
from .similarity import SimilarityMap, compute
from .store import EmbeddingGrid
from .tiling import TileGrid


def tissue_wanted(fraction: np.ndarray, threshold: float) -> np.ndarray:
    """Cells to embed: those with at least ``threshold`` tissue (every cell when it is 0)."""
    if threshold <= 0:
        return np.ones(fraction.shape, dtype=bool)
    return fraction >= threshold


def cells_to_embed(request: Request, grid: TileGrid, fraction: np.ndarray) -> np.ndarray:
    """Tissue cells by the request's threshold, plus the cells under its key points."""
    wanted = tissue_wanted(fraction, request.tissue_threshold)
    for cell in grid.cells_of_points(request.keypoints + request.negative_keypoints):
        wanted[cell] = True
    return wanted


def valid_cells(data: EmbeddingGrid, request: Request) -> np.ndarray:
    """Cells that get a value: embedded and tissue by this run's threshold, or a key point."""
    valid = data.embedded & tissue_wanted(data.tissue_fraction, request.tissue_threshold)
    for cell in data.grid.cells_of_points(request.keypoints + request.negative_keypoints):
        valid[cell] = data.embedded[cell]
    return valid


def score(request: Request, data: EmbeddingGrid) -> SimilarityMap:
    """The similarity map of the grid to the request's key points."""
    return compute(data.embeddings, valid_cells(data, request), data.grid, request.keypoints,
                   request.negative_keypoints, request.aggregation, request.threshold,
                   request.scaling, data.norms)


def query_attributes(request: Request, data: EmbeddingGrid, version: str) -> dict:
    """What the annotation records about the query (read back by the next run and by people)."""
    grid, provenance = data.grid, data.provenance
    scale = provenance.scale
    return {'model': provenance.model.name, 'version': version,
            'tileSize': grid.tile, 'stride': grid.stride, 'factor': grid.factor,
            'mpp': scale.mpp if scale else None,
            'magnification': scale.magnification if scale else None,
            'keypoints': [list(p) for p in request.keypoints],
            'negativeKeypoints': [list(p) for p in request.negative_keypoints],
            'imageFingerprint': provenance.image.fingerprint}
