"""Embed once: the first of several jobs that need the same grid claims its embedding in the
user's Girder cache folder; the others wait for its cache instead of embedding the slide again.

A claim is an item beside the cache (``<cache name>.claim``), renewed in the background while
its job embeds and removed when it ends. A job that dies leaves a claim nobody renews; after
:data:`~..girder.cache_folder.CLAIM_SECONDS` the next job takes it over, so no wait is unbounded
by more than that. Girder errors never stop a run: it embeds as it would without a claim.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import TYPE_CHECKING

from ..errors import GirderError
from ..girder.cache_folder import CLAIM_SECONDS
from .provenance import Provenance

if TYPE_CHECKING:
    from ..girder.session import GirderSession

logger = logging.getLogger(__name__)


class Claim:
    """This job's claim on embedding a grid: renewed every quarter of the claim time until
    released (a context manager)."""

    def __init__(self, session: GirderSession | None = None, claim_id: str = '',
                 owner: str = '') -> None:
        self.session, self.claim_id, self.owner = session, claim_id, owner
        self._stop = threading.Event()
        self._thread = None
        if session is not None and claim_id:
            self._thread = threading.Thread(target=self._renew, daemon=True,
                                            name='embedding-claim')
            self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(CLAIM_SECONDS / 4):
            try:
                self.session.renew_claim(self.claim_id, self.owner)
            except GirderError as exc:  # the next renewal may work; a lapse only lets
                logger.debug('embedding claim not renewed: %s', exc)  # another job in

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
            try:
                self.session.release_claim(self.claim_id)
            except GirderError as exc:
                logger.warning('the embedding claim was not removed (it lapses in %.0f s): %s',
                               CLAIM_SECONDS, exc)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim_in_girder(session: GirderSession, wanted: Provenance) -> Claim | None:
    """This job's claim on embedding ``wanted`` (a no-op claim when Girder cannot take one), or
    None while another job holds it."""
    owner = uuid.uuid4().hex
    try:
        claim_id = session.claim(wanted.cache_name(), owner)
    except GirderError as exc:
        logger.warning('could not claim the embedding in Girder (%s); embedding anyway', exc)
        return Claim()
    return None if claim_id is None else Claim(session, claim_id, owner)
