"""The embedding cache: a versioned ``.npz`` written atomically and read without pickle.

Arrays:

* ``embeddings``: ``(rows, cols, D)`` float16; zeros where a cell was not embedded;
* ``embedded``: ``(rows, cols)`` bool, the cells that hold an embedding;
* ``tissue_fraction``: ``(rows, cols)`` float16, the share of each cell that is tissue;
* ``norms``: ``(rows, cols)`` float32, each embedding's L2 norm (optional on load; checked
  against the embeddings by every pass that streams them);
* ``meta``: a 0-d unicode array holding JSON provenance (format version, model, geometry,
  scale, image fingerprint, software version, timings).

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

try:  # the zip CRC-32 with carry-less multiplication, ~7x zlib's speed
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - isal is a dependency; zlib gives the same value
    from zlib import crc32

from .atomic import atomic_write
from .errors import CacheError
from .float16 import norms_of, row_norms
from .tiling import TileGrid

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
    tissue_fraction: np.ndarray
    meta: dict[str, Any]
    norms: np.ndarray | None = None
    """L2 norm of each cell's embedding (stored so a query need not recompute it)."""

    @property
    def grid(self) -> TileGrid:
        return TileGrid(**self.meta['grid'])

    @property
    def complete(self) -> bool:
        return bool(self.meta.get('complete', True))


def save(path: str, data: EmbeddingGrid) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then rename.

    An interrupted run leaves either the old file or the new one, never a truncated file.
    ``data.norms`` is written as given (callers reset it to None when embeddings change) and
    computed when it is None. A grid still mapped from a cache file is checked first.
    """
    if getattr(data.embeddings, 'integrity', None) is not None:
        verify(data.embeddings, data.norms)  # never copy a damaged cache under a fresh CRC
    meta = dict(data.meta, format=FORMAT_NAME, format_version=FORMAT_VERSION)
    embeddings = np.asarray(data.embeddings, dtype=np.float16)
    norms = data.norms
    if norms is None or norms.shape != embeddings.shape[:2]:
        norms = embedding_norms(embeddings)
    with atomic_write(path) as handle:
        np.savez(handle, embeddings=embeddings,
                 embedded=np.asarray(data.embedded, dtype=bool),
                 tissue_fraction=np.asarray(data.tissue_fraction, dtype=np.float16),
                 norms=np.asarray(norms, dtype=np.float32),
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
            arrays = {name: archive[name] for name in ARRAYS if name != 'embeddings'}
            if 'norms' in archive.files:
                arrays['norms'] = archive['norms']
        arrays['embeddings'] = _map_member(path, 'embeddings')
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


def _map_member(path: str, name: str) -> np.ndarray:
    """An archive member memory-mapped copy-on-write when stored uncompressed, else read.

    A grid can be several GB; mapping it makes loading instant and lets the similarity pass
    stream it from the page cache. A mapped member carries the zip's CRC-32 so that pass can
    check the bytes it streams (:class:`GridCheck`); a member read through ``zipfile`` has its
    CRC checked as it is read. Object dtypes are refused as ``np.load`` would.
    """
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name + '.npy')
        with open(path, 'rb') as handle:
            handle.seek(info.header_offset)
            local = handle.read(30)
            if local[:4] != b'PK\x03\x04':
                raise zipfile.BadZipFile('bad local header for %s' % name)
            name_length, extra_length = np.frombuffer(local[26:30], dtype='<u2')
            start = info.header_offset + 30 + int(name_length) + int(extra_length)
            handle.seek(start)
            if info.compress_type == zipfile.ZIP_STORED:
                version = np.lib.format.read_magic(handle)
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = header(handle)
                if dtype.hasobject:
                    raise ValueError('Object arrays cannot be loaded when allow_pickle=False')
                offset = handle.tell()
                handle.seek(start)
                header_crc = crc32(handle.read(offset - start))
        if info.compress_type != zipfile.ZIP_STORED or fortran:
            with archive.open(info) as member:
                array = np.lib.format.read_array(member, allow_pickle=False)
                member.read()  # to the end, where zipfile checks the CRC
            return array
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if offset + nbytes > os.path.getsize(path) or offset - start + nbytes != info.file_size:
        raise EOFError('%s is shorter than its header says' % name)
    array = MappedMember(path, dtype=dtype, mode='c', offset=offset, shape=shape)
    array.integrity = MemberIntegrity(path, name, info.CRC, header_crc)
    return array


@dataclasses.dataclass(frozen=True)
class MemberIntegrity:
    """What a mapped member's bytes must hash to: the zip's CRC-32 of the whole member."""

    path: str
    member: str
    expected_crc: int
    header_crc: int
    """CRC-32 of the member's ``.npy`` header (the bytes before the array)."""


