"""Reading other tools' HDF5 feature files safely: every failure of the file is one
:class:`~..errors.CacheError` line, datasets are checked for shape and kind before they are
read, and attributes come back as plain Python values (h5py never unpickles)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import CacheError

HDF5_SIGNATURE = b'\x89HDF\r\n\x1a\n'


def is_hdf5(path: str) -> bool:
    """Whether ``path`` starts with the HDF5 signature (at offset 0, as h5py writes it)."""
    try:
        with open(path, 'rb') as handle:
            return handle.read(8) == HDF5_SIGNATURE
    except OSError:
        return False


@contextlib.contextmanager
def opened(path: str, tool: str) -> Iterator[Any]:
    """The file open for reading; any h5py or OS error inside is a :class:`CacheError`."""
    import h5py

    try:
        with h5py.File(path, 'r') as handle:
            yield handle
    except CacheError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CacheError('%s feature file %s is unreadable or truncated (%s); extract its '
                         'features again' % (tool, path, str(exc).splitlines()[0][:120]
                                             or type(exc).__name__)) from exc


def dataset(handle: Any, name: str, path: str, tool: str, columns: int | None = None,
            kind: str = 'fi') -> Any:
    """The 2-d dataset ``name`` (with ``columns`` columns when given), not yet read."""
    import h5py

    found = handle.get(name)
    if not isinstance(found, h5py.Dataset):
        raise CacheError('%s is not a %s feature file (no %r dataset); pass a file written by '
                         '%s, or our .npz' % (path, tool, name, tool))
    if len(found.shape) != 2 or (columns is not None and found.shape[1] != columns) or \
            found.dtype.kind not in kind:
        raise CacheError('%s is malformed: %r is %s %s, expected (N, %s) numbers; extract its '
                         'features again' % (path, name, found.dtype, found.shape,
                                             columns or 'D'))
    return found


def plain(value: Any) -> Any:
    """An attribute as a plain value: str, int, float or bool (None for anything else)."""
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        return value.decode('utf-8', 'replace')
    return value if isinstance(value, (str, int, float, bool)) else None


def number(attrs: Any, key: str, path: str, required: bool = True) -> float | None:
    """A positive, finite number attribute (a CacheError when required and missing)."""
    value = plain(attrs.get(key))
    if isinstance(value, str) and value not in ('None', ''):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and \
            math.isfinite(value) and value > 0:
        return float(value)
    if required:
        raise CacheError('%s is malformed: attribute %r is %r, expected a positive number; '
                         'extract its features again' % (path, key, value))
    return None


def text(attrs: Any, key: str) -> str:
    """A string attribute ('' when missing or not a string; TRIDENT writes None as 'None')."""
    value = plain(attrs.get(key))
    return '' if value in (None, 'None') else str(value)
