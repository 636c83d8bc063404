"""One straight line from a slide and key points to a cached grid, a heatmap and its outputs.

``plan -> (reuse cache | read + embed) -> save .npz -> similarity -> .anot / PNG / Girder``.
Embeddings are saved before anything is published, so a Girder failure never loses them.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import re
import time
from typing import Any

import numpy as np

from . import __version__, store
from .annotation import (
    build_annotation,
    overlay_image,
    overlay_size,
    parse_colour,
    to_json,
    write_png,
)
from .atomic import write_bytes
from .errors import CacheError, GirderError, InputError, OutputError, UserError
from .models import BUNDLED_MODEL, get_spec
from .models.spec import POOLING_RULES, ModelSpec
from .progress import NullProgress, Progress
from .similarity import SimilarityMap, check_options, check_points_inside, compute
from .slide import file_fingerprint, open_slide, thumbnail
from .tiling import Scale, TileGrid, plan_grid, resolve_scale
from .tissue import cell_fractions, thumbnail_size, tissue_mask

logger = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 60.0


@dataclasses.dataclass
class Request:
    """Everything one run needs; defaults match the XML's."""

    image: str
    model: str = BUNDLED_MODEL
    keypoints: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    negative_keypoints: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    image_id: str = ''
    tile_size: int = 0
    stride: int = 0
    mpp: float = 0.0
    magnification: float = 0.0
    pooling: str = ''
    trust_remote_code: bool = False
    batch_size: int = 32
    tissue_threshold: float = 0.1
    aggregation: int = 1
    threshold: float = 0.0
    scaling: str = 'quantile'
    colour: str = '#ffff00'
    annotation_name: str = 'Embedding similarity'
    input_embeddings: str = ''
    output_embeddings: str = ''
    output_annotation: str = ''
    output_overlay: str = ''
    annotation_id: str = ''
    api_url: str = ''
    token: str = dataclasses.field(default='', repr=False)
    device: str = 'auto'
    precision: str = 'auto'
    reader_threads: int = 2
    scheduler: str = ''
    """Dask: '' = in-process, 'local' = a local cluster, else a scheduler address."""
    num_workers: int = -1
    threads_per_worker: int = 1
    checkpoint_seconds: float = CHECKPOINT_SECONDS


@dataclasses.dataclass
class GirderLink:
    """The Girder connection of a run, or why there is none.

    A failed connection does not stop the embedding (it is saved locally); the error is raised
    when the heatmap is to be posted.
    """

    session: Any = None
    error: Exception | None = None

    @classmethod
    def connect(cls, request: Request) -> GirderLink | None:
        if not (request.api_url and request.token):
            return None
        from .girder import GirderSession

        try:
            return cls(session=GirderSession(request.api_url, request.token))
        except GirderError as exc:
            logger.warning('%s; the embeddings are still computed and saved', exc)
            return cls(error=exc)


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
    source: Any = dataclasses.field(default=None, repr=False)
    """The open large_image tile source."""


def validate(request: Request) -> tuple[int, int, int]:
    """Check the plain parameters before any slide or model is touched; RGB of the colour."""
    if request.batch_size < 1 or request.batch_size > 4096:
        raise InputError('batch size %d is out of range; use 1 to 4096 (32 suits a CPU, 128+ a '
                         'GPU)' % request.batch_size)
    if request.tile_size < 0 or request.stride < 0:
        raise InputError('tile size and stride must be positive pixel counts (0 = the model\'s '
                         'default); got %d and %d' % (request.tile_size, request.stride))
    for name, value in (('µm per pixel', request.mpp), ('magnification', request.magnification)):
        if value < 0 or not np.isfinite(value) or value > 1000:
            raise InputError('%s %g is invalid; use a positive value or 0 for the model\'s own'
                             % (name, value))
    if not 0.0 <= request.tissue_threshold <= 1.0:
        raise InputError('tissue threshold %g is outside [0, 1]; it is the share of a cell that '
                         'must be tissue (0 embeds every cell)' % request.tissue_threshold)
    check_options(request.threshold, request.aggregation, request.scaling)
    if request.pooling and request.pooling not in POOLING_RULES:
        raise InputError('unknown pooling %r; use one of %s' % (request.pooling,
                                                               ', '.join(POOLING_RULES)))
    if request.reader_threads < 1 or request.reader_threads > 64:
        raise InputError('reader threads %d must be between 1 and 64' % request.reader_threads)
    if bool(request.api_url) != bool(request.token):
        raise InputError('posting to Girder needs both --api-url and --girder-token')
    for path in (request.output_embeddings, request.output_annotation, request.output_overlay):
        if path:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise OutputError('output folder %s does not exist; create it or choose another '
                                  'path' % folder)
            if not os.access(folder, os.W_OK):
                raise OutputError('output folder %s is not writable; choose another folder'
                                  % folder)
            if os.path.isdir(path):
                raise OutputError('output %s is a folder; give a file name' % path)
    if request.checkpoint_seconds < 0:
        raise InputError('checkpoint interval %g s must be 0 or more' % request.checkpoint_seconds)
    if request.input_embeddings and not os.path.isfile(request.input_embeddings):
        raise InputError('embedding file %s does not exist' % request.input_embeddings)
    return parse_colour(request.colour)


