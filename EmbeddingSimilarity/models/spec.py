"""The record that describes one embedding model: what to load and how its authors embed a tile.

A :class:`ModelSpec` holds facts only; loading lives in :mod:`.loaders`. That split (as in timm's
``pretrained_cfg``) keeps the registry cheap to import and lets tests build every architecture
without weights.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

Source = Literal['timm', 'transformers', 'local', 'factory']
Pooling = Literal['cls', 'mean', 'cls+mean', 'pooler', 'gap', 'model']
Precision = Literal['fp32', 'fp16', 'bf16']

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
}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to load one model and embed a tile exactly as its authors do."""

    name: str
    """Short name used on the command line and in the XML enumeration."""
    source: Source
    """Which loader builds it: ``timm`` (``hf_hub:`` id, a built-in architecture or
    ``local-dir:``), ``transformers`` (``AutoModel``), ``local`` (a folder holding a timm
    ``config.json`` + weights), or ``factory`` (a Python callable: bundled weights, plugins)."""
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
    without the hub."""
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
    def scale_text(self) -> str:
        if self.mpp:
            return '%.2f µm/px' % self.mpp
        if self.magnification:
            return '%gx' % self.magnification
        return 'unknown'
