"""Integrity of a memory-mapped cache: a mapped ``embeddings`` member carries the zip's CRC-32
of its bytes, and the pass that streams the grid (the similarity pass, a save) checks the bytes
against it and the stored norms against the embeddings, so a cache damaged after it was written
is a :class:`~..errors.CacheError`, never a wrong heatmap.
"""

from __future__ import annotations

import ctypes
import dataclasses
import mmap
import os
import sys
import zipfile
from typing import Any

import numpy as np

try:  # the zip CRC-32 with carry-less multiplication, ~7x zlib's speed
    from isal import isal_zlib as _isal

    crc32 = _isal.crc32
    crc32_combine = getattr(_isal, 'crc32_combine', None)
except ImportError:  # pragma: no cover - isal is a dependency; zlib gives the same value
    from zlib import crc32
    crc32_combine = None

from ..errors import CacheError
from .float16 import norms_of, row_norms

_CHECK_CELLS = 4096
_PAGE = mmap.PAGESIZE
_MADV_DONTNEED = getattr(mmap, 'MADV_DONTNEED', None)
_madvise = None
if sys.platform.startswith('linux') and _MADV_DONTNEED is not None:  # pragma: no branch
    try:
        _madvise = ctypes.CDLL(None, use_errno=True).madvise
        _madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    except (OSError, AttributeError):  # pragma: no cover - every Linux libc has madvise
        _madvise = None


def map_member(path: str, name: str) -> np.ndarray:
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
    found = os.stat(path)
    array.integrity = MemberIntegrity(path, name, info.CRC, header_crc,
                                      (found.st_dev, found.st_ino))
    return array


@dataclasses.dataclass(frozen=True)
class MemberIntegrity:
    """What a mapped member's bytes must hash to: the zip's CRC-32 of the whole member."""

    path: str
    member: str
    expected_crc: int
    header_crc: int
    """CRC-32 of the member's ``.npy`` header (the bytes before the array)."""
    file_id: tuple[int, int] = (0, 0)
    """``(st_dev, st_ino)`` of the mapped file: the path may later name another file (a cache
    saved anew) or none (a downloaded cache in a scratch folder that is gone)."""


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

    @property
    def inline(self) -> bool:
        """Whether the pass checks the CRC of the blocks it reads itself (ranges combined by
        :meth:`combine`), and may then release their pages (:func:`release_pages`)."""
        return self.integrity is not None and crc32_combine is not None

    def block_crc(self, block: np.ndarray, crc: int) -> int:
        """``crc`` continued over the bytes of ``block`` (C-contiguous)."""
        return crc32(memoryview(block).cast('B'), crc)

    def combine(self, parts: list[tuple[int, int]]) -> None:
        """The member's CRC from those of its consecutive ranges ``(crc, nbytes)``, in order."""
        crc = self.integrity.header_crc
        for part, nbytes in parts:
            crc = crc32_combine(crc, part, nbytes)
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


def release_pages(block: np.ndarray) -> None:
    """Drop the pages wholly inside ``block`` from this process's memory (``MADV_DONTNEED``),
    once a pass has read them, so streaming a multi-GB cache keeps a small resident set.

    Only for a block of a mapped cache member that was never written (a :class:`GridCheck`
    with ``integrity``): its pages are private copy-on-write pages of the file, and a later
    read maps them from the file again. Never call it on ordinary memory (it would zero it).
    """
    if _madvise is None or not block.nbytes:
        return
    address = block.__array_interface__['data'][0]
    start = -(-address // _PAGE) * _PAGE
    stop = (address + block.nbytes) // _PAGE * _PAGE
    if stop > start:
        _madvise(start, stop - start, _MADV_DONTNEED)


def _reopen(path: str, file_id: tuple[int, int]):
    """The mapped file opened again for reading, or None when its path no longer names it."""
    try:
        handle = open(path, 'rb')  # noqa: SIM115 - the caller closes it
    except OSError:
        return None
    found = os.fstat(handle.fileno())
    if (found.st_dev, found.st_ino) != file_id:
        handle.close()
        return None
    return handle


def gather_cells(embeddings: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """``embeddings.reshape(-1, D)[cells]``, read with ``pread`` from the file of a mapped cache
    member never written: a modern kernel maps a whole large folio (up to 2 MiB) around each
    fault, so a few thousand random cells read through the map leave most of a multi-GB grid
    resident, where reading them costs a few MiB."""
    dim = embeddings.shape[-1]
    if not (isinstance(embeddings, MappedMember) and embeddings.integrity is not None
            and embeddings.flags.c_contiguous and embeddings.filename):
        return np.asarray(embeddings.reshape(-1, dim)[cells])
    handle = _reopen(embeddings.filename, embeddings.integrity.file_id)
    if handle is None:  # the path names another file now, or none: read through the map
        return np.asarray(embeddings.reshape(-1, dim)[cells])
    out = np.empty((len(cells), dim), dtype=embeddings.dtype)
    size = dim * embeddings.dtype.itemsize
    with handle:
        for index, cell in enumerate(np.asarray(cells).tolist()):
            if os.preadv(handle.fileno(), [memoryview(out[index]).cast('B')],
                         embeddings.offset + cell * size) != size:
                raise CacheError('embedding file %s is shorter than its header says; delete '
                                 'it or recompute' % embeddings.filename)
    return out


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
