"""The reader gives the same batches whatever reads them: one thread, threads or processes."""

from __future__ import annotations

import numpy as np

from EmbeddingSimilarity.slide.reader import (
    batched,
    iter_batches,
    iter_blocks_in_processes,
    plan_blocks,
)
from EmbeddingSimilarity.slide.source import open_slide
from EmbeddingSimilarity.slide.tiling import plan_grid
from EmbeddingSimilarity.slide.tissue import tissue_fractions


def test_processes_read_the_same_tiles_as_threads(sample_slide):
    source = open_slide(sample_slide)
    meta = source.getMetadata()
    grid = plan_grid(meta['sizeX'], meta['sizeY'], 224, 112, 1.0)
    wanted = tissue_fractions(source, grid) > 0.3
    assert 20 < wanted.sum() < wanted.size
    threads = list(iter_batches(source, grid, wanted, 16, workers=2))
    one = list(iter_batches(source, grid, wanted, 16, workers=1))
    blocks = plan_blocks(grid, wanted, block_px=700)  # several blocks, so order matters
    assert len(blocks) > 2
    processes = list(batched(iter_blocks_in_processes(sample_slide, grid, blocks, 2), 16))
    for other in (one, processes):
        cells = np.concatenate([c for c, _ in other])
        tiles = np.concatenate([t for _, t in other])
        order = np.lexsort((cells[:, 1], cells[:, 0]))
        want_cells = np.concatenate([c for c, _ in threads])
        want_tiles = np.concatenate([t for _, t in threads])
        want_order = np.lexsort((want_cells[:, 1], want_cells[:, 0]))
        assert np.array_equal(cells[order], want_cells[want_order])
        assert np.array_equal(tiles[order], want_tiles[want_order])
    assert all(len(c) == 16 for c, _ in processes[:-1])
