"""Top-k across many embedding grids: exact, streaming, mergeable.

Each target cache is memory-mapped and scored with the single-slide cosine pass
(:func:`~..query.similarity.cosine_map`, which streams the map in blocks and checks the cache's
CRC and norms), its best ``k`` cells are taken with ``argpartition``, and the per-slide
candidates are merged into one global top-k. Only one slide's ``rows x cols`` scores are held at
a time, so peak memory does not grow with the collection. A :class:`TopK` is also what a Dask
worker returns for its shard of caches: :func:`merge` of the shards equals one pass over all of
them.

A score histogram (fixed bins over [-1, 1]) rides along so each hit gets the percentile of its
score among every cell searched, which merges across shards as well.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

import numpy as np

from ..cache.store import EmbeddingGrid, load
from ..errors import UserError
from ..query.cells import tissue_wanted
from ..query.similarity import cosine_map

logger = logging.getLogger(__name__)

HISTOGRAM_BINS = 4000
"""Bins of the score histogram over [-1, 1] (percentiles to 0.05 % of the cosine range)."""


@dataclasses.dataclass
class TopK:
    """The best ``k`` cells seen so far: score, target number, row, column (best first)."""

    k: int
    scores: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0, np.float32))
    targets: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0, np.int64))
    rows: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0, np.int64))
    cols: np.ndarray = dataclasses.field(default_factory=lambda: np.empty(0, np.int64))
    histogram: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(HISTOGRAM_BINS, np.int64))

    def add(self, scores: np.ndarray, targets: np.ndarray, rows: np.ndarray,
            cols: np.ndarray) -> None:
        """Merge candidates in, keeping the best ``k`` (ties: lower target, row, column first)."""
        scores = np.concatenate([self.scores, np.asarray(scores, np.float32)])
        targets = np.concatenate([self.targets, np.asarray(targets, np.int64)])
        rows = np.concatenate([self.rows, np.asarray(rows, np.int64)])
        cols = np.concatenate([self.cols, np.asarray(cols, np.int64)])
        if len(scores) > self.k:
            keep = np.argpartition(-scores, self.k - 1)[:self.k]
            # argpartition splits ties at the k-th score arbitrarily: take all tied, then order
            keep = np.flatnonzero(scores >= scores[keep].min())
            scores, targets, rows, cols = scores[keep], targets[keep], rows[keep], cols[keep]
        order = np.lexsort((cols, rows, targets, -scores))[:self.k]
        self.scores, self.targets = scores[order], targets[order]
        self.rows, self.cols = rows[order], cols[order]

    def add_map(self, similarity: np.ndarray, target: int) -> None:
        """The best cells of one slide's similarity map (NaN = no value)."""
        finite = np.isfinite(similarity)
        values = similarity[finite]
        self.histogram += score_histogram(values)
        if not len(values):
            return
        flat = np.flatnonzero(finite.ravel())
        if len(values) > self.k:
            best = np.argpartition(-values, self.k - 1)[:self.k]
            best = np.flatnonzero(values >= values[best].min())
            values, flat = values[best], flat[best]
        rows, cols = np.divmod(flat, similarity.shape[1])
        self.add(values, np.full(len(values), target), rows, cols)

    def percentiles(self) -> np.ndarray:
        """Share (0..100) of all searched cells scoring at or below each hit's score."""
        total = max(int(self.histogram.sum()), 1)
        below = np.cumsum(self.histogram)
        bins = np.clip(((self.scores + 1.0) / 2.0 * HISTOGRAM_BINS).astype(int), 0,
                       HISTOGRAM_BINS - 1)
        return 100.0 * below[bins] / total

    def __len__(self) -> int:
        return len(self.scores)


def score_histogram(values: np.ndarray) -> np.ndarray:
    return np.histogram(np.clip(values, -1.0, 1.0), bins=HISTOGRAM_BINS, range=(-1.0, 1.0))[0]


