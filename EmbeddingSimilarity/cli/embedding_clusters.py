"""The ``EmbeddingClusters`` run: a tissue map without a click.

``plan -> reuse a cache or embed -> k-means map -> table, annotation, picture``, with the same
cache, Girder connection and publishing as ``EmbeddingSimilarity``.
"""

from __future__ import annotations

import logging

import numpy as np

from .. import CLUSTER_TOOL_ATTRIBUTE, __version__
from ..cache.interop import source_note
from ..girder.session import GirderLink
from ..models.text import split_prompts
from ..progress import NullProgress, Progress
from ..query.cells import grid_prompt_vectors, valid_cells
from ..query.clusters import (
    ClusterMap,
    check_clusters,
    cluster_grid,
    cluster_stats,
    prompt_labels,
    write_table,
)
from ..render.annotation import build_cluster_annotation, cluster_name
from ..render.colours import cluster_colours
from ..render.picture import cluster_picture
from ..steps.embed import Outcome, compute_embeddings
from ..steps.publish import caption, publish
from ..steps.request import Request
from .request import validate

logger = logging.getLogger(__name__)

TASK = 'clusters'
"""The word this CLI's default output names carry (``<stem>.clusters.anot``)."""
ANNOTATION_NAME = 'Embedding clusters'


def run(request: Request, progress: Progress | None = None) -> Outcome:
    """Embed (or reuse) the grid, cluster its tissue cells, and write and post the map."""
    progress = progress or NullProgress()
    validate(request)
    girder = GirderLink.connect(request.girder.api_url, request.girder.token)
    outcome = compute_embeddings(request, progress, girder)
    data = outcome.data
    valid = valid_cells(data, request.query, request.tiling.tissue_threshold)
    check_clusters(request.query.clusters, int(valid.sum()))
    progress.start('clusters', comment='clustering %d tissue cells' % int(valid.sum()))
    clusters = cluster_grid(data.embeddings, valid, request.query.clusters, request.query.seed,
                            data.norms)
    outcome.clusters = clusters
    logger.info('%d clusters (%s)', clusters.k, 'chosen by silhouette'
                if clusters.chosen_by == 'silhouette' else 'as asked')
    if request.outputs.output_table:
        write_table(request.outputs.output_table, data.grid, clusters, data.tissue_fraction)
        outcome.files.append(request.outputs.output_table)
    labels = _labels(request, data, clusters)
    colours = cluster_colours(clusters.k)
    scale = data.provenance.scale
    slide_mpp = scale.slide_mpp if scale else None
    stats = cluster_stats(clusters, data.grid, slide_mpp)
    shares = {s.cluster: s.share for s in stats}
    names = ([cluster_name(i, shares.get(i, 0.0)) for i in range(clusters.k)] if not labels else
             ['%s: %s (margin %+.3f)' % (cluster_name(i, shares.get(i, 0.0)), prompt, margin)
              for i, (prompt, _, margin) in enumerate(labels)])
    outcome.annotation = build_cluster_annotation(
        data.grid, clusters.labels, colours, request.render.annotation_name,
        _attributes(request, outcome, clusters, stats), names=names)
    outcome.annotation['description'] = ' '.join(filter(None, (
        outcome.annotation['description'], source_note(data))))

    def draw(thumb: np.ndarray) -> np.ndarray:
        entries = ['%d   %4.1f%%%s' % (s.cluster, 100 * s.share, '   %.2f mm²' % s.area_mm2
                                       if s.area_mm2 is not None else '') for s in stats]
        title = 'k-means clusters (K=%d%s): share of tissue%s' % (
            clusters.k, ', by silhouette' if clusters.chosen_by == 'silhouette' else '',
            ', area' if slide_mpp else '')
        if labels:  # the legend is narrow: the name, its margin and the share
            entries = ['%d %s %+.2f %2.0f%%' % (s.cluster, labels[s.cluster][0][:11],
                                                labels[s.cluster][2], 100 * s.share)
                       for s in stats]
            title = 'k-means clusters (K=%d), named by the closest prompt: margin over the ' \
                    'next, share of tissue' % clusters.k
        return cluster_picture(thumb, data.grid, clusters.labels, colours, entries, title=title,
                               slide_mpp=slide_mpp, caption=caption(data.provenance))
    publish(request, outcome, girder, progress, draw, tool=CLUSTER_TOOL_ATTRIBUTE,
            picture_always=True)
    return outcome


def _labels(request: Request, data, clusters: ClusterMap) -> list[tuple[str, float, float]]:
    """With --label-prompts: each cluster's closest prompt, cosine and margin (zero-shot)."""
    prompts = split_prompts(request.query.label_prompts, '--label-prompts')
    if not prompts:
        return []
    return prompt_labels(clusters.centres, grid_prompt_vectors(data, prompts), prompts)


def _attributes(request: Request, outcome: Outcome, clusters: ClusterMap, stats: list) -> dict:
    """What the annotation records (read back by the next run and by people)."""
    provenance = outcome.data.provenance
    return {'model': provenance.model.name, 'version': __version__, 'k': clusters.k,
            'chosenBy': clusters.chosen_by, 'seed': clusters.seed,
            'silhouettes': {str(k): v for k, v in clusters.silhouettes.items()},
            'shares': [s.share for s in stats], 'areasMm2': [s.area_mm2 for s in stats],
            'tissueThreshold': request.tiling.tissue_threshold,
            'imageFingerprint': provenance.image.fingerprint}
