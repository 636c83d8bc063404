"""The first step of every run and benchmark: the model's record, the slide (opened only when
pixels are needed), the scale to read it at, the grid of cells and the provenance a cache must
match.

A local cache of the same slide (confirmed by its ``stat`` signature or fingerprint, see
:func:`~EmbeddingSimilarity.cache.local.known_image`) supplies the slide's metadata, so a cached
click never opens the slide nor imports large_image.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..cache import interop
from ..cache.local import known_image
from ..cache.provenance import Provenance
from ..models import get_spec
from ..models.spec import ModelSpec
from ..query.shapes import check_points_inside, check_shapes_inside
from ..slide.memory import check_grid_memory
from ..slide.source import SlideOpener, file_fingerprints, file_stat, slide_metadata
from ..slide.tiling import Scale, TileGrid, plan_grid, resolve_scale
from .request import Request

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Plan:
    """What a run will embed and how."""

    spec: ModelSpec
    slide: SlideOpener = dataclasses.field(repr=False)
    scale: Scale
    grid: TileGrid
    provenance: Provenance
    """What a cache must have been made from to serve this run."""
    engine: Any = dataclasses.field(default=None, repr=False)
    """A future of the embedding engine when it is being loaded ahead (see
    :func:`~EmbeddingSimilarity.steps.embed.compute_embeddings`)."""

    @property
    def source(self) -> Any:
        """The large_image tile source, opened on first use."""
        return self.slide.source


DENSE_OVERLAP = 16
"""Tiles over one pixel from which a grid is worth a warning (--stride of a quarter tile)."""
DENSE_CELLS = 1_000_000
"""Cells from which a grid is worth a warning whatever its stride."""


def warn_dense_grid(grid: TileGrid, tile: int) -> None:
    """Say before any work when the stride makes the grid huge (--stride 1: 3 million cells on
    a 2 MB sample), with what it costs against a stride of one tile."""
    overlap = (tile / max(1, grid.stride)) ** 2
    cells = grid.rows * grid.cols
    if overlap < DENSE_OVERLAP and cells < DENSE_CELLS:
        return
    logger.warning('--stride %d with %d-pixel tiles: a grid of %d x %d = %d cells, each pixel in '
                   'about %.0f tiles, %.0fx the embeddings of --stride %d; this takes that much '
                   'longer (use --stride %d or more for a first look)', grid.stride, tile,
                   grid.rows, grid.cols, cells, overlap, overlap, tile, tile // 2)


def make_plan(request: Request) -> Plan:
    """Lay the model's grid over the slide (its metadata from a cache of it, else from the
    opened slide); key points must fall inside."""
    spec = get_spec(request.engine.model, pooling=request.engine.pooling or None,
                    trust_remote_code=request.engine.trust_remote_code)
    slide = SlideOpener(request.image)
    image = known_image(request.image, request.outputs.input_embeddings,
                        request.outputs.output_embeddings)
    if image is not None:
        metadata, fingerprint, stat = dict(image.metadata or {}), image.fingerprint, image.stat
        legacy = ''
    else:
        metadata = slide_metadata(slide.source)
        (fingerprint, legacy), stat = file_fingerprints(request.image), file_stat(request.image)
    scale, grid = _lay_grid(request, spec, metadata)
    check_grid_memory(grid, spec.embed_dim)
    warn_dense_grid(grid, grid.tile)
    check_points_inside(request.query.keypoints, grid.image_width, grid.image_height)
    check_points_inside(request.query.negative_keypoints, grid.image_width, grid.image_height,
                        'negative key point')
    check_shapes_inside(request.query.key_regions, grid.image_width, grid.image_height,
                        'key region')
    check_shapes_inside(request.query.negative_regions, grid.image_width, grid.image_height,
                        'negative key region')
    provenance = Provenance.describe(spec, grid, scale, request.image, fingerprint,
                                     request.girder.image_id)
    provenance.image.stat, provenance.image.metadata = stat, metadata
    provenance.image.legacy_fingerprint = legacy if legacy != fingerprint else ''
    return Plan(spec=spec, slide=slide, scale=scale, grid=grid, provenance=provenance)


def _lay_grid(request: Request, spec: ModelSpec, metadata: dict) -> tuple[Scale, TileGrid]:
    """The model's scale and grid on this slide; for another tool's feature file given as
    ``--input-embeddings``, the grid its patches were cut on."""
    given = request.outputs.input_embeddings
    if given and interop.is_peer(given):
        placement = interop.plan_peer(given, metadata, spec.name, spec.embed_dim)
        return placement.scale, placement.grid
    scale = resolve_scale(metadata, spec.mpp, spec.magnification, request.tiling.mpp,
                          request.tiling.magnification)
    if scale.source == 'assumed':
        logger.warning('%s has no usable µm/px or magnification; assuming 20x (0.5 µm/px). Pass '
                       '--mpp or --magnification if that is wrong', request.image)
    tile = request.tiling.tile_size or spec.input_size
    return scale, plan_grid(metadata['sizeX'], metadata['sizeY'], tile,
                            request.tiling.stride or tile, scale.factor)
