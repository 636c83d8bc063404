"""The results of a collection search: the ranking (exact streaming top-k, on Dask, or the FAISS
index), one row per match with its HistomicsUI link, and the CSV file."""

from __future__ import annotations

import csv
import dataclasses
import logging
import os

import numpy as np

from ..errors import InputError
from ..progress import Progress
from ..steps.request import Request
from .search import TopK, scan_caches, scan_on_dask
from .targets import Target

logger = logging.getLogger(__name__)

RESULT_COLUMNS = ('rank', 'image', 'x', 'y', 'score', 'percentile', 'row', 'col', 'query',
                  'path', 'item_id', 'url')


@dataclasses.dataclass
class CollectionOutcome:
    """What a collection search produced."""

    targets: list[Target]
    top: TopK
    rows: list[dict]
    files: list[str] = dataclasses.field(default_factory=list)
    embedded: int = 0
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    """Girder: item id -> id of the heatmap posted there."""

    def summary(self) -> str:
        searched = sum(1 for t in self.targets if t.cache)
        failed = [t for t in self.targets if t.error]
        return '%d of %d slides searched (%d embedded now, %d skipped), %d matches' % (
            searched, len(self.targets), self.embedded, len(failed), len(self.rows))


def search(request: Request, query: np.ndarray, targets: list[Target], progress: Progress,
           client=None) -> TopK:
    """Exact streaming top-k over the targets' caches (on Dask when a client is given), or the
    FAISS index when ``--index`` is set. Targets are numbered by their position in ``targets``;
    ones without a cache never match."""
    usable = [i for i, t in enumerate(targets) if t.cache]
    paths = [targets[i].cache for i in usable]
    if request.search.index:
        from .index import build_or_update, search_index

        progress.start('index', comment='updating the index %s' % request.search.index)
        index, changes = build_or_update(
            request.search.index,
            {_index_key(targets[i]): (targets[i].cache, targets[i].fingerprint) for i in usable},
            request.tiling.tissue_threshold)
        logger.info('index %s (%s): %d slides added, %d dropped, %d kept', request.search.index,
                    index.kind, changes['added'], changes['dropped'], changes['kept'])
        progress.start('search', comment='searching the index')
        top = search_index(index, query, request.search.top_k,
                           [_index_key(targets[i]) for i in usable], paths)
    elif client is not None:
        progress.start('search', comment='searching %d caches on Dask' % len(paths))
        top, skipped = scan_on_dask(client, paths, query, request.search.top_k,
                                    request.tiling.tissue_threshold)
        for position, message in skipped:
            targets[usable[position]].error = message
    else:
        progress.start('search', total=len(paths), comment='searching %d caches' % len(paths))

        def done(position: int, path: str, error: Exception | None) -> None:
            if error is not None:
                targets[usable[position]].error = str(error)
            progress.advance()
        top = scan_caches(paths, query, request.search.top_k, request.tiling.tissue_threshold,
                          done=done)
    progress.end()
    top.targets = np.asarray([usable[int(t)] for t in top.targets], dtype=np.int64)
    return top


def _index_key(target: Target) -> str:
    """A slide's key in the index: its Girder item id (its local copy is temporary), else its
    real path."""
    return 'girder:item/' + target.item_id if target.item_id else os.path.realpath(target.path)


def result_rows(top: TopK, targets: list[Target]) -> list[dict]:
    """One CSV row per match, best first."""
    percentiles = top.percentiles() if top.histogram.sum() else [None] * len(top)
    rows = []
    for rank, (score, target, row, col, pct) in enumerate(zip(
            top.scores, top.targets, top.rows, top.cols, percentiles, strict=True), 1):
        slide = targets[int(target)]
        x, y = slide.grid.cell_center(int(row), int(col))
        rows.append({'rank': rank, 'image': slide.name, 'x': round(x, 1), 'y': round(y, 1),
                     'score': round(float(score), 6),
                     'percentile': '' if pct is None else round(float(pct), 3),
                     'row': int(row), 'col': int(col), 'query': int(slide.is_query),
                     'path': slide.path, 'item_id': slide.item_id,
                     'url': slide.url and '%s&bounds=%s' % (slide.url.split('&')[0], _bounds(
                         slide.grid.cell_box(int(row), int(col))))})
    return rows


def _bounds(box: tuple[float, float, float, float], margin: float = 2.0) -> str:
    """HistomicsUI's ``bounds`` (left, top, right, bottom, rotation) around a cell."""
    left, top, right, bottom = box
    pad = (right - left) * margin
    return '%d,%d,%d,%d,0' % (left - pad, top - pad, right + pad, bottom + pad)


def write_results(path: str, rows: list[dict]) -> None:
    from ..atomic import atomic_write

    with atomic_write(path) as handle:
        import io

        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=RESULT_COLUMNS, lineterminator='\n')
        writer.writeheader()
        writer.writerows(rows)
        handle.write(text.getvalue().encode())


def check_readable(request: Request, targets: list[Target]) -> None:
    if not any(t.cache for t in targets if t.in_collection):
        failed = [t for t in targets if t.in_collection]
        raise InputError('no slide of collection %s could be read (%d files tried; %s)' % (
            request.search.collection, len(failed), '; '.join(
                '%s: %s' % (t.name, t.error.split(' (')[0]) for t in failed[:3])))
