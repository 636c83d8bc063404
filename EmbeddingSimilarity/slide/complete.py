"""A TIFF-family slide (tiff, svs, ndpi, ...) cut short is refused before it is read.

A tiled TIFF whose upload or copy stopped early can still open: libtiff drops the pyramid
levels it cannot reach and reads the tiles past the end as nothing, which the pipeline would
embed as black tissue. Every tile's offset and byte count are in the file's directories, so a
file that ends before its last tile is found without decoding a pixel.
"""

from __future__ import annotations

import logging
import os

from ..errors import InputError

TIFF_MAGIC = (b'II*\x00', b'MM\x00*', b'II+\x00', b'MM\x00+')
"""Classic and BigTIFF headers, little- and big-endian."""


def check_complete(path: str) -> None:
    """An InputError when ``path`` is a TIFF whose directories or tiles reach past its end."""
    if os.path.isdir(path):
        return
    with open(path, 'rb') as handle:
        if handle.read(4) not in TIFF_MAGIC:
            return
    import tifffile

    size = os.path.getsize(path)
    quiet = logging.getLogger('tifffile')
    level, quiet.level = quiet.level, logging.CRITICAL  # its warnings repeat what we say
    try:
        with tifffile.TiffFile(path) as tif:
            end = max((_data_end(page) for page in tif.pages), default=size + 1)
    except Exception as exc:  # tifffile's TiffFileError, struct errors on a cut directory
        raise InputError('slide %s is damaged or cut short (its TIFF directories cannot be '
                         'read: %s); export or upload it again'
                         % (path, str(exc).splitlines()[0][:120] if str(exc) else
                            type(exc).__name__)) from None
    finally:
        quiet.level = level
    if end > size:
        raise InputError('slide %s is cut short: its tiles run to byte %d but the file has %d '
                         'bytes (an upload or copy that did not finish); export or upload it '
                         'again' % (path, end, size))


def _data_end(page) -> int:
    """The byte after the last tile or strip of ``page`` and of its sub-directories."""
    end = 0
    for one in [page, *(getattr(page, 'pages', None) or [])]:
        ends = [offset + count for offset, count in zip(one.dataoffsets, one.databytecounts,
                                                        strict=False) if count]
        end = max([end, *ends])
    return end
