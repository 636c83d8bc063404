"""The targets of a collection search: every slide of the folder (recursive), each with a
cache that matches the query's model and grid, found next to the slide or in
``--embeddings-folder``, read once from a TRIDENT or STAMP ``<stem>.h5`` or a LazySlide
``<stem>.zarr`` found there, or embedded first (in-process, or as whole-slide Dask tasks). A
slide that cannot be read is reported and skipped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable

from ..cache import interop, store
from ..cache.provenance import Provenance
from ..errors import InputError, UserError
from ..progress import NullProgress, Progress
from ..steps.options import cache_file_name, default_output_names
from ..steps.plan import make_plan
from ..steps.request import Request

logger = logging.getLogger(__name__)

SKIPPED_SUFFIXES = ('.npz', '.partial', '.anot', '.csv', '.tmp', '.json', '.faiss', '.txt',
                    '.md', '.log', '.h5', '.hdf5')
"""Files in a collection folder that are this tool's outputs, other tools' feature files or
plainly not slides."""


@dataclasses.dataclass
class Target:
    """One slide of the collection and its cache."""

    path: str
    name: str
    is_query: bool = False
    in_collection: bool = True
    embedded_now: bool = False
    """False for the query image when it lies outside the collection folder."""
    cache: str = ''
    fingerprint: str = ''
    grid: object = None
    item_id: str = ''
    url: str = ''
    note: str = ''
    error: str = ''


def collection_slides(folder: str, exclude: set[str]) -> list[str]:
    """Every file under ``folder`` that may be a slide, in path order (hidden files, this tool's
    outputs, ``exclude`` and anything but regular files skipped)."""
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs  # hidden folders, LazySlide's <stem>.zarr stores
                         if not d.startswith('.') and not d.lower().endswith('.zarr'))
        for name in names:
            path = os.path.join(root, name)
            if (name.startswith('.') or name.lower().endswith(SKIPPED_SUFFIXES)
                    or os.path.realpath(path) in exclude):
                continue
            if not os.path.isfile(path):  # a FIFO, device or socket: open() could block
                logger.warning('skipping %s: not a regular file', path)
                continue
            found.append(path)
    return sorted(found)


def cache_path(request: Request, slide: str) -> str:
    """Where a target's cache is written: the embeddings folder, else next to the slide."""
    name = cache_file_name(slide, request.engine.model)
    return os.path.join(request.search.embeddings_folder or os.path.dirname(slide), name)


def peer_file(request: Request, slide: str) -> str:
    """Another tool's feature file of ``slide`` (TRIDENT's and STAMP's ``<stem>.h5``,
    LazySlide's ``<stem>.zarr``) in the embeddings folder or next to the slide, or ''."""
    stem = os.path.splitext(os.path.basename(os.path.normpath(slide)))[0]
    for folder in filter(None, (request.search.embeddings_folder, os.path.dirname(slide))):
        for path in (os.path.join(folder, stem + '.h5'), os.path.join(folder, stem + '.zarr')):
            if interop.is_peer(path):
                return path
    return ''


def find_cache(request: Request, slide: str, wanted) -> tuple[str, str]:
    """A matching cache of ``slide`` (path or ''), and a note on caches that did not match.

    A cache named ``<stem>.<model>.npz`` (by 0.1, when ``x.svs`` and ``x.tif`` shared one)
    serves only the slide whose name it records."""
    names = (cache_file_name(slide, request.engine.model),
             default_output_names(slide, request.engine.model)['embeddings'])
    notes = []
    for folder in filter(None, (request.search.embeddings_folder, os.path.dirname(slide))):
        for legacy, name in enumerate(names):
            path = os.path.join(folder, name)
            if not os.path.isfile(path):
                continue
            problem = _cache_problem(path, wanted, os.path.basename(slide) if legacy else '')
            if problem is None:
                return path, ''
            if problem:
                notes.append('%s does not match (%s)' % (path, problem))
    return '', '; '.join(notes)


def _cache_problem(path: str, wanted, owner: str) -> str | None:
    """Why the cache at ``path`` cannot serve ``wanted`` (None: it can; '': it is another
    slide's, named the old way, and no concern of this one's)."""
    try:
        data = store.load(path)
        if owner and data.provenance.image.name != owner:
            return ''
        return data.provenance.mismatch(wanted) or (
            None if data.complete else 'an interrupted run\'s checkpoint')
    except UserError as exc:
        return str(exc)


