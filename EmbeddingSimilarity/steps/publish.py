"""What a run hands to people: its annotation posted to the image in Girder (updated in place)
or written to the ``.anot`` output, and its PNG picture. Shared by every CLI.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import HITS_TOOL_ATTRIBUTE, TOOL_ATTRIBUTE
from ..atomic import write_bytes
from ..cache.provenance import Provenance
from ..errors import GirderError, GirderUnreachable
from ..girder.session import GirderLink, publish_annotation
from ..progress import Progress
from ..query.calibration import write_return_parameters
from ..query.hits import build_hits_annotation
from ..render.annotation import to_json
from ..render.overlay import overlay_size, write_png
from ..slide.source import thumbnail
from .request import Request

logger = logging.getLogger(__name__)


def writes_copy(request: Request, in_girder: bool, what: str, path: str) -> bool:
    """Whether to write the output ``path`` that copies what Girder now holds (``in_girder``).

    HistomicsUI names every output file of a panel, so each click would otherwise upload
    another copy of the cache (hundreds of MB on a real slide), the annotations and the picture
    into the user's Private folder; Slicer CLI Web uploads an optional output only when the job
    wrote it. ``--keep-output-files true`` writes them all, and without Girder (or when Girder
    failed to take the result) they are always written.
    """
    if not path:
        return False
    if in_girder and not request.outputs.keep_output_files:
        _tell_once(request)
        logger.debug('not writing %s: %s', path, what)
        return False
    return True


_TOLD: list[weakref.ref] = []
"""The runs already told that copies are skipped, by their query record: a run's previews copy
its request with other outputs (:meth:`~.request.Request.but`), never with another query."""


def _tell_once(request: Request) -> None:
    """One line per run, not one per output file or preview, in a job log a pathologist may
    read."""
    query = request.query
    if any(ref() is query for ref in _TOLD):
        return
    _TOLD[:] = [ref for ref in _TOLD if ref() is not None] + [weakref.ref(query)]
    logger.info('not writing output files that copy what Girder holds (the embeddings, the '
                'annotations, the picture); "Keep these files as well" '
                '(--keep-output-files true) writes them')


def caption(provenance: Provenance) -> str:
    """One line under a picture: the model, the grid and the image."""
    grid, scale = provenance.grid, provenance.scale
    size = (' (%.0f µm)' % (grid.stride_base * scale.slide_mpp)
            if scale is not None and scale.slide_mpp else '')
    return 'Model %s · grid %d x %d cells of %d px every %d px%s · %s' % (
        provenance.model.name, grid.rows, grid.cols, grid.tile, grid.stride, size,
        provenance.image.name)


def publish(request: Request, outcome: Any, girder: GirderLink | None, progress: Progress,
            draw: Callable[[np.ndarray], np.ndarray], tool: str = TOOL_ATTRIBUTE,
            picture_always: bool = False) -> None:
    """Post ``outcome.annotation``, write the ``.anot`` and the picture ``draw(thumbnail)``;
    a Girder error is raised once the files are written. ``picture_always``: the picture is
    written even when the annotation is posted (the cluster map's legend, its shares and
    areas, is only in the picture)."""
    girder_error = _post(request, outcome, girder, progress, tool)
    outputs = request.outputs
    posted = bool(outcome.annotation_id)
    if writes_copy(request, posted, 'the annotation is on the slide', outputs.output_annotation):
        # A HistomicsUI server ingests an uploaded *AnnotationFile output as a new annotation;
        # when this run has already posted (or updated) it, the file holds an empty list so the
        # annotation is not added twice.
        body = '[]' if posted else to_json(outcome.annotation)
        write_bytes(outputs.output_annotation, body)
        outcome.files.append(outputs.output_annotation)
    if writes_copy(request, posted and not picture_always,
                   'the viewer shows the map on the slide', outputs.output_overlay):
        progress.start('overlay', comment='drawing the PNG picture')
        thumb = thumbnail(outcome.source,
                          *overlay_size(outcome.data.grid, request.render.picture_size))
        write_png(outputs.output_overlay, draw(thumb))
        outcome.files.append(outputs.output_overlay)
    progress.end()
    if girder_error is not None:
        raise girder_error


def _post(request: Request, outcome: Any, girder: GirderLink | None, progress: Progress,
          tool: str) -> GirderError | None:
    """Post the annotation to the image in Girder; the error to raise once files are written."""
    if girder is None:
        return None
    if girder.session is None:
        return girder.error
    if not (request.girder.image_id or request.girder.annotation_id):
        logger.info('no image id (--image-id): the annotation is written to the annotation '
                    'output, which HistomicsUI ingests, instead of being posted')
        return None
    progress.start('publish', comment='posting the annotation to Girder')
    try:
        outcome.annotation_id = publish_annotation(
            girder.session, outcome.annotation, request.girder.image_id,
            request.girder.annotation_id, tool)
    except GirderError as exc:
        if isinstance(exc, GirderUnreachable):
            girder.lost(exc)  # the hits and any later call fail at once, not after a timeout
        return exc
    return None


def publish_hits(request: Request, outcome: Any, girder: GirderLink | None,
                 attributes: dict, key: list[dict] | None = None) -> None:
    """The hit polygons: posted as a second annotation (named after the heatmap, updated in
    place) and written to ``--output-hits``; the simple outputs to the return parameter file.
    A Girder error here is logged: the heatmap's own post reports the connection. ``key``:
    the heatmap's colour key, shown with the hits."""
    calibration, data = outcome.calibration, outcome.data
    scale = data.provenance.scale
    name = '%s · %s' % (calibration.headline(), data.provenance.model.name)
    hits = build_hits_annotation(data.grid, calibration.hits, scale.slide_mpp if scale else None,
                                 name, calibration.description(),
                                 {HITS_TOOL_ATTRIBUTE: dict(attributes)},
                                 outcome.similarity.similarity)
    hits['elements'].extend(key or [])
    posted = None
    if girder is not None and girder.session is not None and request.girder.image_id:
        try:
            posted = publish_annotation(girder.session, hits, request.girder.image_id, '',
                                        HITS_TOOL_ATTRIBUTE)
        except GirderError as exc:
            logger.warning('the hit polygons were not posted: %s', exc)
    if writes_copy(request, bool(posted), 'the hit polygons are on the slide',
                   request.outputs.output_hits):
        write_bytes(request.outputs.output_hits, '[]' if posted else to_json(hits))
        outcome.files.append(request.outputs.output_hits)
    if request.outputs.return_parameter_file:
        write_return_parameters(request.outputs.return_parameter_file, calibration.outputs())
