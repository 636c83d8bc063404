"""What a run asks of the grid: key shapes, text prompts, exemplar annotations, the scorer,
the similarity window and, for cluster maps, K and the seed."""

from __future__ import annotations

import dataclasses

from .shapes import Shape


@dataclasses.dataclass
class QueryOptions:
    """The question; key points and regions are base-image pixels."""

    keypoints: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    negative_keypoints: list[tuple[float, float]] = dataclasses.field(default_factory=list)
    key_regions: list[Shape] = dataclasses.field(default_factory=list)
    """Rectangles and polygons among the key shapes (the points are in ``keypoints``)."""
    negative_regions: list[Shape] = dataclasses.field(default_factory=list)
    positive_annotations: str = ''
    """Names of annotations (or element groups) on the image whose shapes are key shapes."""
    negative_annotations: str = ''
    text_queries: str = ''
    """Prompts (``;``-separated) for a vision-language model's text tower: positive key shapes
    in words."""
    negative_text_queries: str = ''
    label_prompts: str = ''
    """EmbeddingClusters: prompts (``;``-separated) that name each cluster by the best one."""
    scorer: str = 'prototype'
    threshold: float = 0.0
    aggregation: int = 1
    scaling: str = 'quantile'
    clusters: int = 0
    """EmbeddingClusters: K, or 0 to choose K by silhouette."""
    seed: int = 0

    @property
    def has_shapes(self) -> bool:
        """Whether the query names any key shape (exemplar annotations not yet resolved)."""
        return bool(self.keypoints or self.key_regions or self.positive_annotations.strip())

    @property
    def has_text(self) -> bool:
        """Whether the query names anything in words."""
        return bool(self.text_queries.strip() or self.negative_text_queries.strip())
