"""How much memory a grid of embeddings needs, and the budget it must fit in: a stride so fine
that the run could not hold its grid is refused before any work, with the smallest stride that
fits.

The budget is ``EMBEDDING_SIMILARITY_MEMORY_GB`` gibibytes when that is set, else three quarters
of the memory available when the run starts (psutil when it is installed, else ``os.sysconf``).
"""

from __future__ import annotations

import os

from ..errors import InputError
from .tiling import TileGrid, cells_along

MEMORY_VARIABLE = 'EMBEDDING_SIMILARITY_MEMORY_GB'
AVAILABLE_SHARE = 0.75
BYTES_PER_CELL = 96
"""Held per cell besides its float16 embedding: the masks, tissue fraction, norm and the score
maps (float32 and float64) of a run."""
GIB = 1 << 30


def grid_bytes(cells: int, embed_dim: int) -> int:
    """About what a run holds for a grid of ``cells`` cells of ``embed_dim`` numbers."""
    return cells * (2 * embed_dim + BYTES_PER_CELL)


def available_memory() -> int | None:
    """Bytes of memory available now (None when the system does not say)."""
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
    except (AttributeError, ValueError, OSError):
        return None


def memory_budget() -> tuple[int, str] | None:
    """The bytes a grid may take and where that figure comes from (None: no limit known)."""
    raw = os.environ.get(MEMORY_VARIABLE, '').strip()
    if raw:
        try:
            gib = float(raw)
        except ValueError:
            gib = -1.0
        if not 0 < gib < 1e6:
            raise InputError('%s=%r is not a memory size; give gibibytes, e.g. 16, or unset it'
                             % (MEMORY_VARIABLE, raw))
        return int(gib * GIB), 'the %s=%s budget' % (MEMORY_VARIABLE, raw)
    available = available_memory()
    if not available:
        return None
    return int(available * AVAILABLE_SHARE), (
        'the %.1f GiB budget (3/4 of the memory available; set %s to change it)'
        % (available * AVAILABLE_SHARE / GIB, MEMORY_VARIABLE))


def check_grid_memory(grid: TileGrid, embed_dim: int) -> None:
    """An InputError when the grid's embeddings would not fit in the memory budget, naming the
    size and the smallest stride that fits."""
    budget = memory_budget()
    need = grid_bytes(grid.rows * grid.cols, embed_dim)
    if budget is None or need <= budget[0]:
        return
    limit, source = budget
    width, height = grid.image_width / grid.factor, grid.image_height / grid.factor

    def fits(stride: int) -> bool:
        cells = cells_along(width, grid.tile, stride) * cells_along(height, grid.tile, stride)
        return grid_bytes(cells, embed_dim) <= limit
    stride = next((s for s in range(grid.stride + 1, 4097) if fits(s)), None)
    advice = ('use --stride %d or more' % stride if stride else
              'use a coarser scale (a larger --mpp)')
    raise InputError('a grid of %d x %d = %d cells (stride %d) needs about %.1f GiB of memory '
                     'for its %d-number embeddings, more than %s; %s'
                     % (grid.rows, grid.cols, grid.rows * grid.cols, grid.stride, need / GIB,
                        embed_dim, source, advice))
