"""Atomic file output: write a temporary sibling, flush it to disk, then rename over the target.

An interrupted job therefore leaves either the previous file or the complete new one, never a
truncated file, and a failed write removes its temporary file. An output path that is a symlink
is written where it points, as a plain ``open()`` would, and the link is kept. Only a regular
file is ever replaced: a device, FIFO, socket or folder at the target (``/dev/stdout``) or a
symlink loop is refused, since a rename would put the file in its place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from .errors import OutputError


@contextlib.contextmanager
def atomic_write(path: str) -> Iterator[BinaryIO]:
    """Yield a binary handle whose content replaces ``path`` only if the block succeeds."""
    target = os.path.realpath(path)  # through symlinks, even a dangling one
    _check_replaceable(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise OutputError('cannot write %s: folder %s does not exist; create it first'
                          % (path, folder))
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, renamed on success)
            dir=folder, prefix='.' + os.path.basename(target)[:200] + '.', suffix='.tmp',
            delete=False)  # the name cut: a name near the file system's limit still gets one
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


def _check_replaceable(path: str) -> None:
    """Nothing but a regular file (or nothing) is at ``path``."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return
        if exc.errno == errno.ELOOP:
            raise OutputError('cannot write %s: it is a symlink loop; fix or remove the link'
                              % path) from None
        raise OutputError('cannot write %s: %s' % (path, exc.strerror or exc)) from None
    if not stat.S_ISREG(mode):
        raise OutputError('cannot write %s: it is not a regular file (a folder, device, pipe or '
                          'socket) and would be replaced; give a file name on disk' % path)


def write_bytes(path: str, data: bytes | str) -> None:
    with atomic_write(path) as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