def merge(parts: Sequence[TopK], k: int) -> TopK:
    """One top-k from several (the shards of a Dask search)."""
    out = TopK(k)
    for part in parts:
        out.add(part.scores, part.targets, part.rows, part.cols)
        out.histogram += part.histogram
    return out


def check_top_k(top_k: int) -> None:
    from ..errors import InputError

    if top_k < 1 or top_k > 100000:
        raise InputError('--top-k %d is out of range; ask for 1 to 100000 regions' % top_k)


def searchable_cells(data: EmbeddingGrid, tissue_threshold: float) -> np.ndarray:
    """Cells a search may return: embedded and tissue by the threshold."""
    return data.embedded & tissue_wanted(data.tissue_fraction, tissue_threshold)


def scan_caches(paths: Sequence[str], query: np.ndarray, k: int, tissue_threshold: float,
                first_target: int = 0,
                done: Callable[[int, str, Exception | None], None] | None = None) -> TopK:
    """Exact top-k of ``query`` over the caches ``paths`` (target numbers from
    ``first_target``). A damaged cache is reported to ``done`` and skipped."""
    top = TopK(k)
    for offset, path in enumerate(paths):
        error = None
        try:
            data = load(path)
            similarity = cosine_map(data.embeddings, searchable_cells(data, tissue_threshold),
                                    query, data.norms)
            del data
            top.add_map(similarity, first_target + offset)
        except UserError as exc:
            logger.warning('skipping %s: %s', path, exc)
            error = exc
        if done is not None:
            done(first_target + offset, path, error)
    return top


def scan_shard(paths: Sequence[str], query: np.ndarray, k: int, tissue_threshold: float,
               first_target: int) -> tuple[TopK, list[tuple[int, str]]]:
    """Dask task: one shard's top-k and the caches it had to skip (target, message)."""
    skipped: list[tuple[int, str]] = []

    def done(target: int, path: str, error: Exception | None) -> None:
        if error is not None:
            skipped.append((target, str(error)))
    return scan_caches(paths, query, k, tissue_threshold, first_target, done), skipped


def scan_on_dask(client, paths: Sequence[str], query: np.ndarray, k: int,
                 tissue_threshold: float, shards: int = 0) -> tuple[TopK, list[tuple[int, str]]]:
    """Split the caches into shards, scan each on a worker, merge their top-k on the client."""
    workers = max(1, len(client.scheduler_info().get('workers', {})))
    shards = max(1, min(len(paths), shards or workers * 2))
    bounds = np.linspace(0, len(paths), shards + 1).astype(int)
    futures = [client.submit(scan_shard, list(paths[a:b]), query, k, tissue_threshold, int(a),
                             pure=False) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
               if b > a]
    results = client.gather(futures)
    skipped = [item for _, part in results for item in part]
    return merge([top for top, _ in results], k), skipped


def rescore(paths: Sequence[str], query: np.ndarray, targets: np.ndarray, rows: np.ndarray,
            cols: np.ndarray, opened: dict | None = None) -> np.ndarray:
    """Exact cosine of a few cells (an index's candidates), read from their memory maps.

    Only each cache's ``embeddings`` member is mapped (no validation pass: the cells read are
    a few rows); ``opened`` keeps the maps between queries.
    """
    from ..cache.integrity import map_member

    opened = {} if opened is None else opened
    out = np.full(len(targets), np.nan, dtype=np.float32)
    for target in np.unique(targets):
        pick = np.flatnonzero(targets == target)
        path = paths[int(target)]
        try:
            if path not in opened:
                opened[path] = map_member(path, 'embeddings')
        except (OSError, ValueError, KeyError) as exc:
            logger.warning('cannot rescore %s: %s', path, exc)
            continue
        vectors = np.ascontiguousarray(opened[path][rows[pick], cols[pick]])[None]
        # the arithmetic of the exact pass, so a score is the same however it was found
        out[pick] = cosine_map(vectors, np.ones(vectors.shape[:2], dtype=bool), query)[0]
    return out
