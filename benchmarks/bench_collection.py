"""Searching an archive: exact streaming top-k and the FAISS index over synthetic caches.

    python benchmarks/bench_collection.py [--slides 100] [--cells 20000] [--dim 1536]
        [--work /tmp/bench-collection] [--keep] [--queries 20]

Synthetic caches (``slides x cells x dim`` float16, written with ``store.save``: 100 x 20,000
x 1536 is about 6 GB) whose cells are drawn from 64 shared "tissue types" plus noise. Measured
in one run and saved to ``benchmarks/results/bench_collection.json``:

* exact search (:func:`~EmbeddingSimilarity.collection.search.scan_caches`, the CRC and norm checks
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
LATENT = 32


def prototypes(dim: int) -> np.ndarray:
    return np.random.default_rng(1234).standard_normal((TYPES, dim)).astype(np.float32)


def write_caches(folder: str, slides: int, cells: int, dim: int,
                 structure: str = 'types') -> list[str]:
    """``slides`` caches of ``cells`` tissue cells each (a 100-column grid).

    ``types``: a tissue type's prototype plus isotropic noise as large as 0.8 of it, so within
    a type the ranking is decided by noise (the hardest case for a compressed index);
    ``lowrank``: cells on a 32-dimensional tissue manifold plus small noise (the structure of
    real foundation-model embeddings, whose intrinsic dimension is low).
    """
    from EmbeddingSimilarity.cache import store
    from EmbeddingSimilarity.slide.tiling import plan_grid

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
            embeddings[start:stop] = cell_vectors(rng, protos, kinds[start:stop], structure)
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


def cell_vectors(rng, protos: np.ndarray, kinds: np.ndarray, structure: str) -> np.ndarray:
    dim = protos.shape[1]
    if structure == 'lowrank':
        basis = np.random.default_rng(4321).standard_normal((LATENT, dim)).astype(np.float32)
        latent = rng.standard_normal((len(kinds), LATENT), dtype=np.float32) / np.sqrt(LATENT)
        return latent @ basis + rng.standard_normal((len(kinds), dim), dtype=np.float32) * 0.3
    return protos[kinds] + rng.standard_normal((len(kinds), dim), dtype=np.float32) * 0.8


def query_vectors(count: int, dim: int, structure: str = 'types') -> np.ndarray:
    """Queries like a click: one more cell drawn like the collection's."""
    rng = np.random.default_rng(99)
    protos = prototypes(dim)
    queries = cell_vectors(rng, protos, rng.integers(0, TYPES, count), structure)
    return (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)


def drop_page_cache(paths: list[str]) -> None:
    for path in paths:
        with open(path, 'rb') as handle:
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def exact_phase(listing: str, dim: int, cold: bool) -> dict:
    """One exact search in this (fresh) process: seconds and peak RSS."""
    from EmbeddingSimilarity.collection.search import scan_caches

    with open(listing) as handle:
        paths = json.load(handle)
    if cold:
        drop_page_cache(paths)
    query = query_vectors(1, dim)[0]
    started = time.perf_counter()
    top = scan_caches(paths, query, 100, 0.1)
    seconds = time.perf_counter() - started
    out = {'seconds': seconds, 'peak_rss_mb': resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024, 'found': len(top)}
    if not cold:  # the machine's memory speed on the same bytes, in the same process
        nbytes, copy_seconds = copy_pass(paths)
        out.update(grid_bytes=nbytes, search_gb_per_s=nbytes / seconds / 1e9,
                   copy_seconds=copy_seconds, copy_gb_per_s=nbytes / copy_seconds / 1e9,
                   ratio_search_to_copy=seconds / copy_seconds)
    return out


def copy_pass(paths: list[str], block: int = 64 << 20) -> tuple[int, float]:
    """Bytes of the caches' embeddings and the best of two seconds a numpy copy of them (from
    the memory map, in blocks into one reused buffer) takes: the memory bandwidth bound."""
    from EmbeddingSimilarity.cache.store import load

    grids = [load(path).embeddings for path in paths]
    nbytes = sum(grid.nbytes for grid in grids)
    buffer = np.empty(block, dtype=np.uint8)
    best = float('inf')
    for _ in range(2):
        started = time.perf_counter()
        for grid in grids:
            flat = np.asarray(grid).reshape(-1).view(np.uint8)
            for start in range(0, len(flat), block):
                part = flat[start:start + block]
                np.copyto(buffer[:len(part)], part)
        best = min(best, time.perf_counter() - started)
    return nbytes, best


