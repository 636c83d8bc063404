"""The request record of a run: its fields (defaults = the XML's), validation, output names, and
the parsing of Slicer region values.

Every CLI fills one :class:`Request`; the checks here run before any slide or model is touched,
so a bad parameter costs nothing.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse

import numpy as np

from ..cache.provenance import safe_name
from ..engine.build import DEFAULT_BATCH_SIZE
from ..engine.distributed import check_scheduler
from ..errors import InputError, OutputError
from ..models import BUNDLED_MODEL
from ..models.spec import LAYOUTS, POOLING_RULES
from ..query.clusters import MAX_CLUSTERS, MIN_CLUSTERS
from ..query.shapes import Shape, parse_shapes, points_of
from ..query.similarity import check_options
from ..render.colours import Colormap, parse_colormap, parse_colour
from ..render.overlay import DISPLAYS
from .paths import check_image, check_paths, check_readable_file

CHECKPOINT_SECONDS = 60.0
PROGRESSIVE = ('auto', 'true', 'false')
MPP_RANGE = (0.02, 100.0)
"""Accepted --mpp values (besides 0): a 40x scan's pixel to a 100 µm overview."""
SCORERS = ('prototype', 'linear')
MAGNIFICATION_RANGE = (0.1, 500.0)
"""Accepted --magnification values (besides 0), the same range as objective powers."""


@dataclasses.dataclass
class Request:
    """Everything one run needs; defaults match the XML's (a test checks each one)."""

    image: str
    model: str = BUNDLED_MODEL
    keypoints: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    negative_keypoints: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    key_regions: list[Shape] = dataclasses.field(default_factory=list)
    """Rectangles and polygons among the key shapes (the points are in ``keypoints``)."""
    negative_regions: list[Shape] = dataclasses.field(default_factory=list)
    positive_annotations: str = ''
    """Names of annotations (or element groups) on the image whose shapes are key shapes."""
    negative_annotations: str = ''
    scorer: str = 'prototype'
    output_hits: str = ''
    return_parameter_file: str = ''
    image_id: str = ''
    tile_size: int = 0
    stride: int = 0
    mpp: float = 0.0
    magnification: float = 0.0
    pooling: str = ''
    trust_remote_code: bool = False
    batch_size: int = DEFAULT_BATCH_SIZE
    tissue_threshold: float = 0.1
    aggregation: int = 1
    threshold: float = 0.0
    scaling: str = 'quantile'
    colour: str = '#ffff00'
    colormap: str = 'single'
    display: str = 'heatmap'
    annotation_name: str = 'Embedding similarity'
    clusters: int = 0
    """EmbeddingClusters: K, or 0 to choose K by silhouette."""
    seed: int = 0
    input_embeddings: str = ''
    output_embeddings: str = ''
    output_annotation: str = ''
    output_overlay: str = ''
    output_table: str = ''
    picture_size: int = 1024
    """Longest side of the PNG picture's slide thumbnail, in pixels."""
    annotation_id: str = ''
    api_url: str = ''
    token: str = dataclasses.field(default='', repr=False)
    device: str = 'auto'
    precision: str = 'auto'
    layout: str = 'auto'
    """Memory layout of the model's input: auto, channels_last or contiguous."""
    progressive: str = 'auto'
    """Embed coarse to fine with preview heatmaps: auto (= when posting to Girder), true, false."""
    reader_threads: int = 2
    scheduler: str = ''
    """Dask: '' = in-process, 'local' = a local cluster, else a scheduler address."""
    num_workers: int = -1
    threads_per_worker: int = 1
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    collection: str = ''
    """CollectionSimilarity: the folder of slides to search (a Girder folder id in Girder)."""
    top_k: int = 100
    output_results: str = ''
    output_gallery: str = ''
    index: str = ''
    """CollectionSimilarity: a FAISS index to build, update and search ('' = exact search)."""
    embeddings_folder: str = ''
    """CollectionSimilarity: where target caches are looked for (and new ones written)."""

    @property
    def outputs(self) -> list[str]:
        return [path for path in self.output_options().values() if path]

    def output_options(self) -> dict[str, str]:
        """Each output's option name and path (empty when not asked for)."""
        return {'--output-embeddings': self.output_embeddings,
                '--output-annotation': self.output_annotation,
                '--output-overlay': self.output_overlay, '--output-table': self.output_table,
                '--output-hits': self.output_hits,
                '--output-results': self.output_results, '--output-gallery': self.output_gallery}

    @property
    def has_query(self) -> bool:
        """Whether the run asks a question (key points, regions or exemplar annotations)."""
        return bool(self.keypoints or self.key_regions or self.positive_annotations.strip())


