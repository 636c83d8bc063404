"""The cost of a cluster map from a cached grid, and KMeans against MiniBatchKMeans.

    python benchmarks/bench_clusters.py [--rows 300] [--cols 300] [--dim 768] [--k 6]

Uses the similarity benchmark's synthetic grid (6 tissue prototypes plus noise, a glass
border). Times, in one run: k-means with K given (KMeans, the rule below
``clusters.MINIBATCH_ABOVE`` cells, and MiniBatchKMeans, the rule above it) and how well each
recovers the 6 prototypes (adjusted Rand index); choosing K by silhouette; the annotation JSON
(choropleth + merged rectangles: element count and size); the CSV table; the PNG picture.
Prints a table and writes ``benchmarks/results/bench_clusters.json``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

import numpy as np
from bench_similarity import synthetic_grid
from results_file import save_report

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rows', type=int, default=300)
    parser.add_argument('--cols', type=int, default=300)
    parser.add_argument('--dim', type=int, default=768)
    parser.add_argument('--k', type=int, default=6)
    args = parser.parse_args()

    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.metrics import adjusted_rand_score

    from EmbeddingSimilarity.query import clusters
    from EmbeddingSimilarity.render.annotation import build_cluster_annotation, to_json
    from EmbeddingSimilarity.render.colours import cluster_colours
    from EmbeddingSimilarity.render.picture import cluster_picture

    data = synthetic_grid(args.rows, args.cols, args.dim)
    grid, valid = data.grid, data.embedded
    rows = []
    report: dict = {'rows': args.rows, 'cols': args.cols, 'dim': args.dim, 'k': args.k,
                    'tissue_cells': int(valid.sum())}

    def timed(label: str, func):
        start = time.perf_counter()
        value = func()
        seconds = time.perf_counter() - start
        rows.append((label, seconds))
        report[label] = seconds
        return value

    unit = timed('unit vectors', lambda: clusters.unit_vectors(data.embeddings, valid,
                                                                 data.norms))
    kinds = (np.arange(args.cols)[None, :] // max(1, args.cols // 6)
             + np.arange(args.rows)[:, None] // 97) % 6
    truth = kinds[valid]
    full = timed('KMeans (n_init=4)', lambda: KMeans(args.k, random_state=0, n_init=4)
                 .fit_predict(unit))
    mini = timed('MiniBatchKMeans (n_init=3)', lambda: MiniBatchKMeans(
        args.k, random_state=0, n_init=3, batch_size=4096).fit_predict(unit))
    report['ari_kmeans'] = float(adjusted_rand_score(truth, full))
    report['ari_minibatch'] = float(adjusted_rand_score(truth, mini))
    result = timed('cluster_grid (K given)', lambda: clusters.cluster_grid(
        data.embeddings, valid, args.k, norms=data.norms))
    chosen = timed('choose K by silhouette', lambda: clusters.choose_k(unit, 0))
    report['chosen_k'] = chosen[0]
    colours = cluster_colours(result.k)
    text = timed('annotation JSON', lambda: to_json(build_cluster_annotation(
        grid, result.labels, colours, 'bench', {'model': 'synthetic'})))
    report['annotation_bytes'] = len(text)
    report['annotation_rectangles'] = text.count('"rectangle"')
    with tempfile.TemporaryDirectory() as folder:
        timed('CSV table', lambda: clusters.write_table(os.path.join(folder, 't.csv'), grid,
                                                        result, data.tissue_fraction))
        report['table_bytes'] = os.path.getsize(os.path.join(folder, 't.csv'))
    thumb = np.full((1024, 1024, 3), 235, dtype=np.uint8)
    stats = clusters.cluster_stats(result, grid, 0.5)
    timed('PNG picture (1024 px)', lambda: cluster_picture(
        thumb, grid, result.labels, colours, ['%d %.1f%%' % (s.cluster, 100 * s.share)
                                              for s in stats], title='bench'))
    report['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print('%d x %d grid, %d tissue cells, %d dims, K=%d' % (
        args.rows, args.cols, report['tissue_cells'], args.dim, args.k))
    print('%-32s %10s' % ('step', 'seconds'))
    for label, seconds in rows:
        print('%-32s %10.3f' % (label, seconds))
    print('KMeans / MiniBatchKMeans time: %.1fx; adjusted Rand index %.3f vs %.3f' % (
        report['KMeans (n_init=4)'] / report['MiniBatchKMeans (n_init=3)'],
        report['ari_kmeans'], report['ari_minibatch']))
    print('chosen K %d; annotation %d rectangles, %.1f MB; table %.1f MB; peak RSS %.0f MB' % (
        report['chosen_k'], report['annotation_rectangles'], report['annotation_bytes'] / 1e6,
        report['table_bytes'] / 1e6, report['peak_rss_mb']))
    save_report('bench_clusters', report)


if __name__ == '__main__':
    main()
