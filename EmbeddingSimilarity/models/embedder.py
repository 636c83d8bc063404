"""The torch side of a model: pooling backbone features and the :class:`Embedder` module.

Kept apart from :mod:`.loaders` so that importing the loaders (as a cached query does) never
imports torch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .spec import ModelSpec


def pool_features(features: torch.Tensor, pooling: str, num_prefix_tokens: int) -> torch.Tensor:
    """Pool backbone features into one vector per tile.

    ``features`` is ``(N, T, C)`` for transformers (prefix tokens first) or ``(N, C, H, W)`` for
    CNNs. Register tokens sit between the class token and the patch tokens, so ``mean`` skips
    ``num_prefix_tokens`` leading tokens.
    """
    if features.ndim == 4:
        if pooling not in ('gap', 'model', 'mean'):
            raise ValueError('pooling %r needs token features; this model gives a feature map'
                             % pooling)
        return features.mean(dim=(2, 3))
    if features.ndim != 3:
        raise ValueError('unexpected feature shape %s' % (tuple(features.shape),))
    if pooling == 'cls':
        return features[:, 0]
    patch_mean = features[:, num_prefix_tokens:].mean(dim=1)
    if pooling in ('mean', 'gap'):
        return patch_mean
    if pooling == 'cls+mean':
        return torch.cat([features[:, 0], patch_mean], dim=1)
    raise ValueError('unknown pooling %r' % pooling)


class Embedder(nn.Module):
    """Backbone plus pooling: normalised batch in, ``(N, D)`` embeddings out."""

    def __init__(self, backbone: nn.Module, spec: ModelSpec,
                 features: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.backbone = backbone
        self.spec = spec
        self._features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._features(self.backbone, x)
