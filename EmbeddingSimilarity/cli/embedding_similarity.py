"""The ``EmbeddingSimilarity`` flow, top to bottom:

``validate -> exemplars -> embed (plan, cache, engine; previews) -> score -> calibrate ->
annotation, hits -> publish (Girder, .anot, PNG)``.
"""

from __future__ import annotations

import logging

from .. import TOOL_ATTRIBUTE, __version__
from ..errors import InputError, for_admin
from ..girder.session import GirderLink
from ..progress import NullProgress, Progress
from ..query.calibration import shown
from ..query.cells import query_attributes, score
from ..render.annotation import check_display
from ..render.legend import scale_legend
from ..render.picture import similarity_picture
from ..steps import progressive
from ..steps.embed import Outcome, compute_embeddings
from ..steps.exemplars import exemplar_shapes
from ..steps.heatmap import calibrate_map, heatmap_document, key_elements
from ..steps.progressive import Previewer
from ..steps.publish import caption, publish, publish_hits
from ..steps.request import Request
from .request import validate

logger = logging.getLogger(__name__)

TASK = 'similarity'
"""The word this CLI's default output names carry (``<stem>.similarity.anot``)."""
ANNOTATION_NAME = 'Embedding similarity'


def check_something_asked(request: Request) -> None:
    """A Girder job with nothing clicked, drawn, typed or named would embed the slide and show
    nothing (HistomicsUI's Submit with an empty panel): refuse it before any work. Embeddings
    only stays possible outside Girder (``--keypoints -1,-1``, the default) and in a Girder job
    that keeps its files (``--keep-output-files true``, which writes the .npz)."""
    if request.has_query or not request.girder.api_url or request.outputs.keep_output_files:
        return
    raise InputError(for_admin(
        'nothing to look for: click a point or draw a region on the tissue, or type words, '
        'then Submit',
        'no --keypoints, --key-regions, --text-queries or --positive-annotations; a Girder job '
        'computes the embeddings only with --keep-output-files true'))


def run(request: Request, progress: Progress | None = None) -> Outcome:
    """The whole job: embeddings, then (with key points) the heatmap and its outputs."""
    progress = progress or NullProgress()
    colormap = validate(request)
    check_something_asked(request)
    girder = GirderLink.connect(request.girder.api_url, request.girder.token)
    request = exemplar_shapes(request, girder)
    preview = (Previewer(request, girder, colormap) if request.has_query and progressive.wanted(
        request.outputs.progressive, bool(request.girder.api_url)) else None)
    outcome = compute_embeddings(request, progress, girder, preview)
    if preview is not None and preview.annotation_id:  # the final map replaces the preview
        request = request.but(annotation_id=preview.annotation_id)
    if not request.has_query:
        logger.info('no key point given: embeddings only')
        if girder is not None and girder.error is not None:
            raise girder.error
        return outcome
    progress.start('similarity', comment='comparing cells to the key points')
    data = outcome.data
    result = outcome.similarity = score(request.query, data, request.tiling.tissue_threshold)
    check_display(request.render.display, data.grid, result.valid)
    scale = data.provenance.scale
    calibration = outcome.calibration = calibrate_map(request.query, data, result)
    attributes = dict(query_attributes(request.query, data, __version__),
                      calibration=calibration.attributes())
    outcome.annotation = heatmap_document(request, data, result, calibration, colormap)
    publish_hits(request, outcome, girder, attributes,
                 key_elements(request.query, data, result, calibration, colormap))
    title, ticks = scale_legend(result, request.query.scorer)
    view = shown(result, calibration)
    levels = outcome.annotation['attributes'][TOOL_ATTRIBUTE].get('contourLevels', [])

    def draw(thumb):
        return similarity_picture(
            thumb, data.grid, view.values, colormap, title=title, ticks=ticks,
            display=request.render.display, levels=[(lv['value'], lv['label']) for lv in levels],
            points=request.query.keypoints, cutoff=view.cutoff,
            cutoff_label=calibration.headline(),
            regions=[shape.vertices for shape in request.query.key_regions],
            negative_regions=[shape.vertices for shape in request.query.negative_regions],
            slide_mpp=scale.slide_mpp if scale else None, caption=caption(data.provenance))
    publish(request, outcome, girder, progress, draw)
    return outcome
