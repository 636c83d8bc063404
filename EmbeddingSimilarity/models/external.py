"""Models whose code is not on PyPI: CONCH v1 / v1.5, MUSK, CTransPath (TransPath and CHIEF),
GenBio-PathFM, and Path Foundation (TensorFlow).

Each factory follows TRIDENT's loader for that model (github.com/mahmoodlab/TRIDENT,
``trident/patch_encoder_models/load.py``) and returns a module mapping a normalised batch to
pooled embeddings. The records list what each one needs (``requires``); the loader refuses them,
with that line, before these imports run.
"""

from __future__ import annotations

import torch
from torch import nn


class _Encode(nn.Module):
    """Wraps a model whose image embedding comes from a call other than ``forward``."""

    def __init__(self, model: nn.Module, encode) -> None:
        super().__init__()
        self.model = model
        self._encode = encode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode(self.model, x)


def conch_v1(pretrained: bool = True) -> nn.Module:
    from conch.open_clip_custom import create_model_from_pretrained

    model, _ = create_model_from_pretrained(
        'conch_ViT-B-16', checkpoint_path='hf_hub:MahmoodLab/conch' if pretrained else None)
    return _Encode(model, lambda m, x: m.encode_image(x, proj_contrast=False, normalize=False))


def conch_v15(pretrained: bool = True) -> nn.Module:
    from trident.patch_encoder_models.model_zoo.conchv1_5.conchv1_5 import (
        create_model_from_pretrained,
    )

    model, _ = create_model_from_pretrained(checkpoint_path='hf_hub:MahmoodLab/conchv1_5',
                                            img_size=448)
    return model


def musk(pretrained: bool = True) -> nn.Module:
    import timm
    from musk import (
        modeling,  # noqa: F401  (registers musk_large_patch16_384 with timm)
        utils,
    )

    model = timm.create_model('musk_large_patch16_384')
    if pretrained:
        utils.load_model_and_may_interpolate('hf_hub:xiangjx/musk', model, 'model|module', '')
    return _Encode(model, lambda m, x: m(image=x, with_head=False, out_norm=False,
                                         ms_aug=False, return_global=True)[0])


def ctranspath(pretrained: bool = True) -> nn.Module:
    from huggingface_hub import hf_hub_download
    from trident.patch_encoder_models.model_zoo.ctranspath.ctran import ctranspath as build

    model = build(img_size=224)
    model.head = nn.Identity()
    if pretrained:
        path = hf_hub_download('MahmoodLab/hest-bench', 'CHIEF_CTransPath.pth',
                               subfolder='fm_v1/ctranspath', repo_type='dataset')
        state = torch.load(path, map_location='cpu', weights_only=True)['model']
        model.load_state_dict({k: v for k, v in state.items() if 'attn_mask' not in k},
                              strict=False)
    return model


def genbio_pathfm(pretrained: bool = True) -> nn.Module:
    """GenBio-PathFM through TRIDENT's copy of its code (GenBioPathFMInference: each RGB channel
    encoded alone, the three class tokens concatenated, 4608-d)."""
    from huggingface_hub import hf_hub_download
    from trident.patch_encoder_models.model_zoo.genbio_pathfm.genbio_pathfm import (
        GenBioPathFMInference,
    )

    path = hf_hub_download('genbio-ai/genbio-pathfm', 'model.pth') if pretrained else None
    return GenBioPathFMInference(path, device='cpu')


def ctranspath_transpath(pretrained: bool = True) -> nn.Module:
    """The original CTransPath (Wang et al. 2022, github.com/Xiyue-Wang/TransPath): TRIDENT's
    copy of the network with the TransPath release's ctranspath.pth, from the hub mirror
    jamesdolezal/CTransPath (tensors only)."""
    from huggingface_hub import hf_hub_download
    from trident.patch_encoder_models.model_zoo.ctranspath.ctran import ctranspath as build

    model = build(img_size=224)
    model.head = nn.Identity()
    if pretrained:
        path = hf_hub_download('jamesdolezal/CTransPath', 'ctranspath.pth')
        state = torch.load(path, map_location='cpu', weights_only=True)
        state = state.get('model', state)
        model.load_state_dict({k: v for k, v in state.items() if 'attn_mask' not in k},
                              strict=False)
    return model


def path_foundation(pretrained: bool = True) -> nn.Module:
    """Google's Path Foundation (a TensorFlow SavedModel on the hub): its serving signature
    maps 224-px RGB in [0, 1] (NHWC) to a 384-d embedding; wrapped as a torch module."""
    import numpy as np
    import tensorflow as tf
    from huggingface_hub import from_pretrained_keras

    infer = from_pretrained_keras('google/path-foundation').signatures['serving_default']

    class PathFoundation(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            nhwc = x.detach().float().permute(0, 2, 3, 1).cpu().numpy()
            out = infer(tf.constant(nhwc))
            values = next(iter(out.values())) if isinstance(out, dict) else out
            return torch.from_numpy(np.asarray(values)).to(x.device)

    return PathFoundation()
