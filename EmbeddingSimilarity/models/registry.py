"""Name -> :class:`ModelSpec` lookup over the catalog and entry-point plugins."""

from __future__ import annotations

import functools
import logging

from ..errors import InputError
from . import hub
from .catalog import BUILTIN_SPECS
from .generic import generic_spec, is_generic
from .spec import ModelSpec

ENTRY_POINT_GROUP = 'embedding_similarity.models'
logger = logging.getLogger(__name__)


@functools.cache
def plugin_specs() -> tuple[ModelSpec, ...]:
    """Specs registered by installed packages (a broken plugin is logged and skipped)."""
    from importlib.metadata import entry_points  # ~45 ms: only when a name is not a catalog's

    found: list[ModelSpec] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            result = ep.load()()
        except Exception as exc:  # a third-party plugin must not break the tool
            logger.warning('model plugin %s could not be loaded: %s', ep.value, exc)
            continue
        specs = [result] if isinstance(result, ModelSpec) else list(result)
        for spec in specs:
            if not isinstance(spec, ModelSpec):
                logger.warning('model plugin %s returned %r, not a ModelSpec', ep.value, spec)
                continue
            found.append(spec)
    return tuple(found)


def list_specs(include_plugins: bool = True) -> list[ModelSpec]:
    """All known specs, catalog first; a plugin cannot shadow a catalog name."""
    specs = list(BUILTIN_SPECS)
    names = {s.name for s in specs}
    if include_plugins:
        for spec in plugin_specs():
            if spec.name in names:
                logger.warning('model plugin spec %s ignored: the name is taken', spec.name)
                continue
            names.add(spec.name)
            specs.append(spec)
    return specs


def get_spec(name: str, pooling: str | None = None, trust_remote_code: bool = False) -> ModelSpec:
    """The spec called ``name``: a catalog or plugin model, or a generic ``timm:``, ``hf:`` or
    ``local:`` one; with the user's pooling rule and remote-code consent applied. A cached hub
    config's mean/std win over the record's (with a warning)."""
    spec = _find_spec(name)
    if pooling:
        spec = spec.with_pooling(pooling)
    if trust_remote_code:
        spec = spec.with_overrides(trust_remote_code=True)
    return spec


def _find_spec(name: str) -> ModelSpec:
    if is_generic(name):
        return generic_spec(name)
    # the catalog first: a plugin cannot shadow a catalog name, and it spares reading every
    # installed package's entry points on a cached click
    for spec in (*BUILTIN_SPECS, *list_specs()):
        if spec.name == name:
            return hub.reconcile(spec)
    known = ', '.join(s.name for s in list_specs())
    raise InputError('unknown model %r; choose one of: %s, or timm:hf_hub:ORG/NAME, '
                     'hf:ORG/NAME, local:/path' % (name, known))
