"""Records of the encoders peers load that the main catalogue lacked: mSTAR, RudolfV-2 (-B, -S),
CRISP, CROWN, Mascaret, Phaet, EXAONEPath, ConceptCLIP, the original CTransPath and Path
Foundation. Data only; each fact names its source as in :mod:`.catalog`.

Most of these are read from github.com/rendeirolab/lazyslide-models (``src/lazyslide_models/``),
whose loaders read the authors' cards; where LazySlide runs the repository's own Python code
(RudolfV-2, Mascaret, Phaet, ConceptCLIP) the record says so and the model loads only with
``--trust-remote-code true``.
"""

from __future__ import annotations

from .spec import ASSUMED, HALF_MEAN, HALF_STD, IMAGENET_MEAN, IMAGENET_STD, ModelSpec

LAZYSLIDE = 'https://github.com/rendeirolab/lazyslide-models/blob/main/src/lazyslide_models/'
SWIGLU = 'import:timm.layers.SwiGLUPacked'
SILU = 'import:torch.nn.SiLU'
NO_TEXT = 'n/a: an image encoder; its authors publish no text tower with these weights'
PYPI_ONLY = ("n/a: needs only this package's dependencies (timm, transformers, torch), as the "
             "reference loads it")
SCALE_20X = ': its card and peer loaders state no µm/px; 20x (0.5 µm/px) used'
TRIDENT_PIP = 'pip install git+https://github.com/mahmoodlab/TRIDENT.git'

MSTAR = LAZYSLIDE + 'vision/mstar.py'
RUDOLFV = LAZYSLIDE + 'vision/rudolfv.py'
CRISP = LAZYSLIDE + 'vision/crisp.py'
CROWN = LAZYSLIDE + 'vision/crown.py'
WAIV = LAZYSLIDE + 'vision/waiv.py'
CONCEPTCLIP = LAZYSLIDE + 'multimodal/conceptclip.py'
EXAONEPATH_README = 'https://github.com/LG-AI-EXAONE/EXAONEPath/blob/main/README.md'
RUDOLFV_NORM = (ASSUMED + ': ImageNet statistics at 224 px; LazySlide (' + RUDOLFV + ') applies '
                'the repository\'s AutoImageProcessor, whose cached preprocessor_config.json '
                'is compared with the record at load and wins')

RUDOLFV_TOKENS = ('https://huggingface.co/Aignostics/RudolfV-2 (793 output tokens at 224 px: 1 '
                  'class + 8 register tokens before the patches); ')
DISTILLED_TOKENS = (ASSUMED + ': 1 class + 8 register tokens as RudolfV-2 (the distilled '
                    'models\' counts are not read here; they matter only to --pooling mean); ')


def _rudolfv(name: str, repo: str, dim: int, shape: str, tokens: str) -> ModelSpec:
    """Aignostics' RudolfV-2 family: remote code only (modeling_rudolfv.py), class token."""
    return ModelSpec(
        name=name, source='transformers', repo_id=repo, needs_remote_code=True,
        repo_source=RUDOLFV + ' (%s)' % repo,
        code_source=RUDOLFV + ' (AutoModel, trust_remote_code=True: modeling_rudolfv.py)',
        text_source=NO_TEXT, embed_dim=dim, input_size=224, mean=IMAGENET_MEAN,
        std=IMAGENET_STD, pooling='cls', num_prefix_tokens=9, mpp=0.5, magnification=20.0,
        precision='fp32', gated=True, license='CC-BY-NC-ND-4.0 with supplementary terms',
        reference=tokens + RUDOLFV + ' (%s; last_hidden_state[:, 0], %d-d; fp32 as LazySlide '
                                     'runs it)' % (shape, dim),
        norm_source=RUDOLFV_NORM, scale_source=ASSUMED + SCALE_20X,
        license_source=RUDOLFV + ' (is_gated=True, CC-BY-NC-ND-4.0 with supplementary terms)')


