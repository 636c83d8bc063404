"""The ``CollectionSimilarity`` run: where else in the archive does this tissue appear?

``query cells -> target caches (found or embedded) -> exact streaming top-k (or a FAISS index)
-> CSV and gallery``. The query embeds only the cells under the key points (or reads them from
the query image's cache). Every slide of the collection folder (recursive) is a target; a slide
that cannot be read is reported and the search goes on. Target caches are found next to the
slide or in ``--embeddings-folder``; missing ones are embedded first, in-process or as
whole-slide Dask tasks.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import logging
import os
import tempfile

import numpy as np

from ..cache import store
from ..collection.search import TopK, check_top_k, scan_caches, scan_on_dask
from ..collection.targets import Target, find_cache, list_targets, prepare_targets
from ..errors import InputError
from ..progress import NullProgress, Progress
from ..query.cells import tissue_wanted
from ..query.similarity import query_vector
from ..steps.plan import make_plan
from .request import Request, validate

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


def check_collection(request: Request, girder: bool = False) -> None:
    check_top_k(request.top_k)
    if not request.keypoints:
        raise InputError('CollectionSimilarity needs at least one key point on the query image; '
                         'e.g. --keypoints 1200,3400')
    if not request.collection:
        raise InputError('--collection is required: the folder of slides to search')
    if not girder and not os.path.isdir(request.collection):
        raise InputError('collection %s is not a folder; give the folder of slides to search'
                         % request.collection)
    if request.embeddings_folder and not os.path.isdir(request.embeddings_folder):
        raise InputError('embeddings folder %s does not exist; create it or leave it empty'
                         % request.embeddings_folder)


def query_of(request: Request, progress: Progress) -> tuple[np.ndarray, str]:
    """The unit query from the key points; the query image's cache when it has one, else only
    the key points' cells are embedded. Also the query image's fingerprint."""
    plan = make_plan(request)
    grid = plan.grid
    cells = grid.cells_of_points(request.keypoints)
    negatives = grid.cells_of_points(request.negative_keypoints)
    wanted = cells + negatives
    path, _ = find_cache(request, request.image, plan.provenance)
    if path:
        data = store.load(path)
        ok = data.embedded & tissue_wanted(data.tissue_fraction, request.tissue_threshold)
        _check_on_tissue(request, wanted, ok)
        logger.info('query from the cache %s', path)
        return query_vector(data.embeddings, cells, negatives), plan.provenance.image.fingerprint
    from ..slide.tissue import tissue_fractions

    _check_on_tissue(request, wanted, tissue_wanted(tissue_fractions(plan.source, grid),
                                                     request.tissue_threshold))
    # float16, as a cache stores them: the same query whether or not the image has a cache
    embeddings = np.zeros((grid.rows, grid.cols, plan.spec.embed_dim), dtype=np.float16)
    todo = np.zeros(grid.shape, dtype=bool)
    for cell in wanted:
        todo[cell] = True
    from ..engine.build import load_engine
    from ..slide.reader import iter_batches

    progress.start('query', total=int(todo.sum()),
                   comment='embedding the %d key-point cells' % int(todo.sum()))
    engine = load_engine(plan.spec, request.device, request.precision, request.batch_size)

    def keep(batch_cells: np.ndarray, vectors: np.ndarray) -> None:
        embeddings[batch_cells[:, 0], batch_cells[:, 1]] = vectors
    engine.run(iter_batches(plan.source, grid, todo, request.batch_size, 1), keep, progress)
    progress.end()
    return query_vector(embeddings, cells, negatives), plan.provenance.image.fingerprint


def _check_on_tissue(request: Request, cells: list, tissue: np.ndarray) -> None:
    points = request.keypoints + request.negative_keypoints
    for (x, y), cell in zip(points, cells, strict=True):
        if not tissue[cell]:
            raise InputError('key point (%g, %g) is on glass (cell %d, %d has less than %g '
                             'tissue); click on tissue, or lower --tissue-threshold'
                             % (x, y, *cell, request.tissue_threshold))


def search(request: Request, query: np.ndarray, targets: list[Target], progress: Progress,
           client=None) -> TopK:
    """Exact streaming top-k over the targets' caches (on Dask when a client is given), or the
    FAISS index when ``--index`` is set. Targets are numbered by their position in ``targets``;
    ones without a cache never match."""
    usable = [i for i, t in enumerate(targets) if t.cache]
    paths = [targets[i].cache for i in usable]
    if request.index:
        from ..collection.index import build_or_update, search_index

        progress.start('index', comment='updating the index %s' % request.index)
        index, changes = build_or_update(
            request.index, {_index_key(targets[i]): (targets[i].cache, targets[i].fingerprint)
                            for i in usable}, request.tissue_threshold)
        logger.info('index %s (%s): %d slides added, %d dropped, %d kept', request.index,
                    index.kind, changes['added'], changes['dropped'], changes['kept'])
        progress.start('search', comment='searching the index')
        top = search_index(index, query, request.top_k,
                           [_index_key(targets[i]) for i in usable], paths)
    elif client is not None:
        progress.start('search', comment='searching %d caches on Dask' % len(paths))
        top, skipped = scan_on_dask(client, paths, query, request.top_k,
                                    request.tissue_threshold)
        for position, message in skipped:
            targets[usable[position]].error = message
    else:
        progress.start('search', total=len(paths), comment='searching %d caches' % len(paths))

        def done(position: int, path: str, error: Exception | None) -> None:
            if error is not None:
                targets[usable[position]].error = str(error)
            progress.advance()
        top = scan_caches(paths, query, request.top_k, request.tissue_threshold, done=done)
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


def run_collection(request: Request, progress: Progress | None = None) -> CollectionOutcome:
    """The whole search: query, targets, top-k, CSV and gallery (and in Girder the heatmaps)."""
    progress = progress or NullProgress()
    validate(request)
    session = _girder_session(request)
    check_collection(request, girder=session is not None)
    with tempfile.TemporaryDirectory(prefix='collection-similarity-') as scratch:
        lookup = None
        if session is not None:
            from ..collection.girder import find_girder_cache, girder_targets

            targets = girder_targets(session, request, scratch)
            lookup = functools.partial(find_girder_cache, session, folder=scratch)
        else:
            targets = list_targets(request)
        query, _ = query_of(request, progress)
        with _dask(request) as client:
            embedded = prepare_targets(request, targets, progress, client, lookup)
            _check_readable(request, targets)
            top = search(request, query, targets, progress, client)
        outcome = CollectionOutcome(targets, top, result_rows(top, targets), embedded=embedded)
        if session is not None:
            from ..collection.girder import post_heatmaps, upload_new_caches

            upload_new_caches(session, targets)
            progress.start('publish', comment='posting heatmaps to the slides with a match')
            outcome.annotations = post_heatmaps(session, request, targets, top, query)
        _write_outputs(request, outcome, progress)
    return outcome


def _girder_session(request: Request):
    """The Girder session when the collection is a Girder folder id (not a local folder)."""
    if not (request.api_url and request.token) or os.path.isdir(request.collection):
        return None
    from ..girder.session import GirderLink

    return GirderLink.connect(request.api_url, request.token).require()


def _dask(request: Request):
    if not request.scheduler:
        return contextlib.nullcontext()
    from ..engine.distributed import dask_client

    return dask_client(request.scheduler, request.num_workers, request.threads_per_worker)


def _check_readable(request: Request, targets: list[Target]) -> None:
    if not any(t.cache for t in targets if t.in_collection):
        failed = [t for t in targets if t.in_collection]
        raise InputError('no slide of collection %s could be read (%d files tried; %s)' % (
            request.collection, len(failed), '; '.join(
                '%s: %s' % (t.name, t.error.split(' (')[0]) for t in failed[:3])))


def _write_outputs(request: Request, outcome: CollectionOutcome, progress: Progress) -> None:
    if request.output_results:
        write_results(request.output_results, outcome.rows)
        outcome.files.append(request.output_results)
    if request.output_gallery and outcome.rows:
        from ..render.gallery import write_gallery

        progress.start('gallery', comment='drawing the gallery')
        write_gallery(request.output_gallery, outcome.rows, outcome.targets)
        outcome.files.append(request.output_gallery)
        progress.end()
