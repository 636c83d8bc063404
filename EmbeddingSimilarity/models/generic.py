"""Specs for models the catalog does not list: ``timm:hf_hub:ORG/NAME``, ``hf:ORG/NAME``,
``local:/path/to/dir``.

The facts a grid needs before the model loads (embedding size, input size, normalisation) are
read from the model's own ``config.json`` (and ``preprocessor_config.json`` for transformers),
from the local folder or the Hugging Face cache, so an uncached model fails at once, offline.
"""

from __future__ import annotations

import json
import os
import re

from ..errors import InputError, ModelUnavailableError, first_line
from . import hub
from .spec import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, ModelSpec

PREFIXES = ('timm:', 'hf:', 'local:')


_PART = r'(?!.*(?:\.\.|--))[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,94}[A-Za-z0-9_])?'
_REPO_ID = re.compile(r'%s/%s' % (_PART, _PART))
"""ORG/NAME as the Hugging Face hub accepts it (no ``..``, ``--`` or leading/trailing ``.`` or
``-``), checked here so a bad id is one line, not the hub client's internal error."""


def is_generic(name: str) -> bool:
    return name.startswith(PREFIXES)


def _read_json(path: str) -> dict:
    """A model's JSON config; an unreadable or non-object one is one line naming the file."""
    try:
        with open(path) as handle:
            found = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelUnavailableError('%s is not a readable JSON config (%s); give the folder '
                                    'timm.models.save_for_hf or save_pretrained wrote'
                                    % (path, first_line(exc))) from None
    if not isinstance(found, dict):
        raise ModelUnavailableError('%s holds no JSON object; give the folder '
                                    'timm.models.save_for_hf or save_pretrained wrote' % path)
    return found


def _hub_file(spec_name: str, repo_id: str, filename: str, required: bool = True) -> str | None:
    """A file of a hub repository from the local cache, downloading only when the hub answers.

    ``hub.prepare`` fails at once, with one line, when the model is not cached and the hub is
    offline or unreachable; an optional file that is missing is None.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    repo_id = hub.prepare(spec_name, repo_id)
    try:
        return hf_hub_download(repo_id, filename)
    except LocalEntryNotFoundError as exc:  # a subclass of EntryNotFoundError: test it first
        if not required:
            return None
        raise ModelUnavailableError(
            'model %s: %s of %s is not in the Hugging Face cache (%s); %s' % (
                spec_name, filename, repo_id, hub.cache_dir(), hub.fill_hint(repo_id, False))
        ) from exc
    except EntryNotFoundError:
        if required:
            raise ModelUnavailableError('model %s: repository %s has no %s' % (
                spec_name, repo_id, filename)) from None
        return None
    except Exception as exc:  # gated / unauthorised / not found on the hub
        raise ModelUnavailableError('model %s: cannot read %s from %s (%s); check the repository '
                                    'id, accept its licence on the hub and set HF_TOKEN' % (
                                        spec_name, filename, repo_id, type(exc).__name__)) from exc


def _timm_spec(name: str, source: str, repo_id: str, config: dict) -> ModelSpec:
    cfg = config.get('pretrained_cfg') or config
    input_size = cfg.get('input_size') or [3, 224, 224]
    dim = config.get('num_features')
    if not dim:
        raise ModelUnavailableError('model %s: config.json of %s has no num_features; it is not a '
                                    'timm model config' % (name, repo_id))
    return ModelSpec(name=name, source=source, repo_id=repo_id,
                     architecture=config.get('architecture'), embed_dim=int(dim),
                     input_size=int(input_size[-1]),
                     mean=tuple(cfg.get('mean') or IMAGENET_MEAN),
                     std=tuple(cfg.get('std') or IMAGENET_STD), pooling='model',
                     num_prefix_tokens=0, license=str(cfg.get('license') or 'see model card'),
                     reference=repo_id, notes='generic timm model (scale assumed 20x)')


def _clip_spec(name: str, repo_id: str, config: dict, processor: dict) -> ModelSpec:
    """A transformers CLIP checkpoint: its projected image embedding, and its text tower."""
    vision = config.get('vision_config') or {}
    return ModelSpec(name=name, source='transformers', repo_id=repo_id,
                     hf_class='CLIPVisionModelWithProjection', text_tower='transformers',
                     embed_dim=int(config.get('projection_dim') or 512),
                     input_size=int(vision.get('image_size') or 224),
                     mean=tuple(processor.get('image_mean') or CLIP_MEAN),
                     std=tuple(processor.get('image_std') or CLIP_STD), pooling='projection',
                     num_prefix_tokens=1, license='see model card', reference=repo_id,
                     notes='generic CLIP model, projected image embedding (scale assumed 20x)')


def _transformers_spec(name: str, repo_id: str, config: dict, processor: dict) -> ModelSpec:
    if config.get('model_type') == 'clip':
        return _clip_spec(name, repo_id, config, processor)
    dim = config.get('hidden_size') or (config.get('hidden_sizes') or [None])[-1]
    if not dim:
        raise ModelUnavailableError('model %s: config.json of %s has no hidden_size' % (
            name, repo_id))
    size = processor.get('crop_size') or processor.get('size') or {}
    if isinstance(size, dict):
        size = size.get('height') or size.get('shortest_edge') or 224
    return ModelSpec(name=name, source='transformers', repo_id=repo_id, embed_dim=int(dim),
                     input_size=int(size),
                     mean=tuple(processor.get('image_mean') or IMAGENET_MEAN),
                     std=tuple(processor.get('image_std') or IMAGENET_STD), pooling='cls',
                     num_prefix_tokens=1, license='see model card', reference=repo_id,
                     notes='generic transformers model, CLS token (scale assumed 20x)')


def generic_spec(name: str) -> ModelSpec:
    """The spec for a ``timm:``, ``hf:`` or ``local:`` model name."""
    kind, _, rest = name.partition(':')
    if kind == 'local':
        folder = os.path.abspath(os.path.expanduser(rest))
        config_path = os.path.join(folder, 'config.json')
        if not os.path.isfile(config_path):
            raise ModelUnavailableError('model %s: %s has no config.json; give a folder written by '
                                        'timm.models.save_for_hf (config.json + '
                                        'model.safetensors)' % (name, folder))
        return _timm_spec(name, 'local', folder, _read_json(config_path))
    if kind == 'timm':
        repo_id = rest.split(':', 1)[1] if rest.startswith(('hf_hub:', 'hf-hub:')) else rest
        if not _REPO_ID.fullmatch(repo_id):
            raise InputError('model %s: use timm:hf_hub:ORG/NAME' % name)
        return _timm_spec(name, 'timm', repo_id, _read_json(_hub_file(name, repo_id,
                                                                      'config.json')))
    if kind == 'hf':
        if not _REPO_ID.fullmatch(rest):
            raise InputError('model %s: use hf:ORG/NAME' % name)
        processor_path = _hub_file(name, rest, 'preprocessor_config.json', required=False)
        processor = _read_json(processor_path) if processor_path else {}
        return _transformers_spec(name, rest, _read_json(_hub_file(name, rest, 'config.json')),
                                  processor)
    raise InputError('unknown model prefix in %r; use timm:hf_hub:ORG/NAME, hf:ORG/NAME or '
                     'local:/path' % name)
