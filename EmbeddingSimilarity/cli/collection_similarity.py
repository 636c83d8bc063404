"""The ``CollectionSimilarity`` flow, top to bottom: where else in the archive does this tissue
appear?

``validate -> targets (local folder or Girder folder; in a search in words the folder may stand
in for the query slide) -> query vector -> target caches (found or embedded, in process or on
Dask) -> exact top-k or FAISS index -> heatmaps in Girder -> CSV and gallery``. A slide that
cannot be read is reported and the search goes on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile

from ..collection.query import check_collection, query_of, searches_in_words
from ..collection.results import (
    CollectionOutcome,
    check_readable,
    result_rows,
    search,
    write_results,
)
from ..collection.targets import list_targets, prepare_targets
from ..progress import NullProgress, Progress
from ..steps.request import Request
from .request import validate

TASK = 'collection'
"""The word this CLI's default output names carry (``<stem>.collection.anot``)."""
ANNOTATION_NAME = 'Collection similarity'


def run(request: Request, progress: Progress | None = None) -> CollectionOutcome:
    """The whole search: query, targets, top-k, CSV and gallery (and in Girder the heatmaps)."""
    progress = progress or NullProgress()
    validate(request)
    request = searches_in_words(request)
    check_collection(request, girder=_in_girder(request))
    session = _girder_session(request)
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
            check_readable(request, targets)
            top = search(request, query, targets, progress, client)
        outcome = CollectionOutcome(targets, top, result_rows(top, targets), embedded=embedded)
        if session is not None:
            from ..collection.girder import post_heatmaps, upload_new_caches

            upload_new_caches(session, targets)
            progress.start('publish', comment='posting heatmaps to the slides with a match')
            outcome.annotations = post_heatmaps(session, request, targets, top, query)
        _write_outputs(request, outcome, progress)
    return outcome


def _in_girder(request: Request) -> bool:
    """Whether the collection is a Girder folder id (connected, and not a local folder)."""
    return request.girder.connected and not os.path.isdir(request.search.collection)


def _girder_session(request: Request):
    """The Girder session when the collection is a Girder folder id (not a local folder)."""
    if not _in_girder(request):
        return None
    from ..girder.session import GirderLink

    return GirderLink.connect(request.girder.api_url, request.girder.token).require()


def _dask(request: Request):
    if not request.scale_out.scheduler:
        return contextlib.nullcontext()
    from ..engine.distributed import dask_client

    scale_out = request.scale_out
    return dask_client(scale_out.scheduler, scale_out.num_workers, scale_out.threads_per_worker)


def _write_outputs(request: Request, outcome: CollectionOutcome, progress: Progress) -> None:
    if request.search.output_results:
        write_results(request.search.output_results, outcome.rows)
        outcome.files.append(request.search.output_results)
    if request.search.output_gallery and outcome.rows:
        from ..render.gallery import write_gallery

        progress.start('gallery', comment='drawing the gallery')
        write_gallery(request.search.output_gallery, outcome.rows, outcome.targets)
        outcome.files.append(request.search.output_gallery)
        progress.end()
