"""The embedding step every CLI shares: ``plan -> reuse a cache or embed the missing cells ->
save``, in process or on Dask, coarse to fine when previews are wanted.

Embeddings are saved (and cached in Girder) before anything is published, so a Girder failure
never loses them. Each rule lives in its own room: :mod:`.plan`, :mod:`..cache.local`,
:mod:`..engine` and :mod:`..query.cells` (which cells a query needs first).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import datetime
import logging
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

from ..cache import interop, store
from ..cache import local as cache
from ..cache.provenance import software_versions
from ..errors import GirderError, Interrupted, UserError
from ..girder.session import GirderLink
from ..progress import NullProgress, Progress
from ..query.cells import cells_to_embed, check_on_tissue, query_cells
from ..query.similarity import SimilarityMap
from ..slide.tissue import tissue_fractions
from .plan import Plan, make_plan
from .publish import writes_copy
from .request import Request

logger = logging.getLogger(__name__)

CLAIM_POLL_SECONDS = 1.0
"""How often a job waiting for another job's embedding looks for its cache."""


@dataclasses.dataclass
class Outcome:
    """What a run produced."""

    data: store.EmbeddingGrid
    similarity: SimilarityMap | None = None
    annotation: dict | None = None
    annotation_id: str | None = None
    cells_embedded: int = 0
    cache_source: str | None = None
    files: list[str] = dataclasses.field(default_factory=list)
    slide: Any = dataclasses.field(default=None, repr=False)
    """The slide's :class:`~EmbeddingSimilarity.slide.source.SlideOpener` (opened on first use)."""
    clusters: Any = None
    """EmbeddingClusters: the :class:`~.clusters.ClusterMap`."""
    calibration: Any = None
    """EmbeddingSimilarity: the :class:`~.calibration.Calibration` (cut-off and hits)."""

    @property
    def source(self) -> Any:
        """The large_image tile source (the slide is opened now if it was not yet)."""
        return None if self.slide is None else self.slide.source


def compute_embeddings(request: Request, progress: Progress | None = None,
                       girder: GirderLink | None = None,
                       on_level: Callable[[store.EmbeddingGrid, Any], None] | None = None
                       ) -> Outcome:
    """Plan, reuse or compute the embedding grid, and save it (and cache it in Girder when
    connected). With ``on_level``, the missing cells are embedded coarse to fine and
    ``on_level(data, todo)`` is called after every level but the last."""
    progress = progress or NullProgress()
    # scratch holds a cache downloaded from Girder; its memory map stays valid after the
    # folder is removed (POSIX keeps an unlinked, mapped file until it is unmapped)
    with tempfile.TemporaryDirectory(prefix='embedding-similarity-') as scratch, \
            contextlib.ExitStack() as claimed:
        progress.start('plan', comment='planning %s' % os.path.basename(request.image))
        plan = make_plan(request)
        data, cache_source = _reuse(request, plan, girder, scratch)
        if cache_source is None and girder is not None and girder.session is not None:
            request, plan, data, cache_source = _peer_in_girder(
                request, girder, scratch, (request, plan, data, cache_source))
        if cache_source is None and girder is not None and girder.session is not None:
            data, cache_source = _embed_once(request, plan, girder, scratch, progress, data,
                                             claimed)
        resumed = not data.provenance.complete  # an interrupted run's checkpoint
        if data.tissue_fraction is None:  # a fresh run: load the model meanwhile
            plan.engine = _preload_engine(request, plan)
            progress.start('tissue', comment='finding tissue')
            data.tissue_fraction = tissue_fractions(plan.source, plan.grid)
        check_on_tissue(request.query, plan.grid, data.tissue_fraction,
                        request.tiling.tissue_threshold)
        todo = cells_to_embed(request.query, plan.grid, data.tissue_fraction,
                              request.tiling.tissue_threshold) & ~data.embedded
        todo &= not interop.from_peer(data)  # another tool's patches: no more are embedded
        try:
            embedded_now = embed_missing(request, plan, data, todo, progress, on_level)
        except Interrupted as exc:
            if girder is not None and girder.session is not None and \
                    cache.checkpoint_to_girder(girder.session, data, scratch):
                exc.kept = cache.interrupted_line(
                    int(data.embedded.sum()), cache.partial_path(request.outputs.output_embeddings)
                    if request.outputs.output_embeddings else '', in_girder=True)
            raise
        progress.end()
        changed = bool(embedded_now or resumed)
        if changed or cache_source is None:  # a reused cache keeps the record of its makers
            _record_run(data, request, progress)
        outcome = Outcome(data=data, cells_embedded=embedded_now, cache_source=cache_source,
                          slide=plan.slide)
        _save(request, outcome, girder, scratch, progress, changed=changed)
    return outcome


