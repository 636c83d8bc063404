"""The embedding cache: a versioned ``.npz`` written atomically and read without pickle.

Arrays:

* ``embeddings``: ``(rows, cols, D)`` float16; zeros where a cell was not embedded;
* ``embedded``: ``(rows, cols)`` bool, the cells that hold an embedding;
* ``tissue_fraction``: ``(rows, cols)`` float16, the share of each cell that is tissue;
* ``meta``: a 0-d unicode array holding JSON provenance (format version, model, geometry,
  scale, image fingerprint, software version, timings).

Nothing in the file is a Python object, so it always loads with ``allow_pickle=False``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from typing import Any

import numpy as np

from .atomic import atomic_write
from .errors import CacheError
from .tiling import TileGrid

FORMAT_NAME = 'EmbeddingSimilarity.embedding-grid'
FORMAT_VERSION = 1
ARRAYS = ('embeddings', 'embedded', 'tissue_fraction', 'meta')


@dataclasses.dataclass
class EmbeddingGrid:
    """Embeddings of a slide's grid of cells plus what they were made from."""

    embeddings: np.ndarray
    embedded: np.ndarray
    tissue_fraction: np.ndarray
    meta: dict[str, Any]

    @property
    def grid(self) -> TileGrid:
        return TileGrid(**self.meta['grid'])

    @property
    def complete(self) -> bool:
        return bool(self.meta.get('complete', True))


def save(path: str, data: EmbeddingGrid) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then rename.

    An interrupted run leaves either the old file or the new one, never a truncated file.
    """
    meta = dict(data.meta, format=FORMAT_NAME, format_version=FORMAT_VERSION)
    with atomic_write(path) as handle:
        np.savez(handle, embeddings=np.asarray(data.embeddings, dtype=np.float16),
                 embedded=np.asarray(data.embedded, dtype=bool),
                 tissue_fraction=np.asarray(data.tissue_fraction, dtype=np.float16),
                 meta=np.array(json.dumps(meta, allow_nan=False, sort_keys=True)))


def load(path: str) -> EmbeddingGrid:
    """Read and validate a cache file; any problem is a :class:`CacheError` naming it."""
    if not os.path.isfile(path):
        raise CacheError('embedding file %s does not exist' % path)
    if not zipfile.is_zipfile(path):
        # checked first: np.load takes any non-archive for a pickle
        raise CacheError('embedding file %s is unreadable or truncated (not an .npz archive); '
                         'delete it or recompute' % path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [name for name in ARRAYS if name not in archive.files]
            if missing:
                raise CacheError('embedding file %s is not an EmbeddingSimilarity cache (missing '
                                 '%s); pass a .npz written by this tool'
                                 % (path, ', '.join(missing)))
            arrays = {name: archive[name] for name in ARRAYS}
    except CacheError:
        raise
    except ValueError as exc:
        if 'pickle' in str(exc).lower():
            raise CacheError('embedding file %s holds Python objects, which are never loaded (they '
                             'can run code); recompute the embeddings' % path) from exc
        raise CacheError('embedding file %s is corrupt (%s); delete it or recompute' % (
            path, exc)) from exc
    except (OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise CacheError('embedding file %s is unreadable or truncated (%s); delete it or '
                         'recompute' % (path, type(exc).__name__)) from exc
    return _validate(path, arrays)


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
        grid = TileGrid(**meta['grid'])
        dim = int(meta['model']['embed_dim'])
    except (KeyError, TypeError, ValueError) as exc:
        raise CacheError('embedding file %s lacks its grid or model description' % path) from exc
    problems = []
    if embeddings.dtype != np.float16 or embeddings.shape != (grid.rows, grid.cols, dim):
        problems.append('embeddings are %s %s, expected float16 %s' % (
            embeddings.dtype, embeddings.shape, (grid.rows, grid.cols, dim)))
    if embedded.dtype != bool or embedded.shape != grid.shape:
        problems.append('embedded mask is %s %s' % (embedded.dtype, embedded.shape))
    if fraction.shape != grid.shape or fraction.dtype.kind != 'f':
        problems.append('tissue fraction is %s %s' % (fraction.dtype, fraction.shape))
    if not problems and not _all_finite(embeddings, embedded):
        problems.append('embeddings hold NaN or infinite values')
    if problems:
        raise CacheError('embedding file %s is inconsistent: %s; recompute' % (
            path, '; '.join(problems)))
    return EmbeddingGrid(embeddings, embedded, fraction.astype(np.float32), meta)


def _all_finite(embeddings: np.ndarray, embedded: np.ndarray, rows: int = 64) -> bool:
    """Whether every embedded cell is finite, checked in row chunks (grids can be GBs)."""
    for start in range(0, embeddings.shape[0], rows):
        block = embeddings[start:start + rows]
        if not np.isfinite(block[embedded[start:start + rows]]).all():
            return False
    return True


def mismatch(cached: dict[str, Any], wanted: dict[str, Any]) -> str | None:
    """Why a cache made with provenance ``cached`` cannot serve request ``wanted`` (None = it can).

    The model, its pooling, the grid geometry and the image fingerprint must all agree; the
    tissue threshold need not (missing cells are embedded on top of a cache).
    """
    checks = (
        ('model', ('model', 'name')),
        ('pooling', ('model', 'pooling')),
        ('embedding size', ('model', 'embed_dim')),
        ('grid', ('grid',)),
        ('image', ('image', 'fingerprint')),
    )
    for label, keys in checks:
        have, want = cached, wanted
        for key in keys:
            have = have.get(key) if isinstance(have, dict) else None
            want = want.get(key) if isinstance(want, dict) else None
        if label == 'grid' and isinstance(have, dict) and isinstance(want, dict):
            if _grid_differs(have, want):
                return 'grid %s != requested %s' % (_grid_text(have), _grid_text(want))
            continue
        if have != want:
            return '%s %r != requested %r' % (label, have, want)
    return None


def _grid_differs(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for key in ('image_width', 'image_height', 'tile', 'stride', 'rows', 'cols'):
        if a.get(key) != b.get(key):
            return True
    return abs(float(a.get('factor', 0)) - float(b.get('factor', 0))) > 1e-6


def _grid_text(g: dict[str, Any]) -> str:
    return '%sx%s cells of %s px every %s px at %.4g base px/px' % (
        g.get('rows'), g.get('cols'), g.get('tile'), g.get('stride'), float(g.get('factor', 0)))
