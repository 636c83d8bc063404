"""The embedding cache: a versioned ``.npz`` written atomically and read without pickle.

Arrays:

* ``embeddings``: ``(rows, cols, D)`` float16; zeros where a cell was not embedded;
* ``embedded``: ``(rows, cols)`` bool, the cells that hold an embedding;
* ``tissue_fraction``: ``(rows, cols)`` float16, the share of each cell that is tissue;
* ``norms``: ``(rows, cols)`` float32, each embedding's L2 norm (optional on load; checked
  against the embeddings by every pass that streams them);
* ``meta``: a 0-d unicode array holding the JSON of a :class:`~.provenance.Provenance` (model,
  geometry, scale, image fingerprint, software versions, timings) plus the format version.

Nothing in the file is a Python object, so it always loads with ``allow_pickle=False``.

Integrity: ``np.load`` checks the zip CRC-32 of the small arrays as it reads them. The
``embeddings`` member is memory-mapped, which reads no bytes at load, so its CRC is checked by
the pass that streams it (:class:`GridCheck`, used by the similarity pass and by :func:`save`):
a cache damaged after it was written is a :class:`CacheError`, never a wrong heatmap.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tokenize
import zipfile
import zlib
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..errors import CacheError, missing
from ..slide.tiling import TileGrid
from .integrity import embedding_norms, map_member, verify
from .provenance import Provenance

FORMAT_NAME = 'EmbeddingSimilarity.embedding-grid'
FORMAT_VERSION = 1
ARRAYS = ('embeddings', 'embedded', 'tissue_fraction', 'meta')
# what zipfile and numpy raise on damaged bytes (found by the property tests): a bad CRC or
# header, a compression method or encryption flag flipped on, an .npy header that no longer
# parses
_DAMAGE_ERRORS = (OSError, zipfile.BadZipFile, EOFError, KeyError, NotImplementedError,
                  RuntimeError, zlib.error, tokenize.TokenError, SyntaxError)


@dataclasses.dataclass
class EmbeddingGrid:
    """Embeddings of a slide's grid of cells plus what they were made from."""

    embeddings: np.ndarray
    embedded: np.ndarray
    tissue_fraction: np.ndarray | None
    provenance: Provenance
    """Accepts the JSON form (a dict) too, converted on construction."""
    norms: np.ndarray | None = None
    """L2 norm of each cell's embedding (stored so a query need not recompute it)."""

    def __post_init__(self) -> None:
        if isinstance(self.provenance, dict):
            self.provenance = Provenance.from_json(self.provenance)

    @property
    def grid(self) -> TileGrid:
        return self.provenance.grid

    @property
    def meta(self) -> dict[str, Any]:
        """The provenance as stored in the file (a read-only view: change :attr:`provenance`)."""
        return dict(self.provenance.to_json(), format=FORMAT_NAME, format_version=FORMAT_VERSION)

    @property
    def complete(self) -> bool:
        return self.provenance.complete


