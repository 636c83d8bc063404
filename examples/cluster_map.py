"""A cluster map (and optionally a heatmap picture) of one slide, from the building blocks.

This is what the ``EmbeddingClusters`` CLI does, written out until the CLI is wired in::

    python examples/cluster_map.py tests/data/cmu_small_region.svs --clusters 4 \\
        --output-table sample-output/clusters.csv --output-annotation sample-output/clusters.anot \\
        --output-overlay docs/cluster_map.png

``--keypoint X,Y --heatmap-overlay FILE.png`` also draws the similarity heatmap to that point
with ``--colormap`` and ``--display``. The embeddings are cached next to the outputs
(``--embeddings``), so a second run does not embed again.
"""

from __future__ import annotations

import argparse
import os
import sys

from EmbeddingSimilarity.annotation import (
    build_cluster_annotation,
    check_display,
    contour_levels,
    scale_legend,
    to_json,
)
from EmbeddingSimilarity.atomic import write_bytes
from EmbeddingSimilarity.clusters import cluster_grid, cluster_stats, write_table
from EmbeddingSimilarity.colours import cluster_colours, parse_colormap, parse_colour
from EmbeddingSimilarity.errors import InputError, UserError
from EmbeddingSimilarity.overlay import DISPLAYS, overlay_size, write_png
from EmbeddingSimilarity.picture import cluster_picture, similarity_picture
from EmbeddingSimilarity.pipeline import compute_embeddings
from EmbeddingSimilarity.query import valid_cells
from EmbeddingSimilarity.request import Request, parse_points
from EmbeddingSimilarity.similarity import compute
from EmbeddingSimilarity.slide import thumbnail


def caption(data) -> str:
    grid, scale = data.grid, data.meta['scale']
    size = (' (%.0f µm)' % (grid.stride_base * scale['slide_mpp'])
            if scale.get('slide_mpp') else '')
    return 'Model %s · grid %d x %d cells of %d px every %d px%s · %s' % (
        data.meta['model']['name'], grid.rows, grid.cols, grid.tile, grid.stride, size,
        data.meta['image']['name'])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('image')
    parser.add_argument('--clusters', type=int, default=0, help='K (0 = choose by silhouette)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--model', default='efficientnet-lite0')
    parser.add_argument('--tissue-threshold', type=float, default=0.1)
    parser.add_argument('--embeddings', default='', help='embedding cache (.npz) to use/write')
    parser.add_argument('--output-table', default='')
    parser.add_argument('--output-annotation', default='')
    parser.add_argument('--output-overlay', default='')
    parser.add_argument('--max-side', type=int, default=640, help='picture size (pixels)')
    parser.add_argument('--png-colours', type=int, default=0,
                        help='store the PNGs with this many palette colours (0 = full colour)')
    parser.add_argument('--keypoint', default='', help='X,Y for the heatmap picture')
    parser.add_argument('--colormap', default='viridis')
    parser.add_argument('--color', default='#ffff00', help='the colour of --colormap single')
    parser.add_argument('--display', default='heatmap', choices=DISPLAYS)
    parser.add_argument('--heatmap-overlay', default='')
    args = parser.parse_args(argv)
    try:
        colormap = parse_colormap(args.colormap, parse_colour(args.color))
        request = Request(image=args.image, model=args.model,
                          tissue_threshold=args.tissue_threshold,
                          input_embeddings=args.embeddings if os.path.exists(args.embeddings)
                          else '', output_embeddings=args.embeddings)
        outcome = compute_embeddings(request)
        data, grid = outcome.data, outcome.data.grid
        valid = valid_cells(data, request)
        slide_mpp = data.meta['scale'].get('slide_mpp')
        clusters = cluster_grid(data.embeddings, valid, args.clusters, args.seed, data.norms)
        colours = cluster_colours(clusters.k)
        stats = cluster_stats(clusters, grid, slide_mpp)
        print('K = %d (%s)' % (clusters.k, clusters.chosen_by))
        if args.output_table:
            write_table(args.output_table, grid, clusters, data.tissue_fraction)
        attributes = {'model': data.meta['model']['name'], 'k': clusters.k,
                      'chosenBy': clusters.chosen_by, 'seed': clusters.seed,
                      'silhouettes': {str(k): v for k, v in clusters.silhouettes.items()},
                      'shares': [s.share for s in stats],
                      'areasMm2': [s.area_mm2 for s in stats],
                      'imageFingerprint': data.meta['image']['fingerprint']}
        if args.output_annotation:
            doc = build_cluster_annotation(grid, clusters.labels, colours, 'Embedding clusters',
                                           attributes)
            write_bytes(args.output_annotation, to_json(doc))
        thumb = None
        if args.output_overlay or args.heatmap_overlay:
            thumb = thumbnail(outcome.source, *overlay_size(grid, args.max_side))
        if args.output_overlay:
            entries = ['%d   %4.1f%%%s' % (s.cluster, 100 * s.share, '   %.2f mm²' % s.area_mm2
                                           if s.area_mm2 is not None else '') for s in stats]
            title = 'k-means clusters (K=%d%s): share of tissue%s' % (
                clusters.k, ', by silhouette' if clusters.chosen_by == 'silhouette' else '',
                ', area' if slide_mpp else '')
            write_png(args.output_overlay, cluster_picture(
                thumb, grid, clusters.labels, colours, entries, title=title,
                slide_mpp=slide_mpp, caption=caption(data)), args.png_colours)
        if args.heatmap_overlay:
            points = parse_points(args.keypoint.split(',') if args.keypoint else [])
            if len(points) != 1:
                raise InputError('--heatmap-overlay needs one --keypoint X,Y')
            point = points[0]
            result = compute(data.embeddings, valid, grid, [point], norms=data.norms)
            check_display(args.display, grid, result.valid)
            levels = (contour_levels(result.values, result.valid)
                      if args.display == 'contour' else [])
            title, ticks = scale_legend(result)
            write_png(args.heatmap_overlay, similarity_picture(
                thumb, grid, result.values, colormap, title=title, ticks=ticks,
                display=args.display, levels=levels, points=[point], slide_mpp=slide_mpp,
                caption=caption(data)), args.png_colours)
    except UserError as exc:
        print('cluster_map: error: %s' % exc, file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == '__main__':
    sys.exit(main())
