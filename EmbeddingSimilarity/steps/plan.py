"""The first step of every run and benchmark: the model's record, the open slide, the scale to
read it at, the grid of cells and the provenance a cache must match.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..cache.provenance import Provenance
from ..models import get_spec
from ..models.spec import ModelSpec
from ..query.shapes import check_points_inside, check_shapes_inside
from ..slide.source import file_fingerprint, open_slide
from ..slide.tiling import Scale, TileGrid, plan_grid, resolve_scale
from .request import Request

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Plan:
    """What a run will embed and how."""

    spec: ModelSpec
    source: Any = dataclasses.field(repr=False)
    """The open large_image tile source."""
    scale: Scale
    grid: TileGrid
    provenance: Provenance
    """What a cache must have been made from to serve this run."""


def make_plan(request: Request) -> Plan:
    """Open the slide and lay the model's grid over it; key points must fall inside."""
    spec = get_spec(request.engine.model, pooling=request.engine.pooling or None,
                    trust_remote_code=request.engine.trust_remote_code)
    source = open_slide(request.image)
    metadata = source.getMetadata()
    scale = resolve_scale(metadata, spec.mpp, spec.magnification, request.tiling.mpp,
                          request.tiling.magnification)
    if scale.source == 'assumed':
        logger.warning('%s has no usable µm/px or magnification; assuming 20x (0.5 µm/px). Pass '
                       '--mpp or --magnification if that is wrong', request.image)
    tile = request.tiling.tile_size or spec.input_size
    grid = plan_grid(metadata['sizeX'], metadata['sizeY'], tile, request.tiling.stride or tile,
                     scale.factor)
    check_points_inside(request.query.keypoints, grid.image_width, grid.image_height)
    check_points_inside(request.query.negative_keypoints, grid.image_width, grid.image_height,
                        'negative key point')
    check_shapes_inside(request.query.key_regions, grid.image_width, grid.image_height,
                        'key region')
    check_shapes_inside(request.query.negative_regions, grid.image_width, grid.image_height,
                        'negative key region')
    provenance = Provenance.describe(spec, grid, scale, request.image,
                                     file_fingerprint(request.image), request.girder.image_id)
    return Plan(spec=spec, source=source, scale=scale, grid=grid, provenance=provenance)
