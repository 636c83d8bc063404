"""Build an :class:`Embedder` from a :class:`ModelSpec`.

An Embedder maps a normalised ``(N, 3, H, W)`` float batch to ``(N, D)`` pooled embeddings. Each
source (timm, transformers, a local folder, a Python factory) has one small builder here;
the pooling rules are shared.

torch is imported only by the functions that build a model (and by :mod:`.embedder`), so a
cached query, which needs none, never pays for it.
"""

from __future__ import annotations

import importlib
import os
import pickle
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ModelUnavailableError, first_line
from . import hub
from .spec import ModelSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

    from .embedder import Embedder


def __getattr__(name: str) -> Any:
    """``Embedder`` and ``pool_features`` live in :mod:`.embedder` (imported on first use)."""
    if name in ('Embedder', 'pool_features'):
        from . import embedder

        return getattr(embedder, name)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))


def _timm_features(spec: ModelSpec) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    from .embedder import pool_features

    if spec.pooling == 'model':
        return lambda model, x: model(x)
    if spec.model_kwargs.get('features_only'):
        # a truncated CNN (timm features_only): the last requested stage, average-pooled
        return lambda model, x: pool_features(model(x)[-1], spec.pooling, 0)

    def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return pool_features(model.forward_features(x), spec.pooling, spec.num_prefix_tokens)
    return features


def _transformers_features(spec: ModelSpec) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
    from .embedder import pool_features

    def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if spec.pooling == 'projection' and hasattr(model, 'encode_image'):
            # a remote-code vision-language model (ConceptCLIP returns a tuple: image first)
            out = model.encode_image(x)
            return out[0] if isinstance(out, (tuple, list)) else out
        out = model(pixel_values=x)
        if spec.pooling == 'pooler':
            return out.pooler_output
        if spec.pooling == 'projection':
            return out.image_embeds
        return pool_features(out.last_hidden_state, spec.pooling, spec.num_prefix_tokens)
    return features


def _hub_hint(spec: ModelSpec) -> str:
    return hub.fill_hint(spec.repo_id or spec.name, spec.gated)


def _explain_load_failure(spec: ModelSpec, exc: Exception) -> ModelUnavailableError:
    """Turn a hub/loader exception into one line naming the model, the repo and what to do."""
    text = first_line(exc) or type(exc).__name__
    name = type(exc).__name__
    repo = spec.repo_id or spec.architecture or spec.name
    if 'Gated' in name or '401' in text or '403' in text or 'gated' in text.lower():
        return ModelUnavailableError(
            'model %s (%s) is gated and the hub refused access: %s' % (
                spec.name, repo, _hub_hint(spec.with_overrides(gated=True))))
    if ('LocalEntryNotFound' in name or 'offline' in text.lower() or "couldn't connect" in text
            or 'cannot find the requested files' in text or 'does not appear to have' in text
            or 'No suitable checkpoints' in text or 'Config file not found' in text
            or 'no file named' in text):
        where = repo if spec.source != 'local' else 'folder %s' % repo
        return ModelUnavailableError(
            'model %s: weights for %s are not available locally (%s); %s' % (
                spec.name, where, text, _hub_hint(spec)))
    return ModelUnavailableError('model %s (%s) could not be loaded: %s: %s' % (
        spec.name, repo, name, text))


def check_requirements(spec: ModelSpec) -> None:
    """Refuse, with what to install, a model whose code is not on this machine."""
    missing = []
    for module, how in spec.requires.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append('%s (%s)' % (module, how))
    if missing:
        raise ModelUnavailableError('model %s needs code that is not installed: %s' % (
            spec.name, '; '.join(missing)))


def _hub_repo(spec: ModelSpec) -> str:
    """The repository id to load from (its cached spelling); fails at once when it cannot be
    had (offline or hub unreachable, and not cached)."""
    return hub.prepare(spec.name, str(spec.repo_id), spec.revision, spec.hub_file, spec.gated)


