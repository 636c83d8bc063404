"""The heatmap document, built by one function for the final map and every preview: the
calibration (the one cut-off, :mod:`..query.calibration`), the map as shown (coloured from the
cut-off up), and the annotation named for what it shows.
"""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..cache.interop import source_note
from ..cache.store import EmbeddingGrid
from ..query.calibration import Calibration, calibrate, shown
from ..query.cells import key_shapes, query_attributes, query_description
from ..query.options import QueryOptions
from ..query.similarity import SimilarityMap
from ..render.annotation import build_annotation
from ..render.colours import Colormap
from ..render.legend import colour_key, contour_levels

DEFAULT_NAME = 'Embedding similarity'


def plain_cosine(query: QueryOptions) -> bool:
    """Whether the scores are plain cosines to image cells (so the random-pair baseline of
    tissue cosines floors the cut-off): prototype scorer, no negatives, prompts or window."""
    _, negatives = key_shapes(query)
    return (query.scorer == 'prototype' and not negatives and query.aggregation <= 1
            and not query.text_queries.strip() and not query.negative_text_queries.strip())


def calibrate_map(query: QueryOptions, data: EmbeddingGrid, result: SimilarityMap
                  ) -> Calibration:
    """The run's one cut-off and its hits (random pairs drawn from embedded cells only, so a
    preview's filled-in cells do not count)."""
    scale = data.provenance.scale
    return calibrate(result.similarity, data.embeddings, data.grid,
                     scale.slide_mpp if scale else None, query.seed,
                     key_cells=result.keypoint_cells, plain_cosine=plain_cosine(query),
                     baseline_cells=data.embedded,
                     floor=query.threshold if query.threshold > 0 else float('-inf'))


def what_is_asked(query: QueryOptions, name: str) -> str:
    """``name``, or for the default name what the map shows ("Similar to 2 points")."""
    if name and name != DEFAULT_NAME:
        return name
    positives, _ = key_shapes(query)
    points = sum(1 for shape in positives if shape.is_point)
    regions = len(positives) - points
    parts = ['%d point%s' % (points, '' if points == 1 else 's')] if points else []
    if regions:
        parts.append('%d region%s' % (regions, '' if regions == 1 else 's'))
    if query.text_queries.strip():
        parts.append('"%s"' % query.text_queries.strip())
    return 'Similar to %s' % (' + '.join(parts) or 'the key shapes')


def layer_names(query: QueryOptions, data: EmbeddingGrid, name: str,
                calibration: Calibration) -> tuple[str, str]:
    """The heatmap's and the hits' annotation names: what was asked, and the hits' cut-off,
    regions and share, each with the model (one heatmap and one hits layer per model)."""
    model = data.provenance.model.name
    return ('%s · %s' % (what_is_asked(query, name), model),
            '%s · %s' % (calibration.headline(), model))


def heatmap_document(request: Any, data: EmbeddingGrid, result: SimilarityMap,
                     calibration: Calibration, colormap: Colormap, note: str = '') -> dict:
    """The heatmap annotation of ``result`` as calibrated; ``note`` leads its description (a
    preview says so)."""
    query = request.query
    view = shown(result, calibration)
    display = request.render.display
    levels = (contour_levels(view.values, view.valid, view.cutoff) if display == 'contour'
              else [])
    attributes = dict(query_attributes(query, data, __version__),
                      calibration=calibration.attributes())
    annotation = build_annotation(
        data.grid, view, None, layer_names(query, data, request.render.annotation_name,
                                           calibration)[0],
        attributes, colormap=colormap, display=display, levels=levels)
    annotation['description'] = ' '.join(
        part for part in (note, query_description(query, result), calibration.description(),
                          source_note(data)) if part)
    return annotation


def key_elements(query: QueryOptions, data: EmbeddingGrid, result: SimilarityMap,
                 calibration: Calibration, colormap: Colormap) -> list[dict]:
    """The heatmap's colour key (labelled swatches beside the slide), which goes into the hits
    annotation: HistomicsUI draws a heatmap only in an annotation that holds nothing else."""
    return colour_key(data.grid, shown(result, calibration), colormap, query.scorer)
