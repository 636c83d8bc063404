"""Errors that reach the user as one line (and a line of detail for the administrator) and a
non-zero exit code.

Everything the user can cause (bad input, a missing model, an unreachable server) raises a
subclass of :class:`UserError`; the CLI prints ``EmbeddingSimilarity: error: <message>`` and
exits with the class's code. The errors a pathologist meets in a job's log (nothing clicked, no
tissue, a click on glass, a model not on the server) say what to do in their words on that
line, and give the administrator's detail on the next (:func:`for_admin`). Anything else is a
bug and is reported with a traceback.
"""

from __future__ import annotations

import errno
import os
import re

ADMIN = 'for the administrator: '
"""How the second line of a two-line message starts: the detail someone running the server
needs (flags, environment variables), after the line the person at the slide can act on."""


def for_admin(what_to_do: str, detail: str) -> str:
    """A message in two lines: what to do, in the words of the person at the slide; then the
    administrator's detail (the CLI prints both, so a job log holds both)."""
    return '%s\n  %s%s' % (what_to_do, ADMIN, detail)


class UserError(Exception):
    """A problem the user can fix; the message says what was wrong and what to do."""

    exit_code = 2


class InputError(UserError):
    """A parameter or input file is invalid."""

    exit_code = 2


class ModelUnavailableError(UserError):
    """Model weights cannot be loaded (not cached offline, gated, or not installed).

    The message's first line says what the person at the slide can do (choose another model,
    or ask the administrator); what the raiser wrote (hub, cache, tokens) follows as the
    administrator's detail."""

    exit_code = 3

    def __init__(self, detail: str) -> None:
        if ADMIN in detail:  # already two lines (an error unpickled from a Dask worker)
            super().__init__(detail)
            return
        name = re.match(r'model (\S+?)[:\s]', detail)
        model = 'model %s' % name.group(1) if name else 'this model'
        super().__init__(for_admin(
            '%s is not available on this server: choose another model in the panel, or ask '
            'your administrator to add it to the model cache' % model, detail))


class CacheError(UserError):
    """An embedding cache file is unreadable, unsafe, or does not match the request."""

    exit_code = 4


class GirderError(UserError):
    """Girder is unreachable, refused the token, or rejected a request."""

    exit_code = 5


class GirderUnreachable(GirderError):
    """Girder did not answer (refused, timed out, connection lost): the run tries no other
    call, so a dead server costs one timeout, not one per preview."""


class OutputError(UserError):
    """An output cannot be written."""

    exit_code = 6


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a run, with what was kept (for the one line the CLI prints)."""

    def __init__(self, kept: str) -> None:
        super().__init__(kept)
        self.kept = kept


def first_line(text: object, limit: int = 0) -> str:
    """The first non-empty line of ``text`` (an exception's message, a server's answer)."""
    for line in str(text).strip().splitlines():
        if line.strip():
            return line.strip()[:limit] if limit else line.strip()
    return ''


def why_missing(path: str) -> str:
    """Why ``path`` cannot be used although named: ``'does not exist'``, or what is wrong with
    the symbolic link it is or passes through (a loop, a broken link), for one-line errors;
    ``''`` when it exists."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return ('is a symlink loop (symbolic links that point at each other); fix or '
                    'remove the link')
        if os.path.islink(path):
            return 'is a broken symbolic link (to %s); fix or remove the link' % os.readlink(path)
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            return 'cannot be read (%s)' % exc.strerror
        return 'does not exist'
    return ''


def missing(what: str, path: str, advice: str = '') -> str:
    """``'<what> <path> does not exist; <advice>'``, or the link problem that hides it."""
    problem = why_missing(path) or 'does not exist'
    text = '%s %s %s' % (what, path, problem)
    return text + '; ' + advice if advice and problem == 'does not exist' else text


_USERINFO = re.compile(r'([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@')


def redact(text: str) -> str:
    """``text`` with the credentials of any URL in it masked (``http://user:pass@host`` ->
    ``http://***@host``): every line the CLIs print passes through this."""
    return _USERINFO.sub(r'\1***@', text)