def resolved_revision(spec: ModelSpec) -> str | None:
    """The commit of a hub model's cached snapshot (what was actually loaded), if known."""
    if spec.source not in ('timm', 'transformers', 'open_clip', 'rebuilt') or not spec.repo_id:
        return None
    found = hub.cached_file(spec.repo_id, spec.hub_file, spec.revision)
    if not found:
        return None
    parts = os.path.normpath(found).split(os.sep)
    return parts[parts.index('snapshots') + 1] if 'snapshots' in parts else None


def resolve_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Replace ``'import:package.Name'`` values by the imported objects."""
    resolved = {}
    for key, value in kwargs.items():
        if isinstance(value, str) and value.startswith('import:'):
            module_name, _, attr = value[len('import:'):].rpartition('.')
            resolved[key] = getattr(importlib.import_module(module_name), attr)
        else:
            resolved[key] = value
    return resolved


def _build_timm(spec: ModelSpec, pretrained: bool) -> nn.Module:
    import timm

    if not pretrained or spec.weights_file:
        kwargs = resolve_kwargs({**spec.model_kwargs, **spec.architecture_kwargs})
        model = timm.create_model(spec.architecture or str(spec.repo_id), pretrained=False,
                                  num_classes=0, **kwargs)
        if pretrained:
            _load_weights_file(spec, model)
        return model

    if spec.source == 'local':
        model_id = 'local-dir:' + str(spec.repo_id)
        if not os.path.isdir(str(spec.repo_id)):
            raise ModelUnavailableError(
                'model %s: folder %s does not exist; give a folder holding config.json and '
                'model.safetensors' % (spec.name, spec.repo_id))
    elif spec.repo_id:
        model_id = 'hf_hub:' + _hub_repo(spec) + ('@' + spec.revision if spec.revision else '')
    else:
        model_id = spec.architecture or str(spec.repo_id)
    return timm.create_model(model_id, pretrained=True, num_classes=0,
                             **resolve_kwargs(spec.model_kwargs))


def _build_transformers(spec: ModelSpec, pretrained: bool) -> nn.Module:
    import transformers
    from transformers import AutoConfig

    model_class = getattr(transformers, spec.hf_class or 'AutoModel')
    if not pretrained and spec.hf_config:
        config = dict(spec.hf_config)
        config = AutoConfig.for_model(config.pop('model_type'), **config)
        if spec.hf_class:
            return model_class._from_config(config)
        return model_class.from_config(config)
    if spec.needs_remote_code and not spec.trust_remote_code:
        raise ModelUnavailableError(
            'model %s (%s) runs Python code from its hub repository; review it and pass '
            '--trust-remote-code true to allow it' % (spec.name, spec.repo_id))
    repo = _hub_repo(spec)
    kwargs = resolve_kwargs(spec.model_kwargs)
    if spec.hf_class:
        # the image tower of a vision-language checkpoint: its vision config, with the
        # projection size the full model states (the tower's own default may differ)
        with hub.quiet_transformers():
            full = AutoConfig.from_pretrained(repo, revision=spec.revision)
        vision = getattr(full, 'vision_config', None)
        if vision is not None:
            if getattr(full, 'projection_dim', None):
                vision.projection_dim = full.projection_dim
            kwargs['config'] = vision
    with hub.quiet_transformers():
        return model_class.from_pretrained(
            repo, revision=spec.revision, trust_remote_code=spec.trust_remote_code, **kwargs)


def _build_open_clip(spec: ModelSpec, pretrained: bool) -> nn.Module:
    """An open_clip model; its image tower is used (``encode_image``).

    Without weights, a record whose model config is not one of open_clip's own (``hf_config``
    holds the hub's ``model_cfg``) builds the image tower alone: the text tower of such a model
    is a transformers model that only the hub describes. ``weights_file`` names a checkpoint in
    a hub repository that has no open_clip config (loaded into ``architecture``, tensors only).
    """
    import open_clip
    import torch

    if not pretrained:
        if spec.hf_config:
            from .rebuilt import open_clip_image_tower

            return open_clip_image_tower(spec)
        device = torch.empty(0).device
        return open_clip.create_model(str(spec.architecture), pretrained=None, device=device)
    if spec.weights_file:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(_hub_repo(spec), spec.weights_file, revision=spec.revision)
        try:
            return open_clip.create_model(str(spec.architecture), pretrained=path, device='cpu',
                                          weights_only=True)
        except Exception as exc:  # pickle.UnpicklingError and friends: objects beyond tensors
            if 'weights_only' not in str(exc) and 'Unpickl' not in type(exc).__name__:
                raise
            raise ModelUnavailableError(
                'model %s: %s of %s holds Python objects besides tensors, which are never '
                'loaded (they can run code); convert it to a plain state dict (%s)' % (
                    spec.name, spec.weights_file, spec.repo_id, first_line(exc, 200))) from exc
    return open_clip.create_model('hf-hub:' + _hub_repo(spec), device='cpu')


def _load_weights_file(spec: ModelSpec, model: nn.Module, prefix: str = '') -> None:
    """A plain state dict from the hub repository into ``model`` (tensors only: no pickled
    code runs), mapped by the record's ``weights_transform`` (:mod:`.checkpoints`)."""
    from huggingface_hub import hf_hub_download

    from .checkpoints import load_into

    path = hf_hub_download(_hub_repo(spec), str(spec.weights_file), revision=spec.revision)
    try:
        load_into(model, path, spec.weights_transform, prefix)
    except pickle.UnpicklingError as exc:  # objects beyond tensors
        raise ModelUnavailableError(
            'model %s: %s of %s holds Python objects besides tensors, which are never loaded '
            '(they can run code); convert it to a plain state dict or safetensors (%s)' % (
                spec.name, spec.weights_file, spec.repo_id, first_line(exc, 200))
        ) from exc