def run_exact(paths: list[str], dim: int, work: str, cold: bool) -> dict:
    listing = os.path.join(work, 'listing-%d.json' % len(paths))
    with open(listing, 'w') as handle:
        json.dump(paths, handle)
    out = subprocess.run([sys.executable, __file__, '--phase', listing, '--dim', str(dim)]
                         + (['--cold'] if cold else []), capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_index(paths: list[str], dim: int, work: str, queries: int, kind: str = '',
              structure: str = 'types') -> dict:
    import faiss

    from EmbeddingSimilarity.collection.index import build_or_update, search_index
    from EmbeddingSimilarity.collection.search import scan_caches

    index_path = os.path.join(work, 'collection.faiss')
    for stale in (index_path, index_path + '.json'):
        if os.path.exists(stale):
            os.unlink(stale)
    started = time.perf_counter()
    index, _ = build_or_update(index_path, {p: (p, 'sha256:x') for p in paths}, 0.1, kind)
    build = time.perf_counter() - started
    keys = list(paths)
    exact = [scan_caches(paths, q, 100, 0.1) for q in query_vectors(queries, dim, structure)]
    report = {'kind': index.kind, 'vectors': int(index.index.ntotal), 'build_s': build,
              'size_mb': os.path.getsize(index_path) / 2**20}
    inner = faiss.downcast_index(index.index.index)
    probes = [inner.nprobe // 4, inner.nprobe // 2, inner.nprobe] if index.kind == 'ivfpq' \
        else [0]
    for nprobe in probes:
        if nprobe:
            inner.nprobe = nprobe
        recalls, times = [], []
        for query, truth_top in zip(query_vectors(queries, dim, structure), exact, strict=True):
            started = time.perf_counter()
            found = search_index(index, query, 100, keys, paths)
            times.append(time.perf_counter() - started)
            truth = set(zip(truth_top.targets, truth_top.rows, truth_top.cols, strict=True))
            recalls.append(len(truth & set(zip(found.targets, found.rows, found.cols,
                                               strict=True))) / len(truth))
        report.update({'nprobe': nprobe, 'search_ms_median': 1000 * float(np.median(times[1:])),
                       'search_ms_first': 1000 * times[0],
                       'recall_at_100_mean': float(np.mean(recalls)),
                       'recall_at_100_min': float(np.min(recalls))})
        report.setdefault('sweep', []).append({k: report[k] for k in (
            'nprobe', 'search_ms_median', 'recall_at_100_mean', 'recall_at_100_min')})
        print(json.dumps(report['sweep'][-1]), flush=True)
    return report


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
    parser.add_argument('--index-kind', default='', choices=['', 'flat', 'hnsw', 'ivfpq'])
    parser.add_argument('--structure', default='types', choices=['types', 'lowrank'])
    parser.add_argument('--phase', help=argparse.SUPPRESS)
    parser.add_argument('--cold', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(exact_phase(args.phase, args.dim, args.cold)))
        return
    started = time.perf_counter()
    paths = write_caches(args.work, args.slides, args.cells, args.dim, args.structure)
    report = {'structure': args.structure, 'slides': args.slides, 'cells_per_slide': args.cells,
              'dim': args.dim,
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
        report['index'] = dict(run_index(indexed, args.dim, args.work, args.queries,
                                         args.index_kind, args.structure),
                               slides=len(indexed))
    print_table(report)
    save_report('bench_collection' + ('_index' if args.no_exact else '_exact' if args.no_index
                                      else '') + ('_lowrank' if args.structure == 'lowrank'
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
    warm = report.get('exact_warm') or {}
    if 'copy_seconds' in warm:
        print('exact search %.2f GB/s, numpy copy of the same bytes %.2f GB/s: search / copy '
              '%.2fx (target <= 2x)' % (warm['search_gb_per_s'], warm['copy_gb_per_s'],
                                        warm['ratio_search_to_copy']))
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
