"""Cosine similarity of every cell to one or more key points, fully vectorised.

The query is the mean of the key-point cells' unit embeddings, minus the mean of any negative
key points' (a score that favours what looks like the positives and unlike the negatives),
normalised again. Aggregation averages the similarity over an ``n x n`` window of valid cells
with a summed-area table, which equals the similarity of the window's mean embedding to the
query. Cells without an embedding (glass) get no value: NaN in the map, 0 once scaled.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os

import numpy as np

from ..cache.float16 import BLOCK_BYTES, exact_norms, row_norms, to_float32
from ..cache.integrity import GridCheck, release_pages
from ..errors import InputError
from ..slide.tiling import TileGrid

SCALINGS = ('linear', 'quantile')
PARALLEL_VALUES = 1 << 24
"""A grid with more numbers than this is scored in several threads."""


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
    cutoff: float = float('nan')
    """The calibrated cut-off in display units (NaN until :func:`.calibration.shown` sets it)."""
    cutoff_score: float = float('nan')
    """The same cut-off in score units."""

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
    check_not_zero(query, embeddings, cells)
    if negative_cells:
        query = query - _mean_unit(embeddings, negative_cells)
    return unit_query(query)


def check_not_zero(query: np.ndarray, embeddings: np.ndarray,
                   cells: list[tuple[int, int]]) -> None:
    """An InputError when the positive side of a query is the zero vector: every key-point
    cell's embedding is zero (a blank or damaged cache cell), so there is nothing to compare."""
    if not cells or float(np.linalg.norm(query)) >= 1e-8:
        return
    zero = [(r, c) for r, c in cells
            if not np.any(np.asarray(embeddings[r, c], dtype=np.float32))]
    raise InputError('the embedding is zero at the key point cell(s) %s: the model gave '
                     'nothing there, or, when the embeddings were read from a file, that cell '
                     'of it is damaged; click on other tissue, or recompute the embeddings'
                     % ', '.join('(%d, %d)' % cell for cell in (zero or cells)[:5]))


def unit_query(query: np.ndarray) -> np.ndarray:
    """``query`` scaled to unit length; an InputError when the positives and negatives cancel
    out (the same embedding on both sides)."""
    norm = float(np.linalg.norm(query))
    if norm < 1e-8:
        raise InputError('the positive and negative key points have the same embedding; choose '
                         'points on different tissue')
    return query / norm


def cosine_map(embeddings: np.ndarray, valid: np.ndarray, query: np.ndarray,
               norms: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of each valid cell to the unit ``query``; NaN elsewhere.

    Streams the grid (memory-mapped or not) in blocks of cells, each converted to float32 for
    one BLAS matrix-vector product, in a few threads (numpy, BLAS and the CRC release the GIL).
    The norms are recomputed from the same blocks, so they cannot disagree with the dot
    products; the stored ``norms`` and, for a grid mapped from a cache, the file's CRC are
    checked (:class:`~EmbeddingSimilarity.cache.integrity.GridCheck`): a damaged cache raises
    CacheError instead of giving a map. The CRC is taken of each block as it is read (the
    threads' ranges combined), and a block's pages are then released, so a multi-GB cache is
    read once and never resident as a whole. Cells holding NaN or infinity get NaN.
    """
    rows, cols, dim = embeddings.shape
    flat = embeddings.reshape(rows * cols, dim)
    query = np.ascontiguousarray(query, dtype=np.float32)
    dots = np.empty(rows * cols, dtype=np.float32)
    lengths = np.empty(rows * cols, dtype=np.float32)
    check = GridCheck(embeddings, norms)
    inline = check if check.inline else None
    workers = _threads(flat.size)
    bounds = np.linspace(0, len(flat), workers + 1).astype(int)
    ranges = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    if workers == 1:
        crcs = [_score_cells(flat, 0, len(flat), query, dots, lengths, inline)]
    else:
        with concurrent.futures.ThreadPoolExecutor(workers + 1) as pool:
            crc_job = pool.submit(check.stream_crc) if inline is None else None
            jobs = [pool.submit(_score_cells, flat, start, stop, query, dots, lengths, inline)
                    for start, stop in ranges]
            crcs = [job.result() for job in jobs]
            if crc_job is not None:
                crc_job.result()
    if inline is not None:
        check.combine([(crc, (stop - start) * flat.strides[0])
                       for crc, (start, stop) in zip(crcs, ranges, strict=True)])
    if embeddings.dtype == np.float16:
        exact_norms(flat, lengths)
    check.finish(lengths)
    dots, lengths = dots.reshape(rows, cols), lengths.reshape(rows, cols)
    with np.errstate(invalid='ignore'):
        ok = valid & (lengths > 0) & np.isfinite(lengths)
    return np.where(ok, dots / np.where(ok, lengths, 1.0), np.nan).astype(np.float32)


def _threads(values: int) -> int:
    """Threads for a pass over ``values`` numbers: one for a small grid, else the CPUs we have."""
    if values < PARALLEL_VALUES:
        return 1
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
                      else os.cpu_count() or 1))


def _score_cells(flat: np.ndarray, start: int, stop: int, query: np.ndarray, dots: np.ndarray,
                 lengths: np.ndarray, check: GridCheck | None = None) -> int:
    """Dot products with ``query`` and norms of the cells ``start:stop``, written in place;
    with ``check`` (a mapped, unmodified cache member), the CRC of those cells' bytes, each
    block's pages released once read."""
    dim = flat.shape[1]
    step = max(1, BLOCK_BYTES // (4 * dim))
    buffer = np.empty((step, dim), dtype=np.float32)
    crc = 0
    for first in range(start, stop, step):
        block = flat[first:min(first + step, stop)]
        last = first + len(block)
        if check is not None:
            crc = check.block_crc(block, crc)
        if block.dtype == np.float16:
            vectors = to_float32(block, buffer[:len(block)])
        else:
            vectors = np.asarray(block, dtype=np.float32)
        np.matmul(vectors, query, out=dots[first:last])
        lengths[first:last] = row_norms(vectors)
        if check is not None:
            release_pages(block)
    return crc


def box_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Mean of the finite values in each ``window x window`` neighbourhood (NaN stays NaN).

    The window of cell ``(r, c)`` covers rows ``r - (window - 1) // 2 .. r + window // 2`` and
    the same columns: centred for an odd window; for an even one the cell sits just above and
    left of the centre (a 2 x 2 window is the cell, its right, lower and lower-right
    neighbours). Cells outside the grid do not count.
    """
    if window <= 1:
        return values
    valid = np.isfinite(values)
    filled = np.where(valid, values, 0.0).astype(np.float64)
    pad = ((window - 1) // 2, window // 2)
    padded_values = np.pad(filled, pad)
    padded_counts = np.pad(valid.astype(np.float64), pad)

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


def display_value(similarity: np.ndarray, threshold: float, scaling: str, score: float) -> float:
    """The display value :func:`scale_values` gives a cell scoring ``score`` (by the same
    ranking or line), so a cell is at or above ``score`` exactly when its display value is at
    or above this one; NaN for a NaN score."""
    values = similarity[np.isfinite(similarity)]
    if not np.isfinite(score) or not values.size:
        return float('nan')
    if scaling == 'linear':
        top = float(values.max())
        span = top - threshold
        shown = (score - threshold) / span if span > 1e-9 else float(score >= top)
    else:
        shown = float(np.searchsorted(np.sort(values), score, side='left')
                      / max(len(values) - 1, 1))
    return float(np.clip(shown, 0.0, 1.0))


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
