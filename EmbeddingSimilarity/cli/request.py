"""Validation of a run's request: the checks that run before any slide or model is touched, so a
bad parameter costs nothing, and the parsing of Slicer point values.

The request itself (:class:`~..steps.request.Request`) is records owned by the rooms; the rules
for what a CLI accepts live here, at the door.
"""

from __future__ import annotations

import math
import os
import urllib.parse

import numpy as np

from ..engine.distributed import check_scheduler
from ..errors import InputError, redact
from ..girder.options import GIRDER_ID
from ..girder.transport import girder_timeouts
from ..models.spec import LAYOUTS, POOLING_RULES
from ..query.clusters import MAX_CLUSTERS, MIN_CLUSTERS
from ..query.shapes import parse_shapes, points_of
from ..query.similarity import check_options
from ..render.colours import Colormap, parse_colormap, parse_colour
from ..render.overlay import DISPLAYS
from ..steps.request import Request
from .paths import check_image, check_output_path, check_paths, check_readable_file

PROGRESSIVE = ('auto', 'true', 'false')
MPP_RANGE = (0.02, 100.0)
"""Accepted --mpp values (besides 0): a 40x scan's pixel to a 100 µm overview."""
SCORERS = ('prototype', 'linear')
MAGNIFICATION_RANGE = (0.1, 500.0)
"""Accepted --magnification values (besides 0), the same range as objective powers."""


def validate(request: Request) -> Colormap:
    """Check the plain parameters before any slide or model is touched; the colour map."""
    engine, tiling, query, render = request.engine, request.tiling, request.query, request.render
    if engine.batch_size < 1 or engine.batch_size > 4096:
        raise InputError('batch size %d is out of range; use 1 to 4096 (32 suits a CPU, 128+ a '
                         'GPU)' % engine.batch_size)
    if tiling.tile_size < 0 or tiling.stride < 0:
        raise InputError('tile size and stride must be positive pixel counts (0 = the model\'s '
                         'default); got %d and %d' % (tiling.tile_size, tiling.stride))
    for name, value, (low, high), unit in (
            ('µm per pixel', tiling.mpp, MPP_RANGE, ' µm/px'),
            ('magnification', tiling.magnification, MAGNIFICATION_RANGE, 'x')):
        if not np.isfinite(value) or (value and not low <= value <= high) or value < 0:
            raise InputError('%s %g is outside %g%s to %g%s; use a value in that range, or 0 '
                             'for the model\'s own scale' % (name, value, low, unit, high, unit))
    if not 0.0 <= tiling.tissue_threshold <= 1.0:
        raise InputError('tissue threshold %g is outside [0, 1]; it is the share of a cell that '
                         'must be tissue (0 embeds every cell)' % tiling.tissue_threshold)
    check_options(query.threshold, query.aggregation, query.scaling)
    if query.scorer not in SCORERS:
        raise InputError('unknown scorer %r; use one of %s' % (query.scorer, ', '.join(SCORERS)))
    if engine.pooling and engine.pooling not in POOLING_RULES:
        raise InputError('unknown pooling %r; use one of %s' % (engine.pooling,
                                                               ', '.join(POOLING_RULES)))
    if not 64 <= render.picture_size <= 8192:
        raise InputError('picture size %d is out of range; use 64 to 8192 pixels'
                         % render.picture_size)
    if engine.layout not in LAYOUTS:
        raise InputError('unknown layout %r; use %s' % (engine.layout, ', '.join(LAYOUTS)))
    if request.outputs.progressive not in PROGRESSIVE:
        raise InputError('unknown progressive value %r; use %s' % (
            request.outputs.progressive, ', '.join(PROGRESSIVE)))
    if engine.reader_threads < 1 or engine.reader_threads > 64:
        raise InputError('reader threads %d must be between 1 and 64' % engine.reader_threads)
    _check_connection(request)
    if render.display not in DISPLAYS:
        raise InputError('unknown display %r; use one of %s' % (render.display,
                                                               ', '.join(DISPLAYS)))
    if not 0 <= query.seed < 2 ** 32:
        raise InputError('seed %d is out of range; use 0 to %d' % (query.seed, 2 ** 32 - 1))
    if query.clusters and not MIN_CLUSTERS <= query.clusters <= MAX_CLUSTERS:
        raise InputError('--clusters %d is out of range; use %d to %d, or 0 to choose K by '
                         'silhouette' % (query.clusters, MIN_CLUSTERS, MAX_CLUSTERS))
    check_files(request)
    if query.has_text:
        check_text(request)
    if query.label_prompts.strip():
        from ..models import get_spec
        from ..models.text import check_text_tower, split_prompts

        split_prompts(query.label_prompts, '--label-prompts')
        check_text_tower(get_spec(engine.model, engine.pooling or None, engine.trust_remote_code))
    return parse_colormap(render.colormap, parse_colour(render.colour))


