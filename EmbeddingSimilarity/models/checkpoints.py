"""Plain checkpoint files read as tensors only, and the renames that map an authors' checkpoint
onto the timm network a record builds (``ModelSpec.weights_transform``).

Each transform is a pure function of a state dict, written from what the authors' release and
the peers' loaders show (no code is taken from the checkpoint itself):

* ``lora-merge:<scale>``: a peft LoRA state dict (``base_model.model.`` prefix, ``base_layer``
  weights, ``lora_A`` / ``lora_B``) folded into plain weights, ``W + scale * B @ A``
  (CRISP: r 8, alpha 16, so scale 2; github.com/rendeirolab/lazyslide-models vision/crisp.py).
* ``dinov2-chunks``: DINOv2's ``block_chunks`` layout (``blocks.<chunk>.<i>.``) flattened to
  ``blocks.<i>.``; timm's own filter then renames the fused SwiGLU and drops ``mask_token``
  (CROWN; lazyslide-models vision/crown.py).
* ``keep-visual``: KEEP's image tower and head (``visual.``, ``visual_head.``) with its renamed
  LayerScale parameter (``.ls1.weight`` -> ``.ls1.gamma``); the text tower is left out
  (lazyslide-models multimodal/keep.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

StateDict = dict[str, 'torch.Tensor']


def read_state_dict(path: str) -> StateDict:
    """Tensors from a ``.safetensors`` or a torch file (``weights_only``: no pickled code runs);
    a ``state_dict`` / ``model`` entry that holds the tensors is unwrapped."""
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file

        return load_file(path)
    import torch

    state = torch.load(path, map_location='cpu', weights_only=True)
    for key in ('state_dict', 'model'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return state


def merge_lora(state: StateDict, scale: float) -> StateDict:
    """Fold a peft LoRA state dict into its base weights: ``W + scale * B @ A``."""
    prefix = 'base_model.model.'
    merged: StateDict = {}
    for full, tensor in state.items():
        key = full.removeprefix(prefix)
        if '.lora_' in key:
            continue
        if '.base_layer.' in key:
            module, param = key.split('.base_layer.')
            key = '%s.%s' % (module, param)
            if param == 'weight':
                down = state['%s%s.lora_A.default.weight' % (prefix, module)]
                up = state['%s%s.lora_B.default.weight' % (prefix, module)]
                merged[key] = tensor + scale * (up @ down)
                continue
        merged[key] = tensor
    return merged


def flatten_block_chunks(state: StateDict) -> StateDict:
    """DINOv2's ``blocks.<chunk>.<i>.`` names as ``blocks.<i>.`` (timm's layout)."""
    return {re.sub(r'^blocks\.\d+\.(\d+)\.', r'blocks.\1.', key): value
            for key, value in state.items()}


def keep_visual(state: StateDict) -> StateDict:
    """KEEP's image tower and projection head, LayerScale named as timm names it."""
    return {key.replace('.ls1.weight', '.ls1.gamma').replace('.ls2.weight', '.ls2.gamma'): value
            for key, value in state.items() if key.startswith(('visual.', 'visual_head.'))}


def transform(state: StateDict, name: str | None) -> StateDict:
    """``state`` mapped by the transform a record names (None: unchanged)."""
    if not name:
        return state
    kind, _, argument = name.partition(':')
    if kind == 'lora-merge':
        return merge_lora(state, float(argument))
    if kind == 'dinov2-chunks':
        return flatten_block_chunks(state)
    if kind == 'keep-visual':
        return keep_visual(state)
    raise ValueError('unknown weights transform %r' % name)


def load_into(model: torch.nn.Module, path: str, weights_transform: str | None,
              prefix: str = '') -> None:
    """Load ``path`` into ``model`` (strict), after the record's transform; timm's filter maps
    DINOv2-style names and resamples position embeddings of a ViT. ``prefix`` picks the
    entries of one sub-module (e.g. ``visual.``) for a trunk built alone."""
    from timm.models.vision_transformer import checkpoint_filter_fn

    state = transform(read_state_dict(path), weights_transform)
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if hasattr(model, 'pos_embed'):
        state = checkpoint_filter_fn(state, model)
    model.load_state_dict(state, strict=True)
