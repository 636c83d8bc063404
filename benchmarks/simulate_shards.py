"""Simulation behind docs/collection-search.rst: a sharded index, searched by fan-out and merge.

    python benchmarks/simulate_shards.py [--slides 64] [--cells 4000] [--dim 256]

A synthetic collection (cells drawn from 64 shared "tissue types" plus noise, each slide richer
in a few types, as real archives are: a hospital's prostate slides, its colon slides...) is
split by slide into S shards. Each shard has its own FAISS HNSW index; a query goes to every
shard, each returns its best k' cells, and the client merges them. Measured for S = 1..16 and
k' = k/S .. k: recall@100 of the merged list against the exact global top-100, each shard's
search time (median over shards and queries: the shards run side by side on their workers,
so this plus the merge is the latency) and its index size. Writes ``docs/collection_shards.png`` and
``benchmarks/results/simulate_shards.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from results_file import save_report  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(os.path.dirname(HERE), 'docs')
TYPES = 64
SHARDS = (1, 2, 4, 8, 16)
FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
K = 100


def collection(slides: int, cells: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit float32 vectors and each one's slide number."""
    rng = np.random.default_rng(7)
    protos = rng.standard_normal((TYPES, dim)).astype(np.float32)
    vectors, owners = [], []
    for slide in range(slides):
        favourite = rng.choice(TYPES, 4, replace=False)  # a slide is rich in a few types
        kinds = np.where(rng.random(cells) < 0.7, rng.choice(favourite, cells),
                         rng.integers(0, TYPES, cells))
        v = protos[kinds] + rng.standard_normal((cells, dim)).astype(np.float32) * 0.8
        vectors.append(v / np.linalg.norm(v, axis=1, keepdims=True))
        owners.append(np.full(cells, slide))
    return np.concatenate(vectors), np.concatenate(owners)


def simulate(vectors: np.ndarray, owners: np.ndarray, queries: np.ndarray) -> list[dict]:
    import faiss

    faiss.omp_set_num_threads(1)  # one core per shard, as one Dask worker thread would have
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :K]
    slides = int(owners.max()) + 1
    rows = []
    for shards in SHARDS:
        members = [np.flatnonzero(owners % shards == s) for s in range(shards)]
        indexes = []
        for ids in members:
            index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.add(vectors[ids])
            index.hnsw.efSearch = 256
            indexes.append(index)
        size = np.mean([len(faiss.serialize_index(i)) for i in indexes]) / 2**20
        for fraction in FRACTIONS:
            per_shard = max(1, int(np.ceil(K * fraction)))
            if shards == 1 and fraction < 1:
                continue
            recalls, times = [], []
            for q, truth in zip(queries, exact, strict=True):
                found_scores, found_ids, spent = [], [], []
                for ids, index in zip(members, indexes, strict=True):
                    started = time.perf_counter()
                    scores, local = index.search(q[None], per_shard)
                    spent.append(time.perf_counter() - started)
                    found_scores.append(scores[0])
                    found_ids.append(ids[local[0]])
                merged = np.concatenate(found_ids)[np.argsort(-np.concatenate(found_scores))[:K]]
                recalls.append(len(set(merged) & set(truth)) / K)
                times.append(np.median(spent))
            rows.append({'shards': shards, 'slides_per_shard': slides / shards,
                         'per_shard_k': per_shard, 'fraction': fraction,
                         'recall_at_100': float(np.mean(recalls)),
                         'recall_at_100_min': float(np.min(recalls)),
                         'shard_ms': 1000 * float(np.median(times)),
                         'index_mb_per_shard': float(size)})
            print('S=%2d  k\'=%3d  recall@100 %.3f (min %.3f)  one shard %.2f ms  '
                  '%.1f MB/shard' % (shards, per_shard, rows[-1]['recall_at_100'],
                                     rows[-1]['recall_at_100_min'],
                                     rows[-1]['shard_ms'], size))
    return rows


def figure(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for shards in SHARDS[1:]:
        mine = [r for r in rows if r['shards'] == shards]
        left.plot([r['per_shard_k'] * shards / K for r in mine],
                  [r['recall_at_100'] for r in mine], marker='o', label='%d shards' % shards)
    left.axhline(0.95, color='grey', linestyle=':', linewidth=1)
    left.set_xscale('log', base=2)
    left.set_xlabel("candidates returned by all shards together / k  (k' x S / k)")
    left.set_ylabel('recall@100 of the merged list')
    left.set_title('Each shard must return k, not k / S')
    left.legend(fontsize=8)
    full = [r for r in rows if r['fraction'] == 1.0]
    right.plot([r['shards'] for r in full], [r['shard_ms'] for r in full], marker='o',
               color='tab:blue', label='one shard, ms per query')
    right.set_xscale('log', base=2)
    right.set_ylim(0, 1.3 * max(r['shard_ms'] for r in full))
    right.set_xlabel('shards (one worker each)')
    right.set_ylabel('ms per query, one shard (median)', color='tab:blue')
    twin = right.twinx()
    twin.plot([r['shards'] for r in full], [r['index_mb_per_shard'] for r in full], marker='s',
              color='tab:orange', label='index MB per shard')
    twin.set_ylabel('index MB per shard', color='tab:orange')
    right.set_title('Fan-out: latency and memory per worker (k\' = k)')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--slides', type=int, default=64)
    parser.add_argument('--cells', type=int, default=4000)
    parser.add_argument('--dim', type=int, default=256)
    parser.add_argument('--queries', type=int, default=20)
    args = parser.parse_args()
    vectors, owners = collection(args.slides, args.cells, args.dim)
    rng = np.random.default_rng(11)
    queries = vectors[rng.choice(len(vectors), args.queries, replace=False)]
    rows = simulate(vectors, owners, queries)
    figure(rows, os.path.join(DOCS, 'collection_shards.png'))
    save_report('simulate_shards', {'slides': args.slides, 'cells_per_slide': args.cells,
                                    'dim': args.dim, 'queries': args.queries, 'rows': rows})


if __name__ == '__main__':
    sys.exit(main())
