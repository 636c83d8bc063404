"""The interactive loop's cost: one similarity query from a cached grid to annotation JSON.

    python benchmarks/bench_similarity.py [--rows 1000] [--cols 1000] [--dim 1536]

Builds a synthetic ``rows x cols x dim`` float16 grid with tissue-like structure (a few
"tissue types" plus noise, a glass border), saves it as the tool's ``.npz``, then times, in one
run: loading the ``.npz``, the similarity map (cosine, 3x3 aggregation, scaling) and the
annotation JSON. It also compares the size of our ``griddata`` element with a point-list
``heatmap`` element holding the same values. Prints a table and writes
``benchmarks/results/bench_similarity.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import numpy as np
from results_file import save_report  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def synthetic_grid(rows: int, cols: int, dim: int, seed: int = 0):
    """Cells drawn from 6 tissue prototypes plus noise, in row bands; a glass border."""
    from EmbeddingSimilarity import store
    from EmbeddingSimilarity.tiling import plan_grid

    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((6, dim)).astype(np.float32)
    grid = plan_grid(cols * 224, rows * 224, 224, 224, 1.0)
    embeddings = np.empty((rows, cols, dim), dtype=np.float16)
    kinds = (np.arange(cols)[None, :] // max(1, cols // 6) + np.arange(rows)[:, None] // 97) % 6
    for row in range(rows):
        noise = rng.standard_normal((cols, dim), dtype=np.float32) * 0.8
        embeddings[row] = prototypes[kinds[row]] + noise
    embedded = np.ones((rows, cols), dtype=bool)
    border = max(1, rows // 20)
    embedded[:border] = embedded[-border:] = False
    embedded[:, :border] = embedded[:, -border:] = False
    embeddings[~embedded] = 0
    fraction = embedded.astype(np.float32)
    meta = {'grid': grid.to_dict(), 'model': {'name': 'synthetic', 'embed_dim': dim,
                                              'pooling': 'cls'},
            'image': {'name': 'synthetic', 'fingerprint': 'sha256:synthetic'},
            'scale': {'mpp': 0.5, 'magnification': 20.0}, 'complete': True}
    return store.EmbeddingGrid(embeddings, embedded, fraction, meta)


def heatmap_points_json(grid, values: np.ndarray) -> str:
    """The same values as a point-list ``heatmap`` element (one [x, y, 0, v] per nonzero cell)."""
    rows, cols = np.nonzero(values > 0)
    ox, oy = grid.origin
    xs = ox + cols * grid.stride_base
    ys = oy + rows * grid.stride_base
    points = [[float(x), float(y), 0, round(float(v), 4)]
              for x, y, v in zip(xs, ys, values[rows, cols], strict=True)]
    element = {'type': 'heatmap', 'points': points, 'radius': grid.stride_base * 0.75,
               'scaleWithZoom': True, 'rangeValues': [0, 0.5, 1],
               'colorRange': ['rgba(255, 255, 0, 0)', 'rgba(255, 255, 0, 0.5)',
                              'rgba(255, 255, 0, 1)']}
    return json.dumps({'name': 'x', 'elements': [element]}, allow_nan=False,
                      separators=(',', ':'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rows', type=int, default=1000)
    parser.add_argument('--cols', type=int, default=1000)
    parser.add_argument('--dim', type=int, default=1536)
    parser.add_argument('--work', default=tempfile.gettempdir())
    args = parser.parse_args()

    started = time.perf_counter()
    import torch  # noqa: F401 (every run pays this once; timed apart from the query)

    from EmbeddingSimilarity import store
    from EmbeddingSimilarity.annotation import build_annotation, to_json
    from EmbeddingSimilarity.colours import parse_colour
    from EmbeddingSimilarity.similarity import compute

    import_seconds = time.perf_counter() - started

    path = os.path.join(args.work, 'bench_similarity_%dx%dx%d.npz' % (args.rows, args.cols,
                                                                       args.dim))
    if not os.path.exists(path):
        started = time.perf_counter()
        store.save(path, synthetic_grid(args.rows, args.cols, args.dim))
        print('built %s in %.1f s' % (path, time.perf_counter() - started))
    size_npz = os.path.getsize(path)

    timings = {}
    started = time.perf_counter()
    data = store.load(path)
    timings['load .npz'] = time.perf_counter() - started
    grid = data.grid
    points = [grid.cell_center(args.rows // 2, args.cols // 3)]
    started = time.perf_counter()
    result = compute(data.embeddings, data.embedded, grid, points, aggregation=3,
                     scaling='quantile', norms=data.norms)
    timings['similarity (cosine, 3x3 mean, quantiles)'] = time.perf_counter() - started
    started = time.perf_counter()
    annotation = build_annotation(grid, result, parse_colour('#ffff00'), 'bench',
                                  {'model': 'synthetic'})
    body = to_json(annotation)
    timings['annotation JSON'] = time.perf_counter() - started
    timings['total query'] = sum(timings.values())
    started = time.perf_counter()
    heatmap_body = heatmap_points_json(grid, result.values)
    heatmap_seconds = time.perf_counter() - started

    report = {
        'grid': [args.rows, args.cols, args.dim], 'npz_bytes': size_npz,
        'seconds': timings, 'import_seconds': import_seconds,
        'griddata_json_bytes': len(body.encode()),
        'heatmap_points_json_bytes': len(heatmap_body.encode()),
        'heatmap_points_json_seconds': heatmap_seconds,
        'size_ratio_heatmap_over_griddata': len(heatmap_body) / len(body),
        'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print('\nSimilarity query on a %d x %d grid, D = %d (.npz %.2f GB)' % (
        args.rows, args.cols, args.dim, size_npz / 1e9))
    for stage, seconds in timings.items():
        print('  %-42s %7.2f s' % (stage, seconds))
    print('  (importing torch and the package, once per run: %.2f s)' % import_seconds)
    print('  griddata element JSON      %9.2f MB' % (report['griddata_json_bytes'] / 1e6))
    print('  point-list heatmap JSON    %9.2f MB  (%.1fx larger)' % (
        report['heatmap_points_json_bytes'] / 1e6, report['size_ratio_heatmap_over_griddata']))
    print('  peak RSS                   %9.0f MiB' % report['peak_rss_mib'])
    save_report('bench_similarity', report)


if __name__ == '__main__':
    main()