def _reuse(request: Request, plan: Plan, girder: GirderLink | None,
           scratch: str) -> tuple[store.EmbeddingGrid, str | None]:
    """A cache that serves the plan (local, then Girder), else an empty grid."""
    data, source = cache.find_local(request.outputs.input_embeddings,
                                    request.outputs.output_embeddings, plan.provenance)
    if data is None and girder is not None and girder.session is not None:
        data, source = cache.find_in_girder(girder.session, plan.provenance, scratch)
    if data is None:
        return cache.empty_grid(plan.provenance), None
    return _reused(data, plan, source)


def _peer_in_girder(request: Request, girder: GirderLink, scratch: str, otherwise: tuple
                    ) -> tuple[Request, Plan, store.EmbeddingGrid, str | None]:
    """The run on the image's TRIDENT or STAMP ``<stem>.h5`` in the Girder cache folder, as if
    given as ``--input-embeddings``; ``otherwise`` when there is none or it cannot serve (another
    model, a damaged file: a cache is a shortcut, so that is a warning)."""
    peer = '' if request.outputs.input_embeddings else cache.find_peer_in_girder(
        girder.session, otherwise[1].provenance.image.name, scratch)
    if not peer:
        return otherwise
    try:
        request = request.but(input_embeddings=peer)
        plan = make_plan(request)
        data, source = cache.find_local(peer, '', plan.provenance)
    except UserError as exc:
        logger.warning('not using the Girder cache folder\'s feature file: %s', exc)
        return otherwise
    return (request, plan, *_reused(data, plan, 'girder:%s' % os.path.basename(peer)))


def _reused(data: store.EmbeddingGrid, plan: Plan, source: str
            ) -> tuple[store.EmbeddingGrid, str]:
    image, planned = data.provenance.image, plan.provenance.image
    image.stat, image.metadata = planned.stat, image.metadata or planned.metadata
    logger.info('reusing %d embedded cells from %s', int(data.embedded.sum()), source)
    return data, source


def _embed_once(request: Request, plan: Plan, girder: GirderLink, scratch: str,
                progress: Progress, data: store.EmbeddingGrid, claimed: contextlib.ExitStack
                ) -> tuple[store.EmbeddingGrid, str | None]:
    """Claim the grid's embedding in the Girder cache folder (held in ``claimed`` until the
    cache is uploaded), or wait while another job embeds it and use its cache."""
    from ..cache.claim import claim_in_girder

    waited = time.monotonic()
    while True:
        claim = claim_in_girder(girder.session, plan.provenance)
        if claim is not None:
            claimed.enter_context(claim)
            return data, None
        while True:  # wait, reading only, until its cache is there or its claim is not live
            progress.start('waiting', comment='another job is embedding this slide; waiting '
                           'for its cache (%.0f s)' % (time.monotonic() - waited))
            time.sleep(CLAIM_POLL_SECONDS)
            found, source = cache.find_in_girder(girder.session, plan.provenance, scratch)
            if found is not None:
                logger.info('another job embedded this slide (waited %.0f s)',
                            time.monotonic() - waited)
                return _reused(found, plan, source)
            if not _claim_is_live(girder, plan):
                break  # it ended without a cache, or died: claim it again


def _claim_is_live(girder: GirderLink, plan: Plan) -> bool:
    try:
        return girder.session.claim_is_live(plan.provenance.cache_name())
    except GirderError:
        return False  # claim again: that call says whether Girder can take a claim


def embed_missing(request: Request, plan: Plan, data: store.EmbeddingGrid, todo,
                  progress: Progress, on_level: Callable | None = None) -> int:
    """Embed the ``todo`` cells into ``data`` in place, checkpointing to ``<output>.partial``;
    coarse to fine when ``on_level`` is given (see :mod:`.progressive`)."""
    count = int(todo.sum())
    if not count:
        return 0
    from ..models.loaders import resolved_revision
    from .progressive import levels

    spec = plan.spec
    checkpoint = cache.Checkpointer(data, request.outputs.output_embeddings,
                                    request.outputs.checkpoint_seconds, spec.embed_dim, spec.name)
    data.norms = None  # stale from here on; checkpoints compute their own
    parts = (levels(todo, first=query_cells(request.query, plan.grid)) if on_level is not None
             else [todo])

    def after(level: int) -> None:
        if on_level is not None and level < len(parts) - 1:
            on_level(data, todo)
    try:
        if request.scale_out.scheduler:
            ran = _embed_on_dask(request, plan, parts, checkpoint.keep, progress, after)
        else:
            ran = _embed_in_process(request, plan, parts, checkpoint.keep, progress, after)
    except KeyboardInterrupt as exc:
        raise Interrupted(checkpoint.interrupted()) from exc
    progress.end()
    data.norms = store.embedding_norms(data.embeddings)  # once, for the save and the query
    model = data.provenance.model
    model.device = ran.get('device')
    model.precision = ran.get('precision')
    model.layout = ran.get('layout')
    model.batch_size_after_back_off = ran.get('batch_size_after_back_off')
    model.resolved_revision = resolved_revision(spec)
    return count


