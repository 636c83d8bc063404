"""Cosine similarity of every cell to one or more key points, fully vectorised.

The query is the mean of the key-point cells' unit embeddings, minus the mean of any negative
key points' (a score that favours what looks like the positives and unlike the negatives),
normalised again. Aggregation averages the similarity over an ``n x n`` window of valid cells
with a summed-area table, which equals the similarity of the window's mean embedding to the
query. Cells without an embedding (glass) get no value: NaN in the map, 0 once scaled.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .errors import InputError
from .tiling import TileGrid

SCALINGS = ('linear', 'quantile')
_CHUNK_ROWS = 64
# |dot| <= norm for a unit query: float16 (max 65504) holds it with a wide margin below this
FLOAT16_SAFE_NORM = 30000.0


@dataclasses.dataclass
class SimilarityMap:
    """Raw cosine similarity per cell (NaN = no value) and the display values in [0, 1]."""

    similarity: np.ndarray
    values: np.ndarray
    keypoint_cells: list[tuple[int, int]]
    negative_cells: list[tuple[int, int]]
    threshold: float
    scaling: str
    aggregation: int

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.similarity)


def _mean_unit(embeddings: np.ndarray, cells: list[tuple[int, int]]) -> np.ndarray:
    vectors = np.stack([embeddings[r, c].astype(np.float32) for r, c in cells])
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors.mean(axis=0)


def query_vector(embeddings: np.ndarray, cells: list[tuple[int, int]],
                 negative_cells: list[tuple[int, int]] | None = None) -> np.ndarray:
    """Unit query: mean of positive unit embeddings minus mean of negative ones."""
    query = _mean_unit(embeddings, cells)
    if negative_cells:
        query = query - _mean_unit(embeddings, negative_cells)
    norm = float(np.linalg.norm(query))
    if norm < 1e-8:
        raise InputError('the positive and negative key points have the same embedding; choose '
                         'points on different tissue')
    return query / norm


def cosine_map(embeddings: np.ndarray, valid: np.ndarray, query: np.ndarray,
               norms: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of each valid cell to the unit ``query``; NaN elsewhere.

    Streams the grid in row chunks. A float16 grid is multiplied in float16 (the precision it
    is stored at), which on a CPU is an order of magnitude faster than converting it first;
    chunks whose norms could overflow float16 use float32.
    """
    import torch

    rows = embeddings.shape[0]
    out = np.full(embeddings.shape[:2], np.nan, dtype=np.float32)
    half = embeddings.dtype == np.float16
    q32 = torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32))
    q16 = q32.half()
    for start in range(0, rows, _CHUNK_ROWS):
        stop = start + _CHUNK_ROWS
        block = torch.from_numpy(np.ascontiguousarray(embeddings[start:stop]))
        if norms is not None:
            length = torch.from_numpy(np.ascontiguousarray(norms[start:stop], dtype=np.float32))
        else:
            length = torch.linalg.vector_norm(block, dim=-1, dtype=torch.float32)
        if half and float(length.max()) < FLOAT16_SAFE_NORM:
            dots = (block @ q16).float()
        else:
            dots = block.float() @ q32
        ok = valid[start:stop] & (length.numpy() > 0)
        out[start:stop] = np.where(ok, (dots / length.clamp_min(1e-12)).numpy(), np.nan)
    return out


def box_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the finite values in each ``window x window`` neighbourhood (NaN stays NaN)."""
    if window <= 1:
        return values
    valid = np.isfinite(values)
    filled = np.where(valid, values, 0.0).astype(np.float64)
    half = window // 2
    padded_values = np.pad(filled, half)
    padded_counts = np.pad(valid.astype(np.float64), half)

    def window_sum(a: np.ndarray) -> np.ndarray:
        table = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
        table[1:, 1:] = a.cumsum(0).cumsum(1)
        return (table[window:, window:] - table[:-window, window:] - table[window:, :-window]
                + table[:-window, :-window])

    sums = window_sum(padded_values)
    counts = window_sum(padded_counts)
    out = (sums / np.maximum(counts, 1)).astype(np.float32)
    out[~valid] = np.nan
    return out


def scale_values(similarity: np.ndarray, threshold: float, scaling: str) -> np.ndarray:
    """Display values in [0, 1]: 0 at or below ``threshold`` and for cells without a value.

    ``linear``: ``(s - threshold) / (max s - threshold)``. ``quantile``: the cell's rank among
    all valid cells (0..1), as MIL heatmap tools show attention, with cells below ``threshold``
    at 0.
    """
    valid = np.isfinite(similarity)
    out = np.zeros(similarity.shape, dtype=np.float32)
    if not valid.any():
        return out
    values = similarity[valid]
    if scaling == 'linear':
        top = float(values.max())
        span = top - threshold
        scaled = (values - threshold) / span if span > 1e-9 else (values >= top).astype(float)
    elif scaling == 'quantile':
        # rank among the valid cells; ties share the rank of the first of them
        ranks = np.searchsorted(np.sort(values), values, side='left') / max(len(values) - 1, 1)
        scaled = np.where(values > threshold, ranks, 0.0)
    else:
        raise InputError('unknown scaling %r; use one of %s' % (scaling, ', '.join(SCALINGS)))
    out[valid] = np.clip(scaled, 0.0, 1.0)
    return out


def check_options(threshold: float, aggregation: int, scaling: str) -> None:
    """The similarity options are in range (an InputError says which is not)."""
    if not -1.0 <= threshold <= 1.0:
        raise InputError('similarity threshold %g is outside [-1, 1]; cosine similarity lies in '
                         'that range' % threshold)
    if aggregation < 1 or aggregation > 99:
        raise InputError('aggregation window %d must be between 1 (off) and 99 cells'
                         % aggregation)
    if scaling not in SCALINGS:
        raise InputError('unknown scaling %r; use one of %s' % (scaling, ', '.join(SCALINGS)))


def compute(embeddings: np.ndarray, valid: np.ndarray, grid: TileGrid,
            points: list[tuple[float, float]],
            negative_points: list[tuple[float, float]] | None = None,
            aggregation: int = 1, threshold: float = 0.0,
            scaling: str = 'quantile', norms: np.ndarray | None = None) -> SimilarityMap:
    """The similarity map of the grid to the key points (base-pixel coordinates)."""
    check_options(threshold, aggregation, scaling)
    cells = grid.cells_of_points(points)
    negatives = grid.cells_of_points(negative_points or [])
    for (r, c), (x, y) in zip(cells + negatives, list(points) + list(negative_points or []),
                              strict=True):
        if not valid[r, c]:
            raise InputError('key point (%g, %g) falls on cell (%d, %d), which has no embedding'
                             % (x, y, r, c))
    query = query_vector(embeddings, cells, negatives)
    similarity = box_mean(cosine_map(embeddings, valid, query, norms), aggregation)
    values = scale_values(similarity, threshold, scaling)
    return SimilarityMap(similarity, values, cells, negatives, float(threshold), scaling,
                         int(aggregation))