def _build_rebuilt(spec: ModelSpec, pretrained: bool) -> nn.Module:
    """A timm trunk and the authors' head, rebuilt without the repository's code."""
    from .rebuilt import trunk_with_head

    kwargs = resolve_kwargs(spec.model_kwargs)
    if not pretrained:
        return trunk_with_head(spec, kwargs)
    from huggingface_hub import hf_hub_download

    config = hf_hub_download(_hub_repo(spec), 'config.json', revision=spec.revision)
    model = trunk_with_head(spec, kwargs, config)
    _load_weights_file(spec, model)
    return model


def resolve_factory(path: str) -> Callable[..., nn.Module]:
    """Import ``package.module:function``."""
    module_name, _, attr = path.partition(':')
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelUnavailableError('cannot import model factory %s: %s' % (path, exc)) from exc


def build_backbone(spec: ModelSpec, pretrained: bool = True) -> nn.Module:
    """The bare network for ``spec`` (weights loaded when ``pretrained``)."""
    check_requirements(spec)
    if spec.source in ('timm', 'local'):
        return _build_timm(spec, pretrained)
    if spec.source == 'transformers':
        return _build_transformers(spec, pretrained)
    if spec.source == 'open_clip':
        return _build_open_clip(spec, pretrained)
    if spec.source == 'rebuilt':
        return _build_rebuilt(spec, pretrained)
    if spec.source == 'factory':
        return resolve_factory(str(spec.repo_id))(pretrained=pretrained)
    raise ModelUnavailableError('model %s has unknown source %r' % (spec.name, spec.source))


def build_embedder(spec: ModelSpec, pretrained: bool = True) -> Embedder:
    """Load ``spec`` and wrap it with its pooling rule, in eval mode on the CPU."""
    try:
        backbone = build_backbone(spec, pretrained)
    except ModelUnavailableError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise _explain_load_failure(spec, exc) from exc
    except Exception as exc:  # hub errors have many classes (GatedRepoError, HfHubHTTPError...)
        if type(exc).__module__.startswith(('huggingface_hub', 'requests', 'httpx')):
            raise _explain_load_failure(spec, exc) from exc
        raise
    return wrap_backbone(spec, backbone)


def wrap_backbone(spec: ModelSpec, backbone: nn.Module) -> Embedder:
    """The backbone with the spec's pooling rule, in eval mode."""
    from .embedder import Embedder

    if spec.source == 'transformers':
        features = _transformers_features(spec)
    elif spec.source == 'open_clip':
        def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
            return model.encode_image(x)
    elif spec.source in ('factory', 'rebuilt'):
        def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
            return model(x)
    else:
        features = _timm_features(spec)
    return Embedder(backbone, spec, features).eval()