def model_spec(request: Request) -> ModelSpec:
    spec = get_spec(request.model)
    if request.pooling and request.pooling != spec.pooling:
        spec = spec.with_overrides(pooling=request.pooling, embed_dim=pooled_dim(spec,
                                                                                request.pooling))
    if request.trust_remote_code:
        spec = spec.with_overrides(trust_remote_code=True)
    return spec


def pooled_dim(spec: ModelSpec, pooling: str) -> int:
    """The embedding size under another pooling rule (the token width doubles for cls+mean)."""
    if spec.pooling in ('model', 'gap'):
        if pooling not in ('model', 'gap'):
            raise InputError('model %s gives one pooled vector; --pooling %s does not apply'
                             % (spec.name, pooling))
        return spec.embed_dim
    if pooling in ('model', 'gap'):
        raise InputError('model %s has token features; use --pooling cls, mean, cls+mean or '
                         'pooler' % spec.name)
    width = spec.embed_dim // 2 if spec.pooling == 'cls+mean' else spec.embed_dim
    return 2 * width if pooling == 'cls+mean' else width


def describe_request(spec: ModelSpec, grid: TileGrid, scale: Scale, fingerprint: str,
                     request: Request) -> dict[str, Any]:
    """The provenance a cache must match (and records)."""
    return {
        'model': {'name': spec.name, 'source': spec.source, 'repo_id': spec.repo_id,
                  'revision': spec.revision, 'pooling': spec.pooling,
                  'embed_dim': spec.embed_dim, 'input_size': spec.input_size,
                  'mean': list(spec.mean), 'std': list(spec.std)},
        'grid': grid.to_dict(),
        'scale': dataclasses.asdict(scale),
        'tile': {'model_px': grid.tile, 'stride_model_px': grid.stride,
                 'base_px': grid.tile_base, 'stride_base_px': grid.stride_base,
                 'mpp': scale.mpp, 'magnification': scale.magnification},
        'image': {'name': os.path.basename(os.path.normpath(request.image)),
                  'width': grid.image_width, 'height': grid.image_height,
                  'fingerprint': fingerprint, 'girder_id': request.image_id or None},
    }


