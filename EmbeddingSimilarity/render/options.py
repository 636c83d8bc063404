"""How a map is drawn: colours, colour map, display style, the annotation's name and the PNG
picture's size."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Display:
    colour: str = '#ffff00'
    colormap: str = 'single'
    display: str = 'heatmap'
    annotation_name: str = 'Embedding similarity'
    picture_size: int = 1024
    """Longest side of the PNG picture's slide thumbnail, in pixels."""