def list_targets(request: Request) -> list[Target]:
    """The slides to search: the collection's files, plus the query image when outside it (none
    when the folder itself stands in for the query image, in a search in words)."""
    search = request.search
    exclude = {os.path.realpath(p) for p in (search.output_results, search.output_gallery,
                                             search.index, search.index + '.json') if p}
    paths = collection_slides(request.search.collection, exclude)
    if not paths:
        raise InputError('collection %s holds no files; put slides in it (subfolders are '
                         'searched too)' % request.search.collection)
    query = os.path.realpath(request.image)
    targets = [Target(p, os.path.basename(p), os.path.realpath(p) == query) for p in paths]
    if query == os.path.realpath(request.search.collection):
        return targets  # a search in words of the folder itself: no query slide
    if not any(t.is_query for t in targets):
        targets.insert(0, Target(request.image, os.path.basename(request.image), True, False))
    return targets


def prepare_targets(request: Request, targets: list[Target], progress: Progress,
                    client=None, lookup: Callable[[Provenance], str] | None = None) -> int:
    """Find each target's cache (locally, then with ``lookup``: the Girder cache) or embed
    it; a slide that fails gets ``error`` and is skipped. The number of slides embedded now."""
    missing = []
    progress.start('targets', total=len(targets), comment='finding the caches of %d slides'
                   % len(targets))
    for number, target in enumerate(targets, 1):
        progress.advance()
        if target.error:  # e.g. its file could not be fetched from Girder
            continue
        try:
            plan = make_plan(_slide_request(request, target.path))
            target.grid, target.fingerprint = plan.grid, plan.provenance.image.fingerprint
            target.cache, target.note = find_cache(request, target.path, plan.provenance)
            if not target.cache:
                _read_peer_file(request, target)
            if not target.cache and lookup is not None:
                target.cache = lookup(plan.provenance)
        except UserError as exc:
            target.error = str(exc)
            logger.warning('slide %d/%d %s cannot be read, skipped: %s', number, len(targets),
                           target.name, exc)
        else:
            if target.note:
                logger.info('%s; embedding afresh with %s', target.note, request.engine.model)
            if not target.cache:
                missing.append(target)
    progress.end()
    if missing:
        _embed_targets(request, missing, progress, client)
    check_query_target(targets)
    return sum(1 for t in missing if t.cache)


def _read_peer_file(request: Request, target: Target) -> None:
    """Give ``target`` the cache read from its TRIDENT or STAMP file, if it has one: once into
    ``<stem>.<model>.npz`` (nothing is embedded), which later searches find."""
    peer = peer_file(request, target.path)
    if not peer:
        return
    one = _slide_request(request, target.path).but(input_embeddings=peer)
    plan = make_plan(one)
    target.grid, target.fingerprint = plan.grid, plan.provenance.image.fingerprint
    target.cache, _ = find_cache(request, target.path, plan.provenance)
    if not target.cache:
        target.cache = embed_target(one)
        logger.info('%s: read %s into %s', target.name, peer, target.cache)
    target.note = ''


def check_query_target(targets: list[Target]) -> None:
    """The query image failing is an error, not a skip: the results would silently leave out
    the slide the user asked about."""
    for target in targets:
        if target.is_query and target.error:
            raise InputError('the query image %s cannot be searched: %s; fix or replace the '
                             'image (the other slides were not searched)'
                             % (target.path, target.error))


def _slide_request(request: Request, path: str) -> Request:
    return request.but(
        image=path, keypoints=[], negative_keypoints=[], input_embeddings='',
        output_embeddings=cache_path(request, path), output_annotation='', output_overlay='',
        output_table='', output_results='', output_gallery='', image_id='', annotation_id='',
        api_url='', token='', scheduler='')


def embed_target(request: Request) -> str:
    """Embed one whole slide into its cache (a Dask task, or in-process); the cache's path."""
    from ..steps.embed import compute_embeddings

    compute_embeddings(request, NullProgress())
    return request.outputs.output_embeddings


def _embed_targets(request: Request, missing: list[Target], progress: Progress,
                   client) -> None:
    progress.start('embed-targets', total=len(missing),
                   comment='embedding %d slides without a cache' % len(missing))
    requests = {t.path: _slide_request(request, t.path) for t in missing}
    by_path = {t.path: t for t in missing}
    if client is not None:
        from ..engine.distributed import run_tasks

        results = [(r.image, out, err) for r, out, err in
                   run_tasks(client, embed_target, list(requests.values()))]
    else:
        results = ((path, *_try(embed_target, one)) for path, one in requests.items())
    for done, (path, out, error) in enumerate(results, 1):
        target = by_path[path]
        if error is not None:
            target.error = str(error)
            logger.warning('slide %s could not be embedded, skipped: %s', target.name, error)
        else:
            target.cache, target.embedded_now = out, True
            logger.info('slide %d/%d %s embedded -> %s', done, len(missing), target.name, out)
        progress.advance()
    progress.end()


def _try(function, *args):
    try:
        return function(*args), None
    except UserError as exc:
        return None, exc
