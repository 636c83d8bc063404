"""The model registry: every model's sourced record (:mod:`.catalog`, plus plugins through the
``embedding_similarity.models`` entry points), hub access, and the loaders that build an embedder.
May import: the foundation modules only; the records import no torch (builders load it lazily)."""

from __future__ import annotations

from .catalog import BUILTIN_SPECS, BUNDLED_MODEL, TEST_MODEL
from .registry import get_spec, list_specs, plugin_specs
from .spec import ModelSpec

__all__ = ['BUILTIN_SPECS', 'BUNDLED_MODEL', 'TEST_MODEL', 'ModelSpec', 'get_spec', 'list_specs',
           'plugin_specs']
