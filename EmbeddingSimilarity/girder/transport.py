"""How a run reaches Girder: a requests session whose every call has a connect and a read
timeout (girder_client sets none, so a server that accepts and never answers would hang a job
forever), configured by ``EMBEDDING_SIMILARITY_GIRDER_TIMEOUT``."""

from __future__ import annotations

import os

from ..errors import InputError

TIMEOUT_VARIABLE = 'EMBEDDING_SIMILARITY_GIRDER_TIMEOUT'
DEFAULT_TIMEOUT = 120.0
"""Seconds a Girder call may wait for an answer (a frozen server fails the run, never hangs it);
connecting waits at most 10 s of it."""


def girder_timeouts() -> tuple[float, float]:
    """(connect, read) seconds from ``EMBEDDING_SIMILARITY_GIRDER_TIMEOUT`` (default 120); a
    bad value is an InputError (the CLIs check it before any work)."""
    raw = os.environ.get(TIMEOUT_VARIABLE, '')
    try:
        read = float(raw) if raw.strip() else DEFAULT_TIMEOUT
    except ValueError:
        raise InputError('%s=%r is not a number of seconds; unset it or give e.g. 120'
                         % (TIMEOUT_VARIABLE, raw)) from None
    if not 0 < read < 86400:
        raise InputError('%s=%s is out of range; give more than 0 and less than 86400 seconds'
                         % (TIMEOUT_VARIABLE, raw))
    return min(10.0, read), read


def bounded_session(connect: float, read: float):
    """A requests session whose every call (girder_client sets none) waits at most ``connect``
    seconds to connect and ``read`` seconds between bytes of the answer."""
    import requests

    class _Bounded(requests.adapters.HTTPAdapter):
        def send(self, request, **kwargs):
            if kwargs.get('timeout') is None:
                kwargs['timeout'] = (connect, read)
            return super().send(request, **kwargs)

    session = requests.Session()
    for prefix in ('http://', 'https://'):
        session.mount(prefix, _Bounded())
    return session