class MappedMember(np.memmap):
    """A memory-mapped archive member that still carries the CRC its file promises.

    ``integrity`` is None on views and once anything is assigned into the array (a resumed run
    embeds new cells into the mapped grid), so the check only ever applies to the file's bytes.
    In-place ufuncs (``out=``) bypass this; call :func:`forget_integrity` after them.
    """

    integrity: MemberIntegrity | None = None

    def __array_finalize__(self, obj: Any) -> None:
        super().__array_finalize__(obj)
        self.integrity = None

    def __setitem__(self, key: Any, value: Any) -> None:
        forget_integrity(self)
        super().__setitem__(key, value)


def forget_integrity(array: np.ndarray) -> None:
    """Drop the CRC check of ``array`` and the mapped arrays it views (its bytes changed)."""
    while isinstance(array, MappedMember):
        array.integrity = None
        array = array.base


class GridCheck:
    """Checks a grid alongside a pass that reads all of it (the similarity pass, :func:`save`).

    * the bytes of a freshly mapped ``embeddings`` member against the zip's CRC-32 (a cache
      damaged after it was written): :meth:`stream_crc` reads them in order, and can run in a
      thread beside the pass;
    * ``stored_norms`` against the norms the pass recomputes (norms that do not belong to the
      embeddings, e.g. a file rewritten by another tool).

    :meth:`finish` raises :class:`CacheError` for either.
    """

    NORM_RTOL = 1e-3

    def __init__(self, embeddings: np.ndarray, stored_norms: np.ndarray | None) -> None:
        integrity = getattr(embeddings, 'integrity', None)
        self.integrity = integrity if embeddings.flags.c_contiguous else None
        self.embeddings = embeddings
        self.crc: int | None = None
        self.norms = (None if stored_norms is None or stored_norms.shape != embeddings.shape[:2]
                      else np.asarray(stored_norms, dtype=np.float32))
        self.source = 'embedding file %s' % integrity.path if integrity else 'the embedding grid'

    def stream_crc(self) -> None:
        """CRC-32 of the member's bytes, header included (a no-op without a mapped member)."""
        if self.integrity is None:
            return
        crc = self.integrity.header_crc
        flat = self.embeddings.reshape(-1, self.embeddings.shape[-1])
        for start in range(0, len(flat), _CHECK_CELLS):
            crc = crc32(memoryview(flat[start:start + _CHECK_CELLS]).cast('B'), crc)
        self.crc = crc

    def finish(self, norms: np.ndarray | None) -> None:
        """Raise if the CRC (after :meth:`stream_crc`) or ``norms`` (recomputed) disagree."""
        if self.integrity is not None:
            if self.crc is None:
                self.stream_crc()
            if self.crc != self.integrity.expected_crc:
                raise CacheError('%s is corrupt: its %s fail the zip CRC check (the file '
                                 'changed after it was written); delete it or recompute'
                                 % (self.source, self.integrity.member))
        if self.norms is not None and norms is not None:
            wrong = ~np.isclose(self.norms, norms.reshape(self.norms.shape), rtol=self.NORM_RTOL,
                                atol=1e-6, equal_nan=True)
            if wrong.any():
                row, col = np.argwhere(wrong)[0]
                raise CacheError('%s is corrupt: the stored norm of cell (%d, %d) does not '
                                 'match its embedding; delete it or recompute'
                                 % (self.source, row, col))


def verify(embeddings: np.ndarray, stored_norms: np.ndarray | None) -> None:
    """A full :class:`GridCheck` pass (for callers that do not read the grid themselves)."""
    check = GridCheck(embeddings, stored_norms)
    check.finish(embedding_norms(embeddings) if check.norms is not None else None)


def embedding_norms(embeddings: np.ndarray) -> np.ndarray:
    """Float32 L2 norm of every cell's embedding (NaN or inf stay non-finite)."""
    flat = embeddings.reshape(-1, embeddings.shape[-1])
    if flat.dtype == np.float16:
        return norms_of(flat).reshape(embeddings.shape[:2])
    return row_norms(np.asarray(flat, dtype=np.float32)).reshape(embeddings.shape[:2])


_CHECK_CELLS = 4096


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
    return EmbeddingGrid(embeddings, embedded, fraction.astype(np.float32), meta, norms)


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