def software_versions() -> dict[str, str]:
    """Versions of the packages that shape the embeddings (read without importing them)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {'EmbeddingSimilarity': __version__}
    for package in ('torch', 'timm', 'transformers', 'large-image'):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = 'not installed'
    return versions


def partial_path(output: str) -> str:
    return output + '.partial'


def find_cache(request: Request, wanted: dict[str, Any]) -> tuple[store.EmbeddingGrid | None,
                                                                  str | None]:
    """A cache that can serve the request: the given input file, a checkpoint, or the output.

    A given input file that does not match is an error (the user asked for it); a stale output
    or checkpoint is simply recomputed.
    """
    if request.input_embeddings:
        data = store.load(request.input_embeddings)
        problem = store.mismatch(data.meta, wanted)
        if problem:
            raise CacheError('embedding file %s does not match this run: %s; drop '
                             '--input-embeddings or use the same model, tile size, stride and '
                             'scale' % (request.input_embeddings, problem))
        return data, request.input_embeddings
    for path in (request.output_embeddings, partial_path(request.output_embeddings)
                 if request.output_embeddings else ''):
        if not path or not os.path.isfile(path):
            continue
        try:
            data = store.load(path)
        except CacheError as exc:
            logger.warning('ignoring %s: %s', path, exc)
            continue
        problem = store.mismatch(data.meta, wanted)
        if problem:
            logger.info('existing %s was made differently (%s); recomputing', path, problem)
            continue
        return data, path
    return None, None


def girder_cache_name(meta: dict[str, Any]) -> str:
    """Name of the cache item in Girder: the image, model and grid, so one lookup finds it."""
    grid = meta['grid']
    digest = meta['image']['fingerprint'].split(':')[-1][:12]
    return '%s.%s.t%ds%df%.4f.%s.npz' % (
        os.path.splitext(meta['image']['name'])[0], safe_name(meta['model']['name']),
        grid['tile'], grid['stride'], grid['factor'], digest)


def find_girder_cache(session: Any, wanted: dict[str, Any],
                      folder: str) -> tuple[store.EmbeddingGrid | None, str | None]:
    """A matching cache from the user's Girder cache folder, downloaded into ``folder``."""
    name = girder_cache_name(wanted)
    try:
        found = session.find_cached_embeddings(name)
        if found is None:
            return None, None
        path = os.path.join(folder, name)
        session.download_file(found['_id'], path)
        data = store.load(path)
    except (GirderError, CacheError) as exc:
        logger.warning('not using the Girder embedding cache: %s', exc)
        return None, None
    problem = store.mismatch(data.meta, wanted)
    if problem:
        logger.info('Girder cache %s was made differently (%s); recomputing', name, problem)
        return None, None
    return data, 'girder:file/%s' % found['_id']


def tissue_fractions(source, grid: TileGrid) -> np.ndarray:
    width, height = thumbnail_size(grid)
    return cell_fractions(tissue_mask(thumbnail(source, width, height)), grid)


def embed_missing(request: Request, spec: ModelSpec, source, data: store.EmbeddingGrid,
                  todo: np.ndarray, progress: Progress) -> int:
    """Embed the ``todo`` cells into ``data`` in place; checkpoints to ``<output>.partial``."""
    from .models.loaders import resolved_revision

    count = int(todo.sum())
    if not count:
        return 0
    grid = data.grid
    checkpoint = partial_path(request.output_embeddings) if request.output_embeddings else ''
    last_save = time.monotonic()
    data.norms = None  # stale from here on; checkpoints compute their own

    def keep(cells: np.ndarray, embeddings: np.ndarray) -> None:
        nonlocal last_save
        if embeddings.shape[1] != spec.embed_dim:
            raise InputError('model %s gave %d-dimensional embeddings where its record says %d; '
                             'fix the model record or pooling' % (
                                 spec.name, embeddings.shape[1], spec.embed_dim))
        data.embeddings[cells[:, 0], cells[:, 1]] = embeddings.astype(np.float16)
        data.embedded[cells[:, 0], cells[:, 1]] = True
        if checkpoint and time.monotonic() - last_save >= request.checkpoint_seconds:
            data.meta['complete'] = False
            store.save(checkpoint, data)
            last_save = time.monotonic()

    try:
        if request.scheduler:
            ran = _embed_on_dask(request, spec, grid, todo, keep, progress)
        else:
            ran = _embed_in_process(request, spec, source, grid, todo, keep, progress)
    except KeyboardInterrupt:
        if checkpoint:
            data.meta['complete'] = False
            store.save(checkpoint, data)
        raise
    progress.end()
    data.norms = store.embedding_norms(data.embeddings)  # once, for the save and the query
    data.meta['model'].update(ran, resolved_revision=resolved_revision(spec))
    return count


def _embed_on_dask(request: Request, spec: ModelSpec, grid: TileGrid, todo: np.ndarray,
                   keep, progress: Progress) -> dict:
    from .distributed import close_client, embed_distributed, make_client

    client = make_client(request.scheduler, request.num_workers, request.threads_per_worker)
    try:
        progress.start('embed', total=int(todo.sum()),
                       comment='embedding %d tiles on Dask' % int(todo.sum()))
        return embed_distributed(client, request.image, spec, grid, todo, request.batch_size,
                                 request.device, request.precision, request.threads_per_worker,
                                 keep, progress)
    finally:
        close_client(client)


