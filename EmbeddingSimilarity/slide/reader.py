"""Read the tiles of the cells to embed, each slide pixel once, on a few threads.

Cells are grouped into square blocks of neighbouring cells. Each block is read as one region at
the model's scale (so overlapping tiles, stride < tile, share one read), and its tiles are
array views into that region. Blocks are read by a thread pool (or, where threads stop scaling,
a pool of processes) with a bounded look-ahead and handed over in a fixed order, so the result
does not depend on the number of threads or processes.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import math
from collections.abc import Iterator

import numpy as np

from .source import read_region
from .tiling import TileGrid

BLOCK_TARGET_PX = 2048
BLOCK_TILE_BYTES = 64 << 20
"""At most this many bytes of tiles are copied out of one block's read (a fine stride puts
thousands of overlapping tiles in a 2048-pixel block: stride 1 would copy 255 GiB)."""


@dataclasses.dataclass(frozen=True)
class Block:
    """A rectangle of cells read as one region: rows ``r0:r1``, cols ``c0:c1``."""

    r0: int
    r1: int
    c0: int
    c1: int
    cells: np.ndarray
    """``(n, 2)`` (row, col) of the wanted cells inside the block, row-major."""


def plan_blocks(grid: TileGrid, wanted: np.ndarray, block_px: int = BLOCK_TARGET_PX) -> list[Block]:
    """Blocks covering every wanted cell, each trimmed to the wanted cells' bounding box."""
    per_side = max(1, min((block_px - grid.tile) // grid.stride + 1,
                          math.isqrt(BLOCK_TILE_BYTES // (grid.tile * grid.tile * 3))))
    blocks = []
    for br in range(0, grid.rows, per_side):
        for bc in range(0, grid.cols, per_side):
            sub = wanted[br:br + per_side, bc:bc + per_side]
            if not sub.any():
                continue
            rr, cc = np.nonzero(sub)
            cells = np.stack([rr + br, cc + bc], axis=1)
            blocks.append(Block(int(rr.min() + br), int(rr.max() + br + 1),
                                int(cc.min() + bc), int(cc.max() + bc + 1), cells))
    return blocks


def read_block(source, grid: TileGrid, block: Block) -> np.ndarray:
    """The tiles of ``block``'s wanted cells, ``(n, tile, tile, 3)`` uint8 (views of one read)."""
    height = grid.tile + (block.r1 - block.r0 - 1) * grid.stride
    width = grid.tile + (block.c1 - block.c0 - 1) * grid.stride
    region = read_region(source, block.c0 * grid.stride_base, block.r0 * grid.stride_base,
                         width, height, grid.factor)
    tiles = np.lib.stride_tricks.sliding_window_view(
        region, (grid.tile, grid.tile, 3))[::grid.stride, ::grid.stride, 0]
    rows = block.cells[:, 0] - block.r0
    cols = block.cells[:, 1] - block.c0
    return tiles[rows, cols]


def _in_order(blocks: list[Block], submit, window: int) -> Iterator[tuple[Block, np.ndarray]]:
    """``(block, tiles)`` in ``blocks`` order, with up to ``window`` reads submitted ahead;
    reads not yet started are cancelled when the consumer stops."""
    pending: collections.deque = collections.deque()
    try:
        for block in blocks:
            pending.append((block, submit(block)))
            if len(pending) >= window:
                done_block, future = pending.popleft()
                yield done_block, future.result()
        while pending:
            done_block, future = pending.popleft()
            yield done_block, future.result()
    finally:
        for _, future in pending:
            future.cancel()


def iter_blocks(source, grid: TileGrid, blocks: list[Block], workers: int = 2,
                prefetch: int = 4) -> Iterator[tuple[Block, np.ndarray]]:
    """Yield ``(block, tiles)`` in ``blocks`` order, reading ahead on ``workers`` threads."""
    if workers <= 1:
        for block in blocks:
            yield block, read_block(source, grid, block)
        return
    window = max(prefetch, workers)
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix='tile-reader') as pool:
        yield from _in_order(blocks, lambda block: pool.submit(read_block, source, grid, block),
                             window)


def iter_blocks_in_processes(path: str, grid: TileGrid, blocks: list[Block], processes: int = 2,
                             prefetch: int = 4) -> Iterator[tuple[Block, np.ndarray]]:
    """Like :func:`iter_blocks`, but each block is read and decoded in one of ``processes``
    worker processes (each opens the slide once), for hosts where threads stop scaling
    (the GIL, JPEG decode). The tiles come back through a pipe, in ``blocks`` order."""
    import multiprocessing

    window = max(prefetch, 2 * processes)
    context = multiprocessing.get_context('spawn')  # never fork a process that holds torch
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context,
                                                initializer=_open_in_worker,
                                                initargs=(path,)) as pool:
        yield from _in_order(blocks, lambda block: pool.submit(_read_in_worker, grid, block),
                             window)


_WORKER_SOURCE: list = []


def _open_in_worker(path: str) -> None:
    from .source import open_slide

    _WORKER_SOURCE[:] = [open_slide(path)]


def _read_in_worker(grid: TileGrid, block: Block) -> np.ndarray:
    return np.ascontiguousarray(read_block(_WORKER_SOURCE[0], grid, block))


def iter_batches(source, grid: TileGrid, wanted: np.ndarray, batch_size: int, workers: int = 2,
                 prefetch: int = 4) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(cells (n, 2), tiles (n, tile, tile, 3) uint8)`` batches of ``batch_size``."""
    blocks = plan_blocks(grid, wanted)
    return batched(iter_blocks(source, grid, blocks, workers, prefetch), batch_size)


def batched(blocks: Iterator[tuple[Block, np.ndarray]],
            batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Regroup the tiles of consecutive blocks into ``(cells, tiles)`` batches of
    ``batch_size`` (the last one shorter)."""
    cells_buf: list[np.ndarray] = []
    tiles_buf: list[np.ndarray] = []
    held = 0
    for block, tiles in blocks:
        start = 0
        while start < len(tiles):
            take = min(batch_size - held, len(tiles) - start)
            cells_buf.append(block.cells[start:start + take])
            tiles_buf.append(tiles[start:start + take])
            held += take
            start += take
            if held == batch_size:
                yield np.concatenate(cells_buf), np.concatenate(tiles_buf)
                cells_buf, tiles_buf, held = [], [], 0
    if held:
        yield np.concatenate(cells_buf), np.concatenate(tiles_buf)
