"""Networks rebuilt from a hub repository's config and weights, without its Python code: a timm
trunk and the authors' projection head (``ModelSpec.source == 'rebuilt'``).

KEEP ships its network only as ``modeling_keep.py`` (remote code); its layout is a timm ViT-L/16
(``visual``), a Linear-GELU-Linear head (``visual_head``) and a BERT text tower, as
github.com/rendeirolab/lazyslide-models ``multimodal/keep.py`` rebuilds it. The image side is
rebuilt here from the record and the repository's ``config.json``; the weights load as tensors.
The image tower of an open_clip model whose config is not open_clip's own is built here too.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from .spec import ModelSpec


def _head(kind: str, width: int, dim: int) -> nn.Module:
    if kind == 'linear-gelu-linear':
        return nn.Sequential(nn.Linear(width, dim), nn.GELU(), nn.Linear(dim, dim))
    raise ValueError('unknown projection head %r' % kind)


class TrunkWithHead(nn.Module):
    """``visual_head(visual(x))``: the projected image embedding."""

    def __init__(self, visual: nn.Module, visual_head: nn.Module) -> None:
        super().__init__()
        self.visual = visual
        self.visual_head = visual_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual_head(self.visual(x))


def hub_shape(config_path: str | None) -> dict[str, Any]:
    """The trunk arguments and projection size a repository's ``config.json`` states."""
    if not config_path:
        return {}
    with open(config_path) as handle:
        config = json.load(handle)
    vision = config.get('vision_config') or {}
    shape: dict[str, Any] = {k: vision[k] for k in ('img_size', 'patch_size', 'init_values')
                             if k in vision}
    if config.get('projection_dim'):
        shape['projection_dim'] = int(config['projection_dim'])
    return shape


def trunk_with_head(spec: ModelSpec, kwargs: dict[str, Any],
                    config_path: str | None = None) -> TrunkWithHead:
    """The record's timm trunk and head; the hub config's shape wins where it states one."""
    import timm

    shape = {**spec.architecture_kwargs, **hub_shape(config_path)}
    dim = int(shape.pop('projection_dim', spec.hf_config.get('projection_dim', spec.embed_dim)))
    visual = timm.create_model(str(spec.architecture), pretrained=False, num_classes=0,
                               **{**kwargs, **shape})
    return TrunkWithHead(visual, _head(str(spec.hf_config.get('head')), visual.num_features,
                                       dim))


def open_clip_image_tower(spec: ModelSpec) -> nn.Module:
    """An open_clip model's image tower alone, as an ``encode_image`` module, from the hub's
    ``model_cfg`` the record holds (``hf_config``): its text tower is a transformers model that
    only the hub describes."""
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    config = dict(spec.hf_config)
    visual = _build_vision_tower(int(config['embed_dim']), CLIPVisionCfg(**config['vision_cfg']))

    class ImageTower(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual = visual

        def encode_image(self, x: torch.Tensor) -> torch.Tensor:
            return self.visual(x)

    return ImageTower()