def _embed_in_process(request: Request, spec: ModelSpec, source, grid: TileGrid,
                      todo: np.ndarray, keep, progress: Progress) -> dict:
    from .embedding import EmbeddingEngine, choose_device, choose_precision
    from .models.loaders import build_embedder
    from .reader import iter_batches

    count = int(todo.sum())
    device = choose_device(request.device)
    precision = choose_precision(request.precision, spec.precision, device)
    progress.start('load-model', comment='loading %s' % spec.name)
    engine = EmbeddingEngine(build_embedder(spec), device, precision, request.batch_size)
    logger.info('embedding %d cells with %s on %s (%s, batches of %d)', count, spec.name,
                device, precision, request.batch_size)
    progress.start('embed', total=count, comment='embedding %d tiles' % count)
    batches = iter_batches(source, grid, todo, request.batch_size, request.reader_threads)
    engine.run(batches, keep, progress)
    return engine.describe()


def compute_embeddings(request: Request, progress: Progress | None = None,
                       girder: GirderLink | None = None) -> Outcome:
    """Open the slide, reuse or compute the embedding grid, and save it (and cache it in
    Girder when connected)."""
    import tempfile

    progress = progress or NullProgress()
    # scratch holds a cache downloaded from Girder; its memory map stays valid after the
    # folder is removed (POSIX keeps an unlinked, mapped file until it is unmapped)
    with tempfile.TemporaryDirectory(prefix='embedding-similarity-') as scratch:
        return _compute_embeddings(request, progress, girder, scratch)


def _compute_embeddings(request: Request, progress: Progress, girder: GirderLink | None,
                        scratch: str) -> Outcome:
    spec = model_spec(request)
    progress.start('plan', comment='opening %s' % os.path.basename(request.image))
    source = open_slide(request.image)
    metadata = source.getMetadata()
    scale = resolve_scale(metadata, spec.mpp, spec.magnification, request.mpp,
                          request.magnification)
    if scale.source == 'assumed':
        logger.warning('%s has no usable µm/px or magnification; assuming 20x (0.5 µm/px). Pass '
                       '--mpp or --magnification if that is wrong', request.image)
    tile = request.tile_size or spec.input_size
    stride = request.stride or tile
    grid = plan_grid(metadata['sizeX'], metadata['sizeY'], tile, stride, scale.factor)
    check_points_inside(request.keypoints, grid.image_width, grid.image_height)
    check_points_inside(request.negative_keypoints, grid.image_width, grid.image_height,
                        'negative key point')
    wanted_meta = describe_request(spec, grid, scale, file_fingerprint(request.image), request)
    data, cache_source = find_cache(request, wanted_meta)
    if data is None and girder is not None and girder.session is not None:
        data, cache_source = find_girder_cache(girder.session, wanted_meta, scratch)
    if data is None:
        data = store.EmbeddingGrid(
            embeddings=np.zeros((grid.rows, grid.cols, spec.embed_dim), dtype=np.float16),
            embedded=np.zeros(grid.shape, dtype=bool),
            tissue_fraction=None, meta=dict(wanted_meta))
        data.meta['timings'] = {}
    else:
        logger.info('reusing %d embedded cells from %s', int(data.embedded.sum()), cache_source)
    if data.tissue_fraction is None:
        progress.start('tissue', comment='finding tissue')
        data.tissue_fraction = tissue_fractions(source, grid)
    wanted = tissue_wanted(data.tissue_fraction, request.tissue_threshold)
    for x, y in list(request.keypoints) + list(request.negative_keypoints):
        wanted[grid.cell_of_point(x, y)] = True
    todo = wanted & ~data.embedded
    embedded_now = embed_missing(request, spec, source, data, todo, progress)
    progress.end()
    data.meta.update(
        complete=True, software=software_versions(),
        tissue={'threshold': request.tissue_threshold, 'method': 'optical density, Otsu'},
        updated=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))
    timings = data.meta.setdefault('timings', {})
    for stage, seconds in progress.timings.items():
        timings[stage] = round(timings.get(stage, 0.0) + seconds, 3)
    if request.output_embeddings and (embedded_now or cache_source != request.output_embeddings):
        store.save(request.output_embeddings, data)
        checkpoint = partial_path(request.output_embeddings)
        if os.path.exists(checkpoint):
            os.unlink(checkpoint)
    if girder is not None and girder.session is not None and (
            embedded_now or not (cache_source or '').startswith('girder:')):
        path = request.output_embeddings or os.path.join(scratch, 'upload.npz')
        if not request.output_embeddings:
            store.save(path, data)
        progress.start('cache', comment='caching the embeddings in Girder')
        file_id = girder.session.store_cached_embeddings(
            path, girder_cache_name(data.meta),
            {'image': data.meta['image'], 'model': data.meta['model']['name'],
             'grid': data.meta['grid'], 'format_version': store.FORMAT_VERSION})
        logger.info('cached the embeddings in Girder (file %s)', file_id)
        progress.end()
    elif embedded_now and not request.output_embeddings:
        logger.info('%d new cells were embedded but no output embedding file was given; they are '
                    'not cached', embedded_now)
    outcome = Outcome(data=data, cells_embedded=embedded_now, cache_source=cache_source,
                      source=source)
    if request.output_embeddings:
        outcome.files.append(request.output_embeddings)
    return outcome


