"""Atomic file output: write a temporary sibling, flush it to disk, then rename over the target.

An interrupted job therefore leaves either the previous file or the complete new one, never a
truncated file, and a failed write removes its temporary file. An output path that is a symlink
is written where it points, as a plain ``open()`` would, and the link is kept.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from .errors import OutputError


@contextlib.contextmanager
def atomic_write(path: str) -> Iterator[BinaryIO]:
    """Yield a binary handle whose content replaces ``path`` only if the block succeeds."""
    target = os.path.realpath(path)  # through symlinks, even a dangling one
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise OutputError('cannot write %s: folder %s does not exist; create it first'
                          % (path, folder))
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, renamed on success)
            dir=folder, prefix='.' + os.path.basename(target) + '.', suffix='.tmp', delete=False)
    except OSError as exc:
        raise OutputError('cannot write %s: %s' % (path, exc.strerror or exc)) from exc
    try:
        # mkstemp makes the file 0600; give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(handle.name, 0o666 & ~umask)
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(handle.name)
        if isinstance(exc, OSError):
            raise OutputError('cannot write %s: %s' % (path, exc.strerror or exc)) from exc
        raise


def write_bytes(path: str, data: bytes | str) -> None:
    with atomic_write(path) as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
