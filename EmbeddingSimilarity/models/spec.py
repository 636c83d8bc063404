"""The record that describes one embedding model: what to load and how its authors embed a tile.

A :class:`ModelSpec` holds facts only; loading lives in :mod:`.loaders`. That split (as in timm's
``pretrained_cfg``) keeps the registry cheap to import and lets tests build every architecture
without weights.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

Source = Literal['timm', 'transformers', 'local', 'factory', 'open_clip', 'rebuilt']
Pooling = Literal['cls', 'mean', 'cls+mean', 'pooler', 'gap', 'model', 'projection']
Precision = Literal['fp32', 'fp16', 'bf16']
TextTower = Literal['transformers', 'open_clip', 'bert', 'external']

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF_MEAN = (0.5, 0.5, 0.5)
HALF_STD = (0.5, 0.5, 0.5)

LAYOUTS = ('auto', 'channels_last', 'contiguous')
"""Memory layouts of the model input: auto = channels_last for convolutional models."""

POOLING_RULES: dict[str, str] = {
    'cls': 'the class token',
    'mean': 'the mean of the patch tokens (prefix and register tokens skipped)',
    'cls+mean': 'the class token concatenated with the mean of the patch tokens',
    'pooler': "the transformers model's pooler_output",
    'gap': 'global average pooling of the last feature map',
    'model': "the model's own pooled output (timm forward_head(pre_logits=True))",
    'projection': "a vision-language model's projected image embedding (CLIP image_embeds, "
                  "open_clip encode_image): the space its text queries share",
}
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
ASSUMED = 'assumed'
PATHOLOGY_TEMPLATES = ('{}.', 'a photomicrograph showing {}.', 'a photomicrograph of {}.',
                       'an image of {}.', 'an image showing {}.', 'an example of {}.',
                       '{} is shown.', 'this is {}.', 'there is {}.',
                       'a histopathological image showing {}.', 'a histopathological image of {}.',
                       'a histopathological photograph of {}.')
"""The zero-shot prompt templates of CONCH (MahmoodLab/CONCH prompts/*.json), used for the
CLIP-style pathology models whose authors publish no templates of their own."""
PLIP_TEMPLATES = ('an H&E image of {}.',)
"""PLIP's zero-shot prompt (Huang et al. 2023, Nat. Med.: "an H&E image of {class}")."""


SOURCE_PREFIXES = ('https://', 'github.com/', 'arXiv ', 'EmbeddingSimilarity/', "timm's ")
"""How a source begins: a URL, a repository path, a paper, or this package's code."""
NOT_APPLICABLE = 'n/a'
"""A source field whose facts are absent (no repository, no text tower, nothing to install):
written ``'n/a: why'``; refused where the record states such a fact."""
MIN_REASON = 12
"""An 'assumed' or 'n/a' needs a reason of at least this many characters after the colon."""
FACT_SOURCES: dict[str, tuple[str, ...]] = {
    'repo_source': ('repo_id', 'weights_file'),
    'reference': ('architecture', 'pooling', 'embed_dim', 'num_prefix_tokens', 'precision'),
    'scale_source': ('mpp', 'magnification'),
    'norm_source': ('mean', 'std', 'input_size'),
    'license_source': ('license', 'gated'),
    'code_source': ('requires', 'needs_remote_code'),
    'text_source': ('text_tower', 'prompt_templates'),
}
"""Which field names the source of which facts: every fact of a record has one, written in the
record (an empty field is unsourced; there is no default source)."""


def _reasoned(text: str, word: str) -> bool:
    head, colon, reason = text.partition(':')
    return head.strip() == word and bool(colon) and len(reason.strip()) >= MIN_REASON


def is_assumed(text: str) -> bool:
    """True when ``text`` says 'assumed: <reason>' (a fact no primary source states)."""
    return _reasoned(text, ASSUMED)


def is_source(text: str) -> bool:
    """True when ``text`` names a source, or says 'assumed: <reason>' or 'n/a: <reason>'; a
    bare 'assumed', an empty text or prose that names nothing is refused."""
    text = (text or '').strip()
    if text.startswith(SOURCE_PREFIXES):
        return True
    return is_assumed(text) or _reasoned(text, NOT_APPLICABLE)


def _absent(spec: ModelSpec, field: str) -> bool:
    """True when the facts ``field`` sources are absent, so 'n/a' may stand for them."""
    if field == 'repo_source':
        return spec.repo_id is None or spec.source == 'factory'
    if field == 'code_source':
        return not spec.requires and not spec.needs_remote_code
    if field == 'text_source':
        return spec.text_tower is None and spec.prompt_templates == ('{}',)
    return False


def unsourced_facts(spec: ModelSpec) -> list[str]:
    """The facts of ``spec`` whose source field is empty, names no source, or says 'n/a' for
    facts the record states."""
    missing = []
    for field, facts in FACT_SOURCES.items():
        text = (getattr(spec, field) or '').strip()
        if not is_source(text) or (_reasoned(text, NOT_APPLICABLE) and not _absent(spec, field)):
            missing.extend(facts)
    return missing


def assumed_facts(spec: ModelSpec) -> list[str]:
    """The fact groups of ``spec`` that no primary source states (their source says
    'assumed: ...'), named as the docs table shows them."""
    return [LABELS[field] for field in FACT_SOURCES if is_assumed(getattr(spec, field) or '')]


LABELS = {'repo_source': 'repository', 'reference': 'recipe', 'scale_source': 'scale',
          'norm_source': 'normalisation', 'license_source': 'licence',
          'code_source': 'requirements', 'text_source': 'text tower'}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to load one model and embed a tile exactly as its authors do."""

    name: str
    """Short name used on the command line and in the XML enumeration."""
    source: Source
    """Which loader builds it: ``timm`` (``hf_hub:`` id, a built-in architecture or
    ``local-dir:``), ``transformers`` (``AutoModel``), ``local`` (a folder holding a timm
    ``config.json`` + weights), ``factory`` (a Python callable: bundled weights, plugins), or
    ``rebuilt`` (a timm trunk + the authors' head from a hub repository's config and weights,
    without its code: :mod:`.rebuilt`)."""
    embed_dim: int
    """Length of the pooled embedding (after pooling, e.g. 2x width for ``cls+mean``)."""
    repo_id: str | None = None
    """Hub repository (``ORG/NAME``), local folder, or ``module:function`` for ``factory``."""
    revision: str | None = None
    """Pinned hub revision where known (None = the repository's default branch)."""
    architecture: str | None = None
    """timm architecture used to build the network without weights (meta-device checks)."""
    model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Constructor arguments the authors pass when loading, e.g. ``{'init_values': 1e-5}``.
    A string value ``'import:package.Name'`` stands for that imported object (e.g. timm's
    ``SwiGLUPacked``), so the catalog imports nothing heavy."""
    architecture_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Arguments that the hub's config.json supplies at load time, needed to build the same
    network from ``architecture`` without weights."""
    hf_config: dict[str, Any] = dataclasses.field(default_factory=dict)
    """For transformers models: the configuration (``model_type`` + sizes) to build the network
    without the hub; for an open_clip model whose config is not one of open_clip's own, the
    hub's ``model_cfg`` (``embed_dim`` + ``vision_cfg``), from which the image tower is built."""
    input_size: int = 224
    """Side of the square input in pixels at the model's scale."""
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    pooling: Pooling = 'cls'
    num_prefix_tokens: int = 1
    """Class + register tokens in front of the patch tokens (skipped by ``mean`` pooling)."""
    mpp: float | None = 0.5
    """Native micrometres per pixel the model was trained at (None = unknown)."""
    magnification: float | None = 20.0
    """Native objective magnification, used when a slide has no µm/px."""
    precision: Precision = 'fp32'
    """Preferred precision on an accelerator; the CPU uses bf16 only where it is listed."""
    gated: bool = False
    """True when the hub asks users to accept a licence before download."""
    license: str = 'unknown'
    reference: str = ''
    """Where the facts above come from (model card, paper or the authors' code)."""
    notes: str = ''
    needs_remote_code: bool = False
    """The model only loads with the repository's own Python code (``trust_remote_code``)."""
    trust_remote_code: bool = False
    """Only ever True when the user asks for it explicitly; never in a shipped record."""
    scale_source: str = ''
    """Where ``mpp``/``magnification`` come from (a URL), or ``'assumed: why'``; where the
    authors trained at several magnifications, the text says so. Empty = unsourced."""
    norm_source: str = ''
    """Where ``mean``/``std`` (and the input size) come from (a URL or file), or
    ``'assumed: why'``. A cached hub config that states them is compared with the record at load
    time. Empty = unsourced."""
    license_source: str = ''
    """Where ``license`` and ``gated`` come from (the card's metadata, a LICENSE file), or
    ``'assumed'``; empty = unsourced, which the registry test refuses."""
    requires: dict[str, str] = dataclasses.field(default_factory=dict)
    """Python modules the model needs beyond this package's dependencies: import name -> how to
    install it. The model refuses to load, with that line, until each one imports."""
    repo_source: str = ''
    """Where ``repo_id`` (and ``weights_file``) come from: the card or code that names the
    repository; ``'n/a: why'`` for a factory model. Empty = unsourced."""
    code_source: str = ''
    """Where ``requires`` and ``needs_remote_code`` come from (the loader that needs that code, or
    one that builds the model without it); ``'n/a: why'`` when nothing beyond this package's
    dependencies is needed. Empty = unsourced."""
    text_source: str = ''
    """Where ``text_tower`` and ``prompt_templates`` come from; ``'n/a: why'`` for an image
    encoder with no text tower. Empty = unsourced."""
    config_norm_note: str = ''
    """Why the record's mean/std stand even where the cached hub config states others (a hub
    config copied from another model's template); empty = the cached config wins."""
    weights_transform: str | None = None
    """How ``weights_file`` maps onto ``architecture`` (see :mod:`.checkpoints`), e.g.
    ``'lora-merge:2.0'`` (a peft LoRA folded into its base weights) or ``'dinov2-to-timm'``."""
    weights_file: str | None = None
    """A plain state-dict file in the hub repository (for repositories that are not in timm or
    transformers format); loaded with ``weights_only=True`` into ``architecture``."""
    hf_class: str | None = None
    """transformers class to load instead of ``AutoModel`` (e.g. the image tower of a CLIP
    model: ``CLIPVisionModelWithProjection``)."""
    text_tower: TextTower | None = None
    """How the text tower of a vision-language model loads (see :mod:`.text`): ``transformers``
    (``CLIPTextModelWithProjection`` and the repository's tokenizer), ``open_clip`` (the model's
    ``encode_text`` and tokenizer), ``bert`` (a BERT kept in the model's weights file, rebuilt
    from ``config.json``'s text_config: KEEP) or ``external`` (the authors' package, named in
    ``requires``); None = no text tower, so no text queries."""
    prompt_templates: tuple[str, ...] = ('{}',)
    """The authors' prompt templates (``{}`` = the user's words); a prompt's text embedding is
    the renormalised mean of its unit embeddings under every template."""

    def with_overrides(self, **changes: Any) -> ModelSpec:
        """A copy with some fields replaced (e.g. the user's choice of pooling)."""
        return dataclasses.replace(self, **changes)

    def with_pooling(self, pooling: str) -> ModelSpec:
        """A copy that pools by ``pooling``, with the embedding size that rule gives."""
        if pooling == self.pooling:
            return self
        return self.with_overrides(pooling=pooling, embed_dim=self.pooled_dim(pooling))

    def pooled_dim(self, pooling: str) -> int:
        """The embedding size under another pooling rule (the width doubles for cls+mean)."""
        from ..errors import InputError

        if pooling not in POOLING_RULES:
            raise InputError('unknown pooling %r; use one of %s'
                             % (pooling, ', '.join(POOLING_RULES)))
        if self.pooling == 'projection' or pooling == 'projection':
            if pooling != self.pooling:
                raise InputError('model %s gives %s; --pooling %s does not apply' % (
                    self.name, POOLING_RULES[self.pooling], pooling))
            return self.embed_dim
        if self.pooling in ('model', 'gap'):
            if pooling not in ('model', 'gap'):
                raise InputError('model %s gives one pooled vector; --pooling %s does not apply'
                                 % (self.name, pooling))
            return self.embed_dim
        if pooling in ('model', 'gap'):
            raise InputError('model %s has token features; use --pooling cls, mean, cls+mean or '
                             'pooler' % self.name)
        width = self.embed_dim // 2 if self.pooling == 'cls+mean' else self.embed_dim
        return 2 * width if pooling == 'cls+mean' else width

    @property
    def hub_file(self) -> str:
        """The file whose presence in the Hugging Face cache means the model is cached."""
        if self.weights_file:
            return self.weights_file
        return 'open_clip_config.json' if self.source == 'open_clip' else 'config.json'

    @property
    def scale_text(self) -> str:
        if self.mpp:
            return '%.2f µm/px' % self.mpp
        if self.magnification:
            return '%gx' % self.magnification
        return 'unknown'