def tissue_wanted(fraction: np.ndarray, threshold: float) -> np.ndarray:
    """Cells to embed: those with at least ``threshold`` tissue (every cell when it is 0)."""
    if threshold <= 0:
        return np.ones(fraction.shape, dtype=bool)
    return fraction >= threshold


def valid_cells(data: store.EmbeddingGrid, request: Request) -> np.ndarray:
    """Cells that get a value: embedded and tissue by this run's threshold, or a key point."""
    valid = data.embedded & tissue_wanted(data.tissue_fraction, request.tissue_threshold)
    grid = data.grid
    for x, y in list(request.keypoints) + list(request.negative_keypoints):
        cell = grid.cell_of_point(x, y)
        valid[cell] = data.embedded[cell]
    return valid


def publish(girder: GirderLink, request: Request, annotation: dict) -> str:
    """Create the annotation on the image item, or update this tool's previous one in place."""
    if girder.session is None:
        raise girder.error or GirderError('no Girder connection')
    session = girder.session
    model = annotation['attributes']['EmbeddingSimilarity']['model']
    if request.annotation_id:
        annotation_id = session.update_annotation(request.annotation_id, annotation)
        logger.info('updated annotation %s', annotation_id)
        return annotation_id
    item = session.resolve_item(request.image_id)
    previous = session.find_annotation(item['_id'], model)
    if previous is not None:
        annotation_id = session.update_annotation(str(previous['_id']), annotation)
        logger.info('updated annotation %s on item %s', annotation_id, item['_id'])
        return annotation_id
    annotation_id = session.create_annotation(item['_id'], annotation)
    logger.info('created annotation %s on item %s', annotation_id, item['_id'])
    return annotation_id