def save(path: str, data: EmbeddingGrid) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then rename.

    An interrupted run leaves either the old file or the new one, never a truncated file.
    ``data.norms`` is written as given (callers reset it to None when embeddings change) and
    computed when it is None. A grid still mapped from a cache file is checked first.
    """
    if getattr(data.embeddings, 'integrity', None) is not None:
        verify(data.embeddings, data.norms)  # never copy a damaged cache under a fresh CRC
    embeddings = np.asarray(data.embeddings, dtype=np.float16)
    norms = data.norms
    if norms is None or norms.shape != embeddings.shape[:2]:
        norms = embedding_norms(embeddings)
    with atomic_write(path) as handle:
        np.savez(handle, embeddings=embeddings,
                 embedded=np.asarray(data.embedded, dtype=bool),
                 tissue_fraction=np.asarray(data.tissue_fraction, dtype=np.float16),
                 norms=np.asarray(norms, dtype=np.float32),
                 meta=np.array(json.dumps(data.meta, allow_nan=False, sort_keys=True)))


def load(path: str) -> EmbeddingGrid:
    """Read and validate a cache file; any problem is a :class:`CacheError` naming it."""
    if not os.path.isfile(path):
        raise CacheError(missing('embedding file', path))
    try:  # is_zipfile says False for a file it may not open: say why it cannot be read
        with open(path, 'rb'):
            pass
    except OSError as exc:
        raise CacheError('cannot read embedding file %s (%s); %s' % (
            path, exc.strerror or type(exc).__name__,
            'check its permissions (the run needs to read it)'
            if isinstance(exc, PermissionError) else 'check the disk, or recompute')) from exc
    if not zipfile.is_zipfile(path):
        # checked first: np.load takes any non-archive for a pickle
        raise CacheError('embedding file %s is unreadable or truncated (not an .npz archive); '
                         'delete it or recompute' % path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            absent = [name for name in ARRAYS if name not in archive.files]
            if absent:
                raise CacheError('embedding file %s is not an EmbeddingSimilarity cache (missing '
                                 '%s); pass a .npz written by this tool'
                                 % (path, ', '.join(absent)))
            arrays = {name: archive[name] for name in ARRAYS if name != 'embeddings'}
            if 'norms' in archive.files:
                arrays['norms'] = archive['norms']
        arrays['embeddings'] = map_member(path, 'embeddings')
    except CacheError:
        raise
    except ValueError as exc:
        if 'pickle' in str(exc).lower():
            raise CacheError('embedding file %s holds Python objects, which are never loaded (they '
                             'can run code); recompute the embeddings' % path) from exc
        raise CacheError('embedding file %s is corrupt (%s); delete it or recompute' % (
            path, exc)) from exc
    except _DAMAGE_ERRORS as exc:
        raise CacheError('embedding file %s is unreadable or truncated (%s); delete it or '
                         'recompute' % (path, type(exc).__name__)) from exc
    return _validate(path, arrays)


def read_meta(path: str) -> dict[str, Any] | None:
    """The stored provenance JSON of a cache (None when unreadable or not ours), reading only
    that member: how a run decides, before opening the slide, which cache may serve it."""
    if not os.path.isfile(path) or not zipfile.is_zipfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive['meta']))
    except (ValueError, json.JSONDecodeError, *_DAMAGE_ERRORS):
        return None
    return meta if isinstance(meta, dict) and meta.get('format') == FORMAT_NAME else None


def _validate(path: str, arrays: dict[str, np.ndarray]) -> EmbeddingGrid:
    meta_array = arrays['meta']
    if meta_array.dtype.kind != 'U' or meta_array.shape != ():
        raise CacheError('embedding file %s has malformed provenance; recompute' % path)
    try:
        meta = json.loads(str(meta_array))
    except json.JSONDecodeError as exc:
        raise CacheError('embedding file %s has unreadable provenance; recompute' % path) from exc
    if not isinstance(meta, dict) or meta.get('format') != FORMAT_NAME:
        raise CacheError('embedding file %s was not written by EmbeddingSimilarity' % path)
    version = meta.get('format_version')
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CacheError('embedding file %s has format version %s, newer than this software '
                         'reads (%d); upgrade EmbeddingSimilarity'
                         % (path, version, FORMAT_VERSION))
    embeddings, embedded = arrays['embeddings'], arrays['embedded']
    fraction = arrays['tissue_fraction']
    try:
        provenance = Provenance.from_json(meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise CacheError('embedding file %s lacks its grid or model description' % path) from exc
    grid, dim = provenance.grid, provenance.model.embed_dim
    problems = []
    if embeddings.dtype != np.float16 or embeddings.shape != (grid.rows, grid.cols, dim):
        problems.append('embeddings are %s %s, expected float16 %s' % (
            embeddings.dtype, embeddings.shape, (grid.rows, grid.cols, dim)))
    if embedded.dtype != bool or embedded.shape != grid.shape:
        problems.append('embedded mask is %s %s' % (embedded.dtype, embedded.shape))
    if fraction.shape != grid.shape or fraction.dtype.kind != 'f':
        problems.append('tissue fraction is %s %s' % (fraction.dtype, fraction.shape))
    norms = arrays.get('norms')
    if not problems and (norms is None or norms.shape != grid.shape
                         or norms.dtype != np.float32):
        norms = embedding_norms(embeddings)
    # a NaN or infinity anywhere in an embedding makes its norm non-finite
    if not problems and not np.isfinite(norms[embedded]).all():
        problems.append('embeddings hold NaN or infinite values')
    if problems:
        raise CacheError('embedding file %s is inconsistent: %s; recompute' % (
            path, '; '.join(problems)))
    return EmbeddingGrid(embeddings, embedded, fraction.astype(np.float32), provenance, norms)


def mismatch(cached: Provenance | dict[str, Any],
             wanted: Provenance | dict[str, Any]) -> str | None:
    """Why a cache with provenance ``cached`` cannot serve ``wanted`` (None = it can); either may
    be given in its JSON form."""
    def typed(value: Provenance | dict[str, Any]) -> Provenance:
        return value if isinstance(value, Provenance) else Provenance.from_json(value)
    return typed(cached).mismatch(typed(wanted))