def validate(request: Request) -> Colormap:
    """Check the plain parameters before any slide or model is touched; the colour map."""
    if request.batch_size < 1 or request.batch_size > 4096:
        raise InputError('batch size %d is out of range; use 1 to 4096 (32 suits a CPU, 128+ a '
                         'GPU)' % request.batch_size)
    if request.tile_size < 0 or request.stride < 0:
        raise InputError('tile size and stride must be positive pixel counts (0 = the model\'s '
                         'default); got %d and %d' % (request.tile_size, request.stride))
    for name, value, (low, high), unit in (
            ('µm per pixel', request.mpp, MPP_RANGE, ' µm/px'),
            ('magnification', request.magnification, MAGNIFICATION_RANGE, 'x')):
        if not np.isfinite(value) or (value and not low <= value <= high) or value < 0:
            raise InputError('%s %g is outside %g%s to %g%s; use a value in that range, or 0 '
                             'for the model\'s own scale' % (name, value, low, unit, high, unit))
    if not 0.0 <= request.tissue_threshold <= 1.0:
        raise InputError('tissue threshold %g is outside [0, 1]; it is the share of a cell that '
                         'must be tissue (0 embeds every cell)' % request.tissue_threshold)
    check_options(request.threshold, request.aggregation, request.scaling)
    if request.scorer not in SCORERS:
        raise InputError('unknown scorer %r; use one of %s' % (request.scorer, ', '.join(SCORERS)))
    if request.pooling and request.pooling not in POOLING_RULES:
        raise InputError('unknown pooling %r; use one of %s' % (request.pooling,
                                                               ', '.join(POOLING_RULES)))
    if not 64 <= request.picture_size <= 8192:
        raise InputError('picture size %d is out of range; use 64 to 8192 pixels'
                         % request.picture_size)
    if request.layout not in LAYOUTS:
        raise InputError('unknown layout %r; use %s' % (request.layout, ', '.join(LAYOUTS)))
    if request.progressive not in PROGRESSIVE:
        raise InputError('unknown progressive value %r; use %s' % (
            request.progressive, ', '.join(PROGRESSIVE)))
    if request.reader_threads < 1 or request.reader_threads > 64:
        raise InputError('reader threads %d must be between 1 and 64' % request.reader_threads)
    if bool(request.api_url) != bool(request.token):
        raise InputError('posting to Girder needs both --api-url and --girder-token')
    check_api_url(request.api_url)
    check_scheduler(request.scheduler)
    if request.checkpoint_seconds < 0:
        raise InputError('checkpoint interval %g s must be 0 or more' % request.checkpoint_seconds)
    if request.display not in DISPLAYS:
        raise InputError('unknown display %r; use one of %s' % (request.display,
                                                               ', '.join(DISPLAYS)))
    if request.clusters and not MIN_CLUSTERS <= request.clusters <= MAX_CLUSTERS:
        raise InputError('--clusters %d is out of range; use %d to %d, or 0 to choose K by '
                         'silhouette' % (request.clusters, MIN_CLUSTERS, MAX_CLUSTERS))
    check_files(request)
    return parse_colormap(request.colormap, parse_colour(request.colour))


def check_files(request: Request) -> None:
    """The inputs are readable files and no output would replace an input or another output."""
    check_image(request.image)
    if request.input_embeddings:
        check_readable_file(request.input_embeddings, 'embedding file')
    for path in request.outputs:
        check_output_path(path)
    check_paths(request.image, [request.input_embeddings], request.output_options())


def check_api_url(url: str) -> None:
    """A Girder API URL has an http(s) scheme and a host (checked before minutes of work)."""
    if not url:
        return
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ('http', 'https') or not parts.hostname:
        raise InputError('Girder API URL %r is not an http(s) URL with a host; use e.g. '
                         'http://localhost:8080/api/v1' % url)


def check_output_path(path: str) -> None:
    """An output can be written at ``path``: its folder exists and is writable, it is no folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError('output folder %s does not exist; create it or choose another path'
                          % folder)
    if not os.access(folder, os.W_OK):
        raise OutputError('output folder %s is not writable; choose another folder' % folder)
    if os.path.isdir(path):
        raise OutputError('output %s is a folder; give a file name' % path)


def default_output_names(image: str, model: str, task: str = 'similarity') -> dict[str, str]:
    """File names for a run's outputs: ``<stem>.<model>.npz``, ``<stem>.<task>.anot`` and
    ``<stem>.<task>.png`` (``<stem>``: the image's name without its extension).

    Each adds a suffix to the stem, so none can be the image itself (``photo.png`` gives
    ``photo.similarity.png``) and they never equal each other.
    """
    stem = os.path.splitext(os.path.basename(os.path.normpath(image)))[0]
    return {'embeddings': '%s.%s.npz' % (stem, safe_name(model)),
            'annotation': '%s.%s.anot' % (stem, task), 'overlay': '%s.%s.png' % (stem, task),
            'table': '%s.%s.csv' % (stem, task)}


def parse_points(values: list[float] | None, name: str = 'key points') -> list[tuple[float, float]]:
    """The points of a Slicer ``region`` value, where only points make sense (a rectangle or a
    polygon there is an InputError)."""
    shapes = parse_shapes(values, name)
    if len(points_of(shapes)) != len(shapes):
        raise InputError('%s must be single points here; got %s' % (
            name, ', '.join(shape.kind for shape in shapes if not shape.is_point)))
    return points_of(shapes)


def check_points_inside(points: list[tuple[float, float]], width: int, height: int,
                        name: str = 'key point') -> None:
    for x, y in points:
        if not (np.isfinite(x) and np.isfinite(y)) or not (0 <= x < width and 0 <= y < height):
            raise InputError('%s (%g, %g) is outside the image (0..%d, 0..%d base pixels); '
                             'click on the slide' % (name, x, y, width - 1, height - 1))


