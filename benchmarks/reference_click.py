"""A plain reimplementation of the reference plugin's (histomicstk-similarity) cached click, the
baseline of ``bench_similarity.py``: ``np.load`` the ``.npz``, cosine of every cell to the
clicked cell's embedding, write the heatmap annotation JSON. No checks, no options.

    python benchmarks/reference_click.py CACHE.npz X,Y OUTPUT.anot
"""

from __future__ import annotations

import json
import sys

import numpy as np


def main(cache: str, point: str, output: str) -> None:
    with np.load(cache, allow_pickle=False) as archive:
        embeddings = archive['embeddings']
        embedded = archive['embedded']
        meta = json.loads(str(archive['meta']))
    grid = meta['grid']
    stride = grid['stride'] * grid['factor']
    x, y = (float(v) for v in point.split(','))
    half = grid['tile'] * grid['factor'] / 2
    col = min(grid['cols'] - 1, max(0, round((x - half) / stride)))
    row = min(grid['rows'] - 1, max(0, round((y - half) / stride)))
    flat = embeddings.reshape(-1, embeddings.shape[-1])
    query = flat[row * grid['cols'] + col].astype(np.float32)
    query /= max(float(np.linalg.norm(query)), 1e-12)
    cosine = np.empty(len(flat), dtype=np.float32)
    for start in range(0, len(flat), 4096):
        block = flat[start:start + 4096].astype(np.float32)
        cosine[start:start + 4096] = (block @ query) / np.maximum(
            np.linalg.norm(block, axis=1), 1e-12)
    similarity = np.where(embedded.ravel(), cosine, 0.0).reshape(embedded.shape)
    values = [round(float(v), 4) for v in similarity.ravel()]
    element = {'type': 'griddata', 'interpretation': 'heatmap', 'gridWidth': grid['cols'],
               'origin': [half, half, 0], 'dx': stride, 'dy': stride, 'values': values}
    with open(output, 'w') as handle:
        json.dump({'name': 'similarity', 'elements': [element]}, handle)


if __name__ == '__main__':
    main(*sys.argv[1:4])
