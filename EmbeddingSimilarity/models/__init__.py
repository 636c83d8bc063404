"""The model registry: look up a :class:`ModelSpec` by name and load it.

Known models come from :mod:`.catalog`; third-party packages add theirs through the
``embedding_similarity.models`` entry-point group (each entry point is a callable returning a
ModelSpec or a list of them).
"""

from __future__ import annotations

from .catalog import BUILTIN_SPECS, BUNDLED_MODEL, TEST_MODEL
from .registry import get_spec, list_specs, plugin_specs
from .spec import ModelSpec

__all__ = ['BUILTIN_SPECS', 'BUNDLED_MODEL', 'TEST_MODEL', 'ModelSpec', 'get_spec', 'list_specs',
           'plugin_specs']