def run(request: Request, progress: Progress | None = None) -> Outcome:
    """The whole job: embeddings, then (with key points) the heatmap and its outputs."""
    progress = progress or NullProgress()
    colour = validate(request)
    girder = GirderLink.connect(request)
    outcome = compute_embeddings(request, progress, girder)
    if not request.keypoints:
        logger.info('no key point given: embeddings only')
        if girder is not None and girder.error is not None:
            raise girder.error
        return outcome
    data = outcome.data
    grid = data.grid
    progress.start('similarity', comment='comparing cells to the key points')
    result = compute(data.embeddings, valid_cells(data, request), grid, request.keypoints,
                     request.negative_keypoints, request.aggregation, request.threshold,
                     request.scaling, data.norms)
    attributes = {'model': data.meta['model']['name'], 'version': __version__,
                  'tileSize': grid.tile, 'stride': grid.stride, 'factor': grid.factor,
                  'mpp': data.meta['scale']['mpp'],
                  'magnification': data.meta['scale']['magnification'],
                  'keypoints': [list(p) for p in request.keypoints],
                  'negativeKeypoints': [list(p) for p in request.negative_keypoints],
                  'imageFingerprint': data.meta['image']['fingerprint']}
    annotation = build_annotation(grid, result, colour, request.annotation_name, attributes)
    outcome.similarity, outcome.annotation = result, annotation
    girder_error = girder.error if girder is not None else None
    if girder is not None and girder.session is not None:
        if request.image_id or request.annotation_id:
            progress.start('publish', comment='posting the heatmap to Girder')
            try:
                outcome.annotation_id = publish(girder, request, annotation)
            except GirderError as exc:  # the files below are still written
                girder_error = exc
        else:
            logger.info('no image id (--image-id): the heatmap is written to the annotation '
                        'output, which HistomicsUI ingests, instead of being posted')
    if request.output_annotation:
        # A HistomicsUI server ingests an uploaded *AnnotationFile output as a new annotation;
        # when this run has already posted (or updated) it, the file holds an empty list so the
        # heatmap is not added twice.
        body = '[]' if outcome.annotation_id else to_json(annotation)
        write_bytes(request.output_annotation, body)
        outcome.files.append(request.output_annotation)
    if request.output_overlay:
        progress.start('overlay', comment='drawing the PNG overlay')
        width, height = overlay_size(grid)
        pixels = overlay_image(thumbnail(outcome.source, width, height), grid, result.values,
                               colour, request.keypoints)
        write_png(request.output_overlay, pixels)
        outcome.files.append(request.output_overlay)
    progress.end()
    if girder_error is not None:
        raise girder_error
    return outcome


def safe_name(text: str) -> str:
    """``text`` usable in a file name (a model name may hold ``/`` or ``:``)."""
    return re.sub(r'[^\w.+-]+', '_', text)


def default_output_names(image: str, model: str) -> dict[str, str]:
    """File names for a run's outputs: ``<image>.<model>.npz``, ``<image>.anot``, ``.png``."""
    stem = os.path.splitext(os.path.basename(os.path.normpath(image)))[0]
    return {'embeddings': '%s.%s.npz' % (stem, safe_name(model)),
            'annotation': stem + '.anot', 'overlay': stem + '.png'}


def slide_paths(folder: str) -> list[str]:
    """The files of a folder, in name order (hidden files skipped)."""
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if not name.startswith('.') and os.path.isfile(os.path.join(folder, name)))


def run_folder(request: Request, output_dir: str) -> list[tuple[str, dict | None,
                                                                Exception | None]]:
    """Embed every slide of the folder ``request.image`` into ``output_dir``.

    With a Dask scheduler, whole slides are the tasks; otherwise they run one after another. A
    slide that fails is reported and the others go on. Returns ``(path, summary, error)``.
    """
    if request.keypoints or request.negative_keypoints:
        raise InputError('key points belong to one slide; run each slide on its own to get its '
                         'heatmap (a folder of slides is embedded only)')
    paths = slide_paths(request.image)
    if not paths:
        raise InputError('folder %s holds no files to embed' % request.image)
    requests = [dataclasses.replace(
        request, image=path, output_annotation='', output_overlay='', image_id='',
        annotation_id='', api_url='', token='', scheduler='',
        output_embeddings=os.path.join(output_dir, default_output_names(
            path, request.model)['embeddings'])) for path in paths]
    if request.scheduler:
        from .distributed import close_client, embed_slides_distributed, make_client

        client = make_client(request.scheduler, request.num_workers, request.threads_per_worker)
        try:
            results = embed_slides_distributed(client, requests)
        finally:
            close_client(client)
        order = {r.image: i for i, r in enumerate(requests)}
        return sorted(((r.image, summary, error) for r, summary, error in results),
                      key=lambda item: order[item[0]])
    results = []
    for one in requests:
        try:
            results.append((one.image, run_summary(one), None))
        except UserError as exc:
            results.append((one.image, None, exc))
    return results


def run_summary(request: Request) -> dict:
    """Run one slide and say what it produced (what the multi-slide mode reports)."""
    outcome = run(request)
    return {'cells_embedded': outcome.cells_embedded, 'files': outcome.files,
            'grid': list(outcome.data.grid.shape)}