def check_text(request: Request) -> None:
    """Prompts that are not empty, for a model with a text tower (before any slide is read)."""
    from ..models import get_spec
    from ..models.text import check_text_tower, split_prompts

    positives = split_prompts(request.query.text_queries)
    split_prompts(request.query.negative_text_queries, '--negative-text-queries')
    if not positives and not request.query.has_shapes:
        raise InputError('--negative-text-queries needs a positive query: add --text-queries or '
                         'key points')
    if request.query.scorer == 'linear':
        raise InputError('--scorer linear learns from cells, not words; use --scorer prototype '
                         'with text queries')
    check_text_tower(get_spec(request.engine.model, request.engine.pooling or None,
                              request.engine.trust_remote_code))


def _check_connection(request: Request) -> None:
    """Girder address, token and ids, the Dask scheduler and the checkpoint interval."""
    for option, value in (('--image-id', request.girder.image_id),
                          ('--annotation-id', request.girder.annotation_id)):
        if value and not GIRDER_ID.fullmatch(value):
            raise InputError('%s %r is not a Girder id (24 hexadecimal characters); copy the '
                             'id from the item\'s page or leave it empty' % (option, value))
    if bool(request.girder.api_url) != bool(request.girder.token):
        raise InputError('posting to Girder needs both --api-url and --girder-token')
    check_api_url(request.girder.api_url)
    token = request.girder.token
    if token and (token != token.strip() or not token.isprintable()):
        raise InputError('--girder-token holds a space, line break or control character; copy '
                         'the token again without it')  # the token itself is never printed
    if request.girder.api_url:
        girder_timeouts()
    check_scheduler(request.scale_out.scheduler)
    seconds = request.outputs.checkpoint_seconds
    if not math.isfinite(seconds) or seconds < 0:
        raise InputError('checkpoint interval %g s must be a finite number, 0 or more' % seconds)


def check_files(request: Request) -> None:
    """The inputs are readable files and no output would replace an input or another output."""
    check_image(request.image)
    given = request.outputs.input_embeddings
    if given and not (given.rstrip(os.sep).endswith('.zarr') and os.path.isdir(given)):
        check_readable_file(given, 'embedding file')  # a LazySlide .zarr is a folder
    for path in request.output_paths:
        check_output_path(path)
    check_paths(request.image, [request.outputs.input_embeddings], request.output_options())


def check_api_url(url: str) -> None:
    """A Girder API URL has an http(s) scheme and a host (checked before minutes of work)."""
    if not url:
        return
    shown = redact(url) if url.isprintable() else repr(redact(url))
    wrong = 'Girder API URL %s is not an http(s) URL with a host' % shown
    advice = '; use e.g. http://localhost:8080/api/v1'
    if not url.isprintable() or url != url.strip():
        raise InputError(wrong + ' (it holds a space, line break or control character)' + advice)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:  # an unclosed [IPv6 bracket, a port out of 0..65535
        raise InputError('%s (%s)%s' % (wrong, exc, advice)) from None
    if parts.scheme not in ('http', 'https') or not parts.hostname or port == 0:
        raise InputError(wrong + advice)


def parse_points(values: list[float] | None, name: str = 'key points') -> list[tuple[float, float]]:
    """The points of a Slicer ``region`` value, where only points make sense (a rectangle or a
    polygon there is an InputError)."""
    shapes = parse_shapes(values, name)
    if len(points_of(shapes)) != len(shapes):
        raise InputError('%s must be single points here; got %s' % (
            name, ', '.join(shape.kind for shape in shapes if not shape.is_point)))
    return points_of(shapes)
