"""Searching an archive: exact streaming top-k and the FAISS index over synthetic caches.

    python benchmarks/bench_collection.py [--slides 100] [--cells 20000] [--dim 1536]
        [--work /tmp/bench-collection] [--keep] [--queries 20]

Synthetic caches (``slides x cells x dim`` float16, written with ``store.save``: 100 x 20,000
x 1536 is about 6 GB) whose cells are drawn from 64 shared "tissue types" plus noise. Measured
in one run and saved to ``benchmarks/results/bench_collection.json``:

* exact search (:func:`~EmbeddingSimilarity.search.scan_caches`, the CRC and norm checks
  included), page cache warm (best of two) and cold (each cache dropped from the page cache
  with ``posix_fadvise(DONTNEED)`` first), each in a fresh process that also reports its peak
  RSS, for the whole collection and for a tenth of it (peak RSS must not grow with the
  collection: the caches are memory-mapped, never loaded);
* the FAISS index (IVF-PQ at this size, HNSW below a million cells): build time, size on disk,
  search time per query (candidates rescored exactly) and recall@100 against exact search over
  ``--queries`` queries.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
from results_file import save_report  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
TYPES = 64


def prototypes(dim: int) -> np.ndarray:
    return np.random.default_rng(1234).standard_normal((TYPES, dim)).astype(np.float32)


def write_caches(folder: str, slides: int, cells: int, dim: int) -> list[str]:
    """``slides`` caches of ``cells`` tissue cells each (a 100-column grid)."""
    from EmbeddingSimilarity import store
    from EmbeddingSimilarity.tiling import plan_grid

    os.makedirs(folder, exist_ok=True)
    protos = prototypes(dim)
    cols = 100
    rows = -(-cells // cols)
    grid = plan_grid(cols * 224, rows * 224, 224, 224, 1.0)
    paths = []
    for number in range(slides):
        path = os.path.join(folder, 'slide%03d.synthetic.npz' % number)
        paths.append(path)
        if os.path.exists(path):
            continue
        rng = np.random.default_rng(number)
        kinds = rng.integers(0, TYPES, rows * cols)
        embeddings = np.empty((rows * cols, dim), dtype=np.float16)
        for start in range(0, rows * cols, 4096):
            stop = min(start + 4096, rows * cols)
            noise = rng.standard_normal((stop - start, dim), dtype=np.float32) * 0.8
            embeddings[start:stop] = protos[kinds[start:stop]] + noise
        embedded = np.zeros(rows * cols, dtype=bool)
        embedded[:cells] = True
        meta = {'grid': grid.to_dict(), 'model': {'name': 'synthetic', 'embed_dim': dim,
                                                  'pooling': 'cls'},
                'image': {'name': 'slide%03d' % number,
                          'fingerprint': 'sha256:synthetic%03d' % number},
                'scale': {'mpp': 0.5, 'magnification': 20.0, 'factor': 1.0, 'source': 'mpp',
                          'slide_mpp': 0.5, 'slide_magnification': 20.0}, 'complete': True}
        store.save(path, store.EmbeddingGrid(
            embeddings.reshape(rows, cols, dim), embedded.reshape(rows, cols),
            embedded.reshape(rows, cols).astype(np.float32), meta))
    return paths


def query_vectors(count: int, dim: int) -> np.ndarray:
    """Queries like a click: a tissue type's prototype plus a cell's worth of noise."""
    rng = np.random.default_rng(99)
    protos = prototypes(dim)
    queries = protos[rng.integers(0, TYPES, count)] + rng.standard_normal((count, dim)) * 0.8
    return (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def drop_page_cache(paths: list[str]) -> None:
    for path in paths:
        with open(path, 'rb') as handle:
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def exact_phase(listing: str, dim: int, cold: bool) -> dict:
    """One exact search in this (fresh) process: seconds and peak RSS."""
    from EmbeddingSimilarity.search import scan_caches

    with open(listing) as handle:
        paths = json.load(handle)
    if cold:
        drop_page_cache(paths)
    query = query_vectors(1, dim)[0]
    started = time.perf_counter()
    top = scan_caches(paths, query, 100, 0.1)
    seconds = time.perf_counter() - started
    return {'seconds': seconds, 'peak_rss_mb': resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024, 'found': len(top)}


def run_exact(paths: list[str], dim: int, work: str, cold: bool) -> dict:
    listing = os.path.join(work, 'listing-%d.json' % len(paths))
    with open(listing, 'w') as handle:
        json.dump(paths, handle)
    out = subprocess.run([sys.executable, __file__, '--phase', listing, '--dim', str(dim)]
                         + (['--cold'] if cold else []), capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_index(paths: list[str], dim: int, work: str, queries: int) -> dict:
    from EmbeddingSimilarity.search import scan_caches
    from EmbeddingSimilarity.search_index import build_or_update, search_index

    index_path = os.path.join(work, 'collection.faiss')
    for stale in (index_path, index_path + '.json'):
        if os.path.exists(stale):
            os.unlink(stale)
    started = time.perf_counter()
    index, _ = build_or_update(index_path, {p: (p, 'sha256:x') for p in paths}, 0.1)
    build = time.perf_counter() - started
    keys = list(paths)
    recalls, times = [], []
    for query in query_vectors(queries, dim):
        exact = scan_caches(paths, query, 100, 0.1)
        started = time.perf_counter()
        found = search_index(index, query, 100, keys, paths)
        times.append(time.perf_counter() - started)
        truth = set(zip(exact.targets, exact.rows, exact.cols, strict=False))
        recalls.append(len(truth & set(zip(found.targets, found.rows, found.cols, strict=False)))
                       / len(truth))
    return {'kind': index.kind, 'vectors': int(index.index.ntotal), 'build_s': build,
            'size_mb': os.path.getsize(index_path) / 2**20,
            'search_ms_median': 1000 * float(np.median(times[1:] or times)),
            'search_ms_first': 1000 * times[0],
            'recall_at_100_mean': float(np.mean(recalls)),
            'recall_at_100_min': float(np.min(recalls))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--slides', type=int, default=100)
    parser.add_argument('--cells', type=int, default=20000)
    parser.add_argument('--dim', type=int, default=1536)
    parser.add_argument('--queries', type=int, default=20)
    parser.add_argument('--work', default='/tmp/bench-collection')
    parser.add_argument('--keep', action='store_true')
    parser.add_argument('--no-index', action='store_true')
    parser.add_argument('--index-slides', type=int, default=0,
                        help='build the index over the first N slides only (0 = all)')
    parser.add_argument('--no-exact', action='store_true')
    parser.add_argument('--phase', help=argparse.SUPPRESS)
    parser.add_argument('--cold', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(exact_phase(args.phase, args.dim, args.cold)))
        return
    started = time.perf_counter()
    paths = write_caches(args.work, args.slides, args.cells, args.dim)
    report = {'slides': args.slides, 'cells_per_slide': args.cells, 'dim': args.dim,
              'cache_gb': sum(os.path.getsize(p) for p in paths) / 1e9,
              'write_s': time.perf_counter() - started}
    tenth = paths[:max(1, len(paths) // 10)]
    if not args.no_exact:
        run_exact(paths, args.dim, args.work, cold=False)  # warms the page cache
        report['exact_warm'] = min((run_exact(paths, args.dim, args.work, cold=False)
                                    for _ in range(2)), key=lambda r: r['seconds'])
        report['exact_warm_tenth'] = run_exact(tenth, args.dim, args.work, cold=False)
        report['exact_cold'] = run_exact(paths, args.dim, args.work, cold=True)
        report['rss_ratio_full_to_tenth'] = (report['exact_warm']['peak_rss_mb']
                                             / report['exact_warm_tenth']['peak_rss_mb'])
        print(json.dumps({k: report[k] for k in ('exact_warm', 'exact_warm_tenth',
                                                 'exact_cold')}), flush=True)
    if not args.no_index:
        indexed = paths[:args.index_slides or len(paths)]
        report['index'] = dict(run_index(indexed, args.dim, args.work, args.queries),
                               slides=len(indexed))
    print_table(report)
    save_report('bench_collection' + ('_index' if args.no_exact else '_exact' if args.no_index
                                      else ''), report)
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)


def print_table(report: dict) -> None:
    print('%d slides x %d cells x %d dims: %.2f GB of caches' % (
        report['slides'], report['cells_per_slide'], report['dim'], report['cache_gb']))
    print('%-34s %10s %14s' % ('measure', 'seconds', 'peak RSS MB'))
    for key, label in (('exact_warm', 'exact search, warm'),
                       ('exact_warm_tenth', 'exact search, warm, 1/10 of it'),
                       ('exact_cold', 'exact search, cold')):
        if key in report:
            print('%-34s %10.2f %14.0f' % (label, report[key]['seconds'],
                                           report[key]['peak_rss_mb']))
    index = report.get('index')
    if index:
        print('index %s over %d cells of %d slides: build %.1f s, %.0f MB, search %.1f ms/query '
              '(first %.1f ms), recall@100 %.3f (min %.3f)' % (
                  index['kind'], index['vectors'], index['slides'], index['build_s'],
                  index['size_mb'],
                  index['search_ms_median'], index['search_ms_first'],
                  index['recall_at_100_mean'], index['recall_at_100_min']))


if __name__ == '__main__':
    main()
