"""The interactive loop's cost: one similarity query from a cached grid to annotation JSON.

    python benchmarks/bench_similarity.py [--rows 1000] [--cols 1000] [--dim 1536] [--keep]

Measured in one run and saved to ``benchmarks/results/bench_similarity.json``:

* the cached click as whole processes, side by side with a plain reimplementation of the
  reference's (``reference_click.py``: ``np.load``, cosine, JSON), wall seconds and peak RSS,
  median of several alternating runs, and their ratios (:mod:`click_side_by_side`): on the
  sample slide (``Test`` and ``efficientnet-lite0`` caches made first) and on the synthetic grid
  below (a stand-in slide file carries its fingerprint: the click never reads pixels);
* a synthetic ``rows x cols x dim`` float16 grid with tissue-like structure (a few "tissue
  types" plus noise, a glass border), saved as the tool's ``.npz`` in ``--work`` (deleted after
  unless ``--keep``): loading it, the similarity map (cosine with the CRC and norm checks,
  3x3 aggregation, scaling) and the annotation JSON, warm (page cache; best of three); the
  same pass without the checks, a separate full check (``store.verify``) and, when torch is
  installed, the float16 torch pass this replaced, for the ratios;
* the size of our ``griddata`` element against a point-list ``heatmap`` element holding the
  same values;
* the scorers on the same grid: fitting ``--scorer linear`` (an 8 x 8 cell region against 3
  negative cells), scoring every cell with it and with ``prototype`` (target: under 1 s), and
  the calibration (cut-off, quantiles, random-pair baseline, connected hits) and hit polygons.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import click_side_by_side as clicks
import numpy as np
from results_file import save_report  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def synthetic_grid(rows: int, cols: int, dim: int, seed: int = 0):
    """Cells drawn from 6 tissue prototypes plus noise, in row bands; a glass border."""
    from EmbeddingSimilarity.cache import store
    from EmbeddingSimilarity.slide.tiling import plan_grid

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
            'scale': {'mpp': 0.5, 'magnification': 20.0, 'factor': 1.0, 'source': 'synthetic',
                      'slide_mpp': 0.5, 'slide_magnification': 20.0}, 'complete': True}
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


def torch_cosine_map(embeddings: np.ndarray, valid: np.ndarray, query: np.ndarray,
                     norms: np.ndarray) -> np.ndarray:
    """The query before this rewrite: float16 matmul in torch, stored norms, no checks."""
    import torch

    out = np.full(embeddings.shape[:2], np.nan, dtype=np.float32)
    q16 = torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32)).half()
    for start in range(0, embeddings.shape[0], 64):
        block = torch.from_numpy(np.ascontiguousarray(embeddings[start:start + 64]))
        length = torch.from_numpy(np.ascontiguousarray(norms[start:start + 64]))
        dots = (block @ q16).float()
        ok = valid[start:start + 64] & (length.numpy() > 0)
        out[start:start + 64] = np.where(ok, (dots / length.clamp_min(1e-12)).numpy(), np.nan)
    return out


def scorer_passes(data, row: int, col: int, similarity: np.ndarray) -> dict:
    """Seconds of fitting and applying each scorer, and of the calibration and hit polygons."""
    from EmbeddingSimilarity.query.calibration import calibrate
    from EmbeddingSimilarity.query.hits import hit_elements
    from EmbeddingSimilarity.query.scorer import linear, prototype

    region = [(r, c) for r in range(row, row + 8) for c in range(col, col + 8)]
    rows, cols = data.grid.shape
    negatives = [[(rows // 4, cols // 4)], [(rows // 4, 3 * cols // 4)], [(3 * rows // 4, 10)]]
    out = {}
    out['linear scorer: fit (64 + 3 cells)'], fitted = best_of(
        3, linear, data.embeddings, [region], negatives, data.embedded)
    out['linear scorer: score every cell'], _ = best_of(
        3, fitted.score, data.embeddings, data.embedded, data.norms)
    out['prototype scorer: score every cell'], _ = best_of(
        3, prototype(data.embeddings, [region], negatives).score, data.embeddings,
        data.embedded, data.norms)
    out['calibration (Otsu, quantiles, baseline, regions)'], calibration = best_of(
        1, calibrate, similarity, data.embeddings, data.grid, 0.5)
    out['hit polygons'], elements = best_of(1, hit_elements, data.grid, calibration.hits, 0.5)
    out['hit regions'] = calibration.regions
    out['hit polygon elements'] = len(elements)
    return out


def big_grid_click(path: str, folder: str, repeats: int) -> dict | None:
    """Our CLI and the reference clicking on the synthetic grid, as whole processes."""
    from EmbeddingSimilarity.cache import store

    meta = store.read_meta(path)
    slide = os.path.join(folder, meta['image']['name'])
    if not os.path.exists(slide):
        return None
    grid = store.load(path).grid
    point = grid.cell_center(grid.rows // 2, grid.cols // 3)
    return clicks.side_by_side({
        'reference': clicks.reference_command(path, point, os.path.join(folder, 'r.anot')),
        'ours': clicks.our_command(slide, meta['model']['name'], path, point,
                            os.path.join(folder, 'h.anot'))}, repeats)


def best_of(repeats: int, function, *args, **kwargs) -> tuple[float, object]:
    """The fastest of ``repeats`` calls (the first warms the page cache) and its result."""
    best, result = float('inf'), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - started)
    return best, result


def print_clicks(title: str, click: dict) -> None:
    print('\n%s, whole processes (median of %d runs)' % (title, click['repeats']))
    for name, row in click.items():
        if isinstance(row, dict):
            print('  %-36s %6.2f s %6.0f MiB   %5.2fx time %5.2fx memory (target <= 1x)' % (
                name, row['seconds'], row['peak_rss_mib'], row['time_ratio_to_reference'],
                row['rss_ratio_to_reference']))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rows', type=int, default=1000)
    parser.add_argument('--cols', type=int, default=1000)
    parser.add_argument('--dim', type=int, default=1536)
    parser.add_argument('--work', default=tempfile.gettempdir())
    parser.add_argument('--clicks', type=int, default=7, help='runs per cached-click timing')
    parser.add_argument('--big-clicks', type=int, default=3,
                        help='runs per whole-process click on the synthetic grid')
    parser.add_argument('--keep', action='store_true', help='keep the synthetic .npz')
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.work) as folder:
        click = clicks.sample_clicks(folder, args.clicks)

    from EmbeddingSimilarity.cache import store
    from EmbeddingSimilarity.query.similarity import compute, cosine_map, query_vector
    from EmbeddingSimilarity.render.annotation import build_annotation, to_json
    from EmbeddingSimilarity.render.colours import parse_colour

    path = os.path.join(args.work, 'bench_similarity_%dx%dx%d.npz' % (args.rows, args.cols,
                                                                       args.dim))
    built = not os.path.exists(path)
    if built:
        started = time.perf_counter()
        synthetic = synthetic_grid(args.rows, args.cols, args.dim)
        clicks.stand_in_slide(synthetic, args.work)
        store.save(path, synthetic)
        del synthetic
        print('built %s in %.1f s' % (path, time.perf_counter() - started))
    try:
        big_click = big_grid_click(path, args.work, args.big_clicks)
        size_npz = os.path.getsize(path)
        timings = {}
        timings['load .npz'], data = best_of(3, store.load, path)
        grid = data.grid
        points = [grid.cell_center(args.rows // 2, args.cols // 3)]
        timings['similarity (cosine + checks, 3x3 mean, quantiles)'], result = best_of(
            3, compute, data.embeddings, data.embedded, grid, points, aggregation=3,
            scaling='quantile', norms=data.norms)
        started = time.perf_counter()
        annotation = build_annotation(grid, result, parse_colour('#ffff00'), 'bench',
                                      {'model': 'synthetic'})
        body = to_json(annotation)
        timings['annotation JSON'] = time.perf_counter() - started
        timings['total query'] = sum(timings.values())

        query = query_vector(data.embeddings, [grid.cell_of_point(*points[0])])
        plain = np.asarray(data.embeddings)  # a plain view: no CRC, and no stored norms to check
        passes = {}
        passes['cosine pass with CRC + norm checks'], checked = best_of(
            3, cosine_map, data.embeddings, data.embedded, query, data.norms)
        passes['cosine pass without checks'], _ = best_of(3, cosine_map, plain, data.embedded,
                                                          query)
        passes['store.verify alone (CRC + norms)'], _ = best_of(1, store.verify,
                                                                data.embeddings, data.norms)
        try:
            passes['torch float16 pass (before)'], before = best_of(
                3, torch_cosine_map, data.embeddings, data.embedded, query, data.norms)
            difference = float(np.nanmax(np.abs(before - checked)))
        except ImportError:
            before, difference = None, None
        scorers = scorer_passes(data, args.rows // 2, args.cols // 3, result.similarity)
        started = time.perf_counter()
        heatmap_body = heatmap_points_json(grid, result.values)
        heatmap_seconds = time.perf_counter() - started
    finally:
        if built and not args.keep:
            os.unlink(path)

    cosine = passes['cosine pass with CRC + norm checks']
    report = {
        'grid': [args.rows, args.cols, args.dim], 'npz_bytes': size_npz,
        'cached_click': click, 'cached_click_big_grid': big_click,
        'seconds': timings, 'passes_seconds': passes, 'scorers': scorers,
        'ratio_linear_score_to_1s_target': scorers['linear scorer: score every cell'],
        'ratio_linear_to_prototype_score': (scorers['linear scorer: score every cell']
                                            / scorers['prototype scorer: score every cell']),
        'check_cost_seconds': cosine - passes['cosine pass without checks'],
        'ratio_query_to_1s_target': timings['similarity (cosine + checks, 3x3 mean, quantiles)'],
        'ratio_checked_pass_to_torch_pass': (
            cosine / passes['torch float16 pass (before)'] if before is not None else None),
        'max_abs_difference_to_torch_pass': difference,
        'griddata_json_bytes': len(body.encode()),
        'heatmap_points_json_bytes': len(heatmap_body.encode()),
        'heatmap_points_json_seconds': heatmap_seconds,
        'size_ratio_heatmap_over_griddata': len(heatmap_body) / len(body),
        'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    print_clicks('Cached click on the sample slide', click)
    if big_click:
        print_clicks('Cached click on the %d x %d x %d grid' % (args.rows, args.cols, args.dim),
                     big_click)
    print('\nSimilarity query on a %d x %d grid, D = %d (.npz %.2f GB), warm' % (
        args.rows, args.cols, args.dim, size_npz / 1e9))
    for stage, seconds in timings.items():
        print('  %-52s %7.2f s' % (stage, seconds))
    print('  (query / 1 s target: %.2f)' % report['ratio_query_to_1s_target'])
    for name, seconds in passes.items():
        print('  %-52s %7.2f s' % (name, seconds))
    print('  cost of the checks in the pass                       %7.2f s' % (
        report['check_cost_seconds']))
    if before is not None:
        print('  checked numpy pass / torch float16 pass: %.2fx (target <= 2x); max |diff| %.1e'
              % (report['ratio_checked_pass_to_torch_pass'], difference))
    for name, value in scorers.items():
        print('  %-52s %7.2f%s' % (name, value, ' s' if 'hit' not in name or 'polygons' in name
                                   else ''))
    print('  linear score pass / prototype pass: %.2fx; linear pass / 1 s target: %.2f' % (
        report['ratio_linear_to_prototype_score'], report['ratio_linear_score_to_1s_target']))
    print('  griddata element JSON      %9.2f MB' % (report['griddata_json_bytes'] / 1e6))
    print('  point-list heatmap JSON    %9.2f MB  (%.1fx larger)' % (
        report['heatmap_points_json_bytes'] / 1e6, report['size_ratio_heatmap_over_griddata']))
    print('  peak RSS                   %9.0f MiB' % report['peak_rss_mib'])
    save_report('bench_similarity', report)


if __name__ == '__main__':
    main()
