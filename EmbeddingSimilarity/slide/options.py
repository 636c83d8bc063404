"""How a slide is cut into cells: the tiling and scale options a run asks for."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Tiling:
    """Tile size, stride and scale (0 = the model's own) and the share of tissue a cell needs."""

    tile_size: int = 0
    stride: int = 0
    mpp: float = 0.0
    magnification: float = 0.0
    tissue_threshold: float = 0.1