def _waiv(name: str, repo: str, dim: int, base: str, mean: tuple, std: tuple) -> ModelSpec:
    """Waiv's robustness-finetuned encoders: remote code (modeling_finetuned_encoder.py)."""
    return ModelSpec(
        name=name, source='transformers', repo_id=repo, needs_remote_code=True,
        repo_source=WAIV + ' (%s)' % repo,
        code_source=WAIV + ' (AutoModel, trust_remote_code=True: FinetunedEncoderModel)',
        text_source=NO_TEXT, embed_dim=dim, input_size=224, mean=mean, std=std,
        pooling='pooler', num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32',
        gated=True, license='Waiv non-commercial licence',
        reference=WAIV + ' (pooler_output: the L2-normalised class token, %d-d; DINOv2 '
                         'fine-tuned from %s)' % (dim, base),
        norm_source=WAIV + ' (Resize 224 bicubic, CenterCrop 224; config.pixel_mean/std: '
                           '0.5 for mascaret, ImageNet for phaet)',
        scale_source=ASSUMED + ': fine-tuned from %s; 0.5 µm/px used as for it' % base,
        license_source=WAIV + ' (is_gated=True; https://huggingface.co/%s/blob/main/'
                              'LICENSE.pdf)' % repo)


PEER_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name='mSTAR', source='timm', repo_id='Wangyh/mSTAR', repo_source=MSTAR,
        code_source=PYPI_ONLY, text_source=NO_TEXT, architecture='vit_large_patch16_224',
        model_kwargs=dict(init_values=1e-5, dynamic_img_size=True),
        architecture_kwargs=dict(img_size=224, patch_size=16),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='model',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        license='CC-BY-NC-ND-4.0',
        reference=MSTAR + ' (timm hf-hub:Wangyh/mSTAR, init_values 1e-5, dynamic_img_size; '
                          'encode_image = model(image), 1024-d, run in float32)',
        norm_source=LAZYSLIDE + '_utils.py (get_default_transform, which mSTAR uses: Resize '
                                '224 bicubic, CenterCrop 224, ImageNet mean/std)',
        scale_source=ASSUMED + SCALE_20X,
        license_source=MSTAR + ' (is_gated=True, CC-BY-NC-ND-4.0)'),
    _rudolfv('RudolfV-2', 'Aignostics/RudolfV-2', 1536, 'ViT-g/8', RUDOLFV_TOKENS),
    _rudolfv('RudolfV-2-B', 'Aignostics/RudolfV-2-B', 768, 'ViT-B/8', DISTILLED_TOKENS),
    _rudolfv('RudolfV-2-S', 'Aignostics/RudolfV-2-S', 384, 'ViT-S/8', DISTILLED_TOKENS),
    ModelSpec(
        name='CRISP', source='timm', repo_id='FTZhou/CRISP', weights_file='CRISP.pth',
        weights_transform='lora-merge:2.0', repo_source=CRISP + ' (FTZhou/CRISP, CRISP.pth)',
        code_source=CRISP + ' (the LoRA is merged into the weights at load: peft is not needed)',
        text_source=NO_TEXT, architecture='vit_huge_patch14_224',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU, dynamic_img_size=True),
        architecture_kwargs=dict(img_size=224, init_values=1e-5, mlp_ratio=5.3375,
                                 global_pool='', reg_tokens=4),
        embed_dim=2560, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
        pooling='cls+mean', num_prefix_tokens=5, mpp=0.5, magnification=20.0,
        precision='fp16', gated=True,
        license='MIT (CRISP card); CC-BY-NC-ND-4.0 (the Virchow2 weights it ships)',
        reference=CRISP + ' (Virchow2\'s network, LoRA r 8 / alpha 16 folded in: W + 2 B A; '
                          'class token + mean of patch tokens, 2560-d, as Virchow2; fp16 as '
                          'Virchow2)',
        norm_source=CRISP + ' (Virchow2\'s transform: ImageNet mean/std at 224 px)',
        scale_source=ASSUMED + ': Virchow2\'s scale (mixed magnifications, arXiv 2408.00738); '
                               'frozen sections, 20x used',
        license_source=CRISP + ' (is_gated=True; licence MIT per https://huggingface.co/FTZhou/'
                               'CRISP and CC-BY-NC-ND-4.0 per https://huggingface.co/paige-ai/'
                               'Virchow2: both shown, non-commercial followed)',
        notes='Frozen-section (intraoperative) pathology.'),
    ModelSpec(
        name='CROWN', source='timm', repo_id='LexieK/Crown', weights_file='CROWN.pth',
        weights_transform='dinov2-chunks', repo_source=CROWN + ' (LexieK/Crown, CROWN.pth)',
        code_source=PYPI_ONLY, text_source=NO_TEXT, architecture='vit_large_patch16_224',
        model_kwargs=dict(mlp_layer=SWIGLU, act_layer=SILU),
        architecture_kwargs=dict(img_size=224, init_values=1.0, mlp_ratio=5472 / 1024),
        embed_dim=1024, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        license='Apache-2.0',
        reference=CROWN + ' (DINOv2 ViT-L/16, fused SwiGLU 2 x 2736, block_chunks renamed to '
                          'timm\'s; the normalised class token, 1024-d; run in float32)',
        norm_source=CROWN + ' (its eval scripts: Resize 224 bilinear, CenterCrop 224, ImageNet '
                            'mean/std)',
        scale_source=ASSUMED + ': cytology patches; no µm/px stated by its card or LazySlide; '
                               '0.5 µm/px used',
        license_source=CROWN + ' (is_gated=True, Apache-2.0)',
        notes='Cytology, not histology.'),
    _waiv('Mascaret', 'wearewaiv/mascaret', 1536, 'kaiko-ai/midnight', HALF_MEAN, HALF_STD),
    _waiv('Phaet', 'wearewaiv/phaet', 1024, 'owkin/phikon-v2', IMAGENET_MEAN, IMAGENET_STD),
    ModelSpec(
        name='EXAONEPath', source='timm', repo_id='LGAI-EXAONE/EXAONEPath',
        weights_file='model.safetensors',
        repo_source=ASSUMED + ': weights file model.safetensors, which huggingface_hub\'s '
                              'PyTorchModelHubMixin writes for VisionTransformer.from_pretrained('
                              '"LGAI-EXAONE/EXAONEPath") in ' + EXAONEPATH_README,
        code_source='n/a: its DINO ViT-B/16 uses timm\'s parameter names, so its weights load '
                    'into timm vit_base_patch16_224 without the repository\'s code',
        text_source=NO_TEXT, architecture='vit_base_patch16_224',
        embed_dim=768, input_size=224, mean=IMAGENET_MEAN, std=IMAGENET_STD, pooling='cls',
        num_prefix_tokens=1, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        license='EXAONEPath licence (other)',
        reference=EXAONEPATH_README + ' (DINO ViT-B/16, 86M parameters; model(x) = the '
                                      'normalised class token, 768-d; float32)',
        norm_source=EXAONEPATH_README + ' (Resize 256 bicubic, CenterCrop 224, ImageNet '
                                        'mean/std, after Macenko stain normalisation)',
        scale_source=ASSUMED + SCALE_20X,
        license_source=EXAONEPATH_README + ' (license: other, license_name exaonepath); gated '
                                           'per github.com/birkhoffkiki/PathBench README',
        notes='Its card stain-normalises tiles (Macenko) before the transform; this tool does '
              'not.'),
    ModelSpec(
        name='ConceptCLIP', source='transformers', repo_id='JerrryNie/ConceptCLIP',
        needs_remote_code=True, repo_source=CONCEPTCLIP + ' (JerrryNie/ConceptCLIP)',
        code_source=CONCEPTCLIP + ' (AutoModel, trust_remote_code=True)',
        text_source='n/a: its PubMedBERT text tower (' + CONCEPTCLIP + ', encode_text) is not '
                    'driven yet: no text queries',
        embed_dim=1152, input_size=384, mean=HALF_MEAN, std=HALF_STD, pooling='projection',
        num_prefix_tokens=0, mpp=0.5, magnification=20.0, precision='fp32', gated=True,
        license='MIT',
        reference=CONCEPTCLIP + ' (SigLIP so400m image encoder; encode_image(x)[0], 1152-d)',
        norm_source=CONCEPTCLIP + ' (the repository\'s SiglipImageProcessor: 384 x 384 bicubic, '
                                  '0.5/0.5)',
        scale_source=ASSUMED + ': biomedical images of ten modalities, no µm/px; 20x used',
        license_source=CONCEPTCLIP + ' (is_gated=True: an acknowledgement; weights MIT)',
        notes='A biomedical (not pathology-only) vision-language model.'),
    ModelSpec(
        name='CTransPath', source='factory',
        repo_id='EmbeddingSimilarity.models.external:ctranspath_transpath',
        repo_source='n/a: a factory model; its loader (EmbeddingSimilarity/models/external.py) '
                    'reads jamesdolezal/CTransPath ctranspath.pth, the hub mirror of the release '
                    'at https://github.com/Xiyue-Wang/TransPath',
        code_source='https://github.com/Xiyue-Wang/TransPath (the timm fork timm-0.5.4 it '
                    'needs); TRIDENT\'s copy of the network (trident/patch_encoder_models/'
                    'model_zoo/ctranspath)',
        text_source=NO_TEXT, embed_dim=768, input_size=224, mean=IMAGENET_MEAN,
        std=IMAGENET_STD, pooling='model', num_prefix_tokens=0, mpp=256 / 224,
        magnification=8.75,
        precision='fp32', license='GPL-3.0',
        requires={'timm_ctp': 'pip install timm-ctp==0.5.4', 'trident': TRIDENT_PIP},
        reference='https://github.com/Xiyue-Wang/TransPath (get_features_CTransPath.py: '
                  'ctranspath(), head = Identity, 768-d); ' + LAZYSLIDE + 'vision/ctranspath.py',
        norm_source='https://github.com/Xiyue-Wang/TransPath (get_features_CTransPath.py: '
                    'Resize 224, ImageNet mean/std)',
        scale_source=ASSUMED + ': CTransPath-CHIEF\'s scale (256 px at 10x resized to 224, '
                               'github.com/mahmoodlab/TRIDENT README); not read for TransPath',
        license_source=LAZYSLIDE + 'vision/ctranspath.py (GPL-3.0; no gate)',
        notes='The TransPath release, not CHIEF\'s further-trained CTransPath-CHIEF.'),
    ModelSpec(
        name='Path-Foundation', source='factory',
        repo_id='EmbeddingSimilarity.models.external:path_foundation',
        repo_source='n/a: a factory model; its loader (EmbeddingSimilarity/models/external.py) '
                    'reads google/path-foundation (https://huggingface.co/google/path-foundation)',
        code_source='https://huggingface.co/google/path-foundation (a TensorFlow SavedModel: '
                    'from_pretrained_keras needs tensorflow)',
        text_source=NO_TEXT, embed_dim=384, input_size=224, mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0), pooling='model', num_prefix_tokens=0, mpp=0.5,
        magnification=20.0, precision='fp32', gated=True,
        license='Health AI Developer Foundations terms',
        requires={'tensorflow': 'pip install tensorflow tf-keras'},
        reference='https://huggingface.co/google/path-foundation (ViT-S/16, 384-d embedding '
                  'from the serving_default signature)',
        norm_source='https://huggingface.co/google/path-foundation (224 x 224 RGB scaled to '
                    '[0, 1]: no mean/std)',
        scale_source=ASSUMED + ': trained at several magnifications per its card; 20x used',
        license_source='https://developers.google.com/health-ai-developer-foundations/terms '
                       '(the hub asks to accept them: gated)'),
)