def _embed_on_dask(request: Request, plan: Plan, parts: list, keep, progress: Progress,
                   after: Callable[[int], None]) -> dict:
    from ..engine.distributed import dask_client, embed_distributed

    count = int(sum(part.sum() for part in parts))
    ran: dict = {}
    options, scale_out = request.engine, request.scale_out
    with dask_client(scale_out.scheduler, scale_out.num_workers,
                     scale_out.threads_per_worker) as client:
        progress.start('embed', total=count, comment='embedding %d tiles on Dask' % count)
        for level, part in enumerate(parts):
            ran = embed_distributed(client, request.image, plan.spec, plan.grid, part,
                                    options.batch_size, options.device, options.precision,
                                    scale_out.threads_per_worker, keep, progress)
            after(level)
    return ran


def _embed_in_process(request: Request, plan: Plan, parts: list, keep, progress: Progress,
                      after: Callable[[int], None]) -> dict:
    from ..engine.build import load_engine
    from ..slide.reader import iter_batches

    count = int(sum(part.sum() for part in parts))
    progress.start('load-model', comment='loading %s' % plan.spec.name)
    options = request.engine
    engine = (plan.engine.result() if plan.engine is not None else
              load_engine(plan.spec, options.device, options.precision, options.batch_size,
                          options.layout))
    logger.info('embedding %d cells with %s on %s (%s, %s, batches of %d, %d level(s))', count,
                plan.spec.name, engine.device, engine.precision, engine.layout,
                request.engine.batch_size, len(parts))
    progress.start('embed', total=count, comment='embedding %d tiles' % count)
    for level, part in enumerate(parts):
        batches = iter_batches(plan.source, plan.grid, part, request.engine.batch_size,
                               request.engine.reader_threads)
        engine.run(batches, keep, progress)
        after(level)
    return engine.describe()


def _preload_engine(request: Request, plan: Plan) -> concurrent.futures.Future | None:
    """The model loading in a thread of its own (importing torch, reading the weights) while
    the tissue mask is computed; None for a run on Dask (its workers load the model)."""
    if request.scale_out.scheduler:
        return None
    from ..engine.build import load_engine

    options = request.engine
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix='load-model')
    future = pool.submit(load_engine, plan.spec, options.device, options.precision,
                         options.batch_size, options.layout)
    pool.shutdown(wait=False)
    return future


def _record_run(data: store.EmbeddingGrid, request: Request, progress: Progress) -> None:
    provenance = data.provenance
    provenance.complete = True
    provenance.software = software_versions()
    provenance.tissue = {'threshold': request.tiling.tissue_threshold,
                         'method': 'optical density, Otsu'}
    provenance.updated = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds')
    for stage, seconds in progress.timings.items():
        provenance.timings[stage] = round(provenance.timings.get(stage, 0.0) + seconds, 3)


def _save(request: Request, outcome: Outcome, girder: GirderLink | None, scratch: str,
          progress: Progress, changed: bool) -> None:
    """Cache the embeddings in Girder when connected, unless they came from there unchanged
    (``changed``: cells were embedded now, or a checkpoint became complete), and write the
    output embeddings: in a Girder job only when Girder did not take them, or when asked to
    keep copies (:func:`~.publish.writes_copy`)."""
    data, embedded_now, source = outcome.data, outcome.cells_embedded, outcome.cache_source
    local = request.outputs.output_embeddings
    connected = girder is not None and girder.session is not None
    in_girder = (source or '').startswith('girder:') and not changed
    early = bool(local) and (not connected or request.outputs.keep_output_files)
    if early:  # written first, so the upload reads the same file
        _write_local(local, data, outcome, changed or source != local)
    if connected and not in_girder:
        path = local if early else os.path.join(scratch, 'upload.npz')
        if not early:
            store.save(path, data)
        progress.start('cache', comment='caching the embeddings in Girder')
        try:
            file_id = cache.upload_to_girder(girder.session, data, path)
            logger.info('cached the embeddings in Girder (file %s)', file_id)
            in_girder = True
        except GirderError as exc:  # a cache is a shortcut: the run goes on without it
            logger.warning('the embeddings were not cached in Girder: %s', exc)
        progress.end()
    if not early and writes_copy(request, in_girder, 'the embeddings are in the Girder cache '
                                 'folder', local):
        _write_local(local, data, outcome, changed or source != local)
    if embedded_now and not local and not in_girder:
        logger.info('%d new cells were embedded but no output embedding file was given; they are '
                    'not cached', embedded_now)


def _write_local(path: str, data: store.EmbeddingGrid, outcome: Outcome, changed: bool) -> None:
    if changed:
        cache.save_local(path, data)
    outcome.files.append(path)
