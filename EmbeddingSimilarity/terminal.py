"""The terminal side of a run: stdout and stderr may be closed, piped into ``head``, pointed at
``/dev/full`` or unable to encode a file name. None of that is the run's business: a stream
that cannot be written is replaced by ``os.devnull`` (progress tags and log lines are dropped,
the outputs are still written), so the exit code says how the work went, never 1.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

from .errors import redact

LOST = (errno.EPIPE, errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT)
"""Write errors that mean the stream's reader or device is gone, not that the run failed."""


def guard_streams() -> None:
    """Before anything is written: a closed stdout or stderr (``>&-``) becomes ``os.devnull``
    on its own descriptor (so no file opened later takes descriptor 1 or 2 and receives log
    lines), and characters the locale cannot encode are written as escapes."""
    for fd, name in ((1, 'stdout'), (2, 'stderr')):
        try:
            os.fstat(fd)
        except OSError:
            _to_devnull(fd)
            setattr(sys, name, open(fd, 'w', closefd=False))  # noqa: SIM115 (lives with the run)
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(fd, 'w', closefd=False))  # noqa: SIM115
            stream = getattr(sys, name)
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors='backslashreplace')


def lost(fd: int) -> None:
    """A write to ``fd`` failed for good (:data:`LOST`): send the rest, and what Python flushes
    at exit, to ``os.devnull``."""
    _to_devnull(fd)


def say(line: str) -> None:
    """Print one line on stderr (credentials in URLs masked), if anyone can still read it."""
    try:
        print(redact(line), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        lost(2)


def settle() -> None:
    """Flush stdout and stderr at the end of a run; a stream that cannot take it is dropped,
    so Python's own flush at exit cannot turn a finished run into exit 120."""
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            lost(fd)


def _to_devnull(fd: int) -> None:
    null = os.open(os.devnull, os.O_WRONLY)
    if null != fd:
        os.dup2(null, fd)
        os.close(null)
