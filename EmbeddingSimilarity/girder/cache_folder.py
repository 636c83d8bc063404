"""The embedding cache in the user's Girder ``Private/EmbeddingSimilarity cache`` folder: find a
grid by its name, store one (replacing older ones), meet in one folder and one item when several
runs write at once, and let one run claim a grid's embedding while the others wait for it. A
mixin of :class:`~.girder.GirderSession`, whose ``_call`` and ``_errors`` it uses.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import time
from typing import Any

from .. import TOOL_ATTRIBUTE
from ..errors import GirderError

CACHE_FOLDER = 'EmbeddingSimilarity cache'
CLAIM_SECONDS = 120.0
"""A claim not renewed for this long is stale (its job died) and is taken over."""
CLAIM_SUFFIX = '.claim'


class NotFound(GirderError):
    """Girder has no such object (or the token may not see it)."""


class CacheFolder:
    """Cache-folder methods of a Girder session (``self.client``, ``self.user``, ``_call`` and
    ``_errors`` come from the session)."""

    client: Any
    user: dict

    def _cache_folder(self, create: bool) -> dict | None:
        """``Private/EmbeddingSimilarity cache`` of the token's user.

        Runs that create it at once can each make one (Girder checks names before saving);
        every run uses the oldest and deletes its own extra one, so uploads meet in one folder.
        """
        private = self._call('find your Private folder', 'get', 'folder', parameters={
            'parentType': 'user', 'parentId': self.user['_id'], 'name': 'Private'})
        if not private:
            return None
        found = self._cache_folders(private[0]['_id'])
        if found or not create:
            return found[0] if found else None
        try:
            mine = self._call('create the embedding cache folder', 'post', 'folder', parameters={
                'parentType': 'folder', 'parentId': private[0]['_id'], 'name': CACHE_FOLDER,
                'description': 'Embedding grids cached by EmbeddingSimilarity; safe to delete.',
                'reuseExisting': True})
        except GirderError:  # another run created it a moment ago
            mine = None
        found = self._cache_folders(private[0]['_id'])
        if not found:
            raise GirderError('could not create the folder Private/%s for the embedding cache'
                              % CACHE_FOLDER)
        if mine is not None and mine['_id'] != found[0]['_id']:
            with contextlib.suppress(NotFound), self._errors(
                    'remove a second embedding cache folder', missing='gone'):
                self.client.delete('folder/%s' % mine['_id'])
        return found[0]

    def _cache_folders(self, private_id: str) -> list[dict]:
        """The cache folders in Private, oldest first (normally one)."""
        return self._call('list your Private folder', 'get', 'folder', parameters={
            'parentType': 'folder', 'parentId': private_id, 'name': CACHE_FOLDER,
            'sort': '_id', 'sortdir': 1, 'limit': 0}) or []

    def find_cached_embeddings(self, name: str, ending: str = '') -> dict | None:
        """The file of the cached embedding item called ``name``, else of one whose name ends
        with ``ending`` (the same content under another image name: a renamed copy)."""
        folder = self._cache_folder(create=False)
        if folder is None:
            return None
        items = self._call('list the embedding cache', 'get', 'item', parameters={
            'folderId': folder['_id'], 'name': name, 'limit': 1})
        if not items and ending:
            items = [item for item in self._items(folder, 'list the embedding cache')
                     if item['name'].endswith(ending)]
        if not items:
            return None
        files = self._call('list the cached embedding file', 'get',
                           'item/%s/files' % items[0]['_id'], parameters={'limit': 1})
        return files[0] if files else None

    def store_cached_embeddings(self, path: str, name: str, metadata: dict) -> str:
        """Upload ``path`` as the cache item ``name``, replacing older ones; its file id.

        Runs that upload the same cache at once each create an item (Girder renames clashes
        ``name (1)``...). Each then keeps the newest item, deletes the others and gives the
        kept one the plain name, so the folder ends with one item whoever finishes last.
        """
        folder = self._cache_folder(create=True)
        with self._errors('upload the embedding cache'):
            uploaded = self.client.uploadFileToFolder(folder['_id'], path, filename=name)
        self._call('describe the cached embeddings', 'put',
                   'item/%s/metadata' % uploaded['itemId'], json={TOOL_ATTRIBUTE: metadata})
        copies = self._named(folder, name, 'list the embedding cache')
        if copies:
            for item in copies[:-1]:
                with contextlib.suppress(NotFound), self._errors(
                        'replace the old cached embeddings', missing='gone'):
                    self.client.delete('item/%s' % item['_id'])
            kept = copies[-1]
            if kept['name'] != name:
                with contextlib.suppress(NotFound), self._errors(
                        'rename the cached embeddings', missing='gone'):
                    self.client.put('item/%s' % kept['_id'], parameters={'name': name})
        return str(uploaded['_id'])

    def _items(self, folder: dict, what: str) -> list[dict]:
        """Every item of ``folder``, oldest first."""
        return self._call(what, 'get', 'item', parameters={
            'folderId': folder['_id'], 'limit': 0, 'sort': '_id', 'sortdir': 1}) or []

    def _named(self, folder: dict, name: str, what: str) -> list[dict]:
        """The items of ``folder`` called ``name`` or Girder's renames of a clash with it,
        oldest first."""
        return [item for item in self._items(folder, what) if _same_name(item['name'], name)]

    def claim(self, name: str, owner: str) -> str | None:
        """Claim the embedding of cache ``name`` for ``owner``: the claim item's id, or None
        when another run's live claim is older.

        Every run creates its claim item (Girder renames clashes ``name.claim (1)``), drops
        stale ones, and the oldest live claim wins; a loser removes its own, so at most one run
        embeds while the others wait for its cache.
        """
        folder = self._cache_folder(create=True)
        claim_name = name + CLAIM_SUFFIX
        mine = self._call('claim the embedding', 'post', 'item', parameters={
            'folderId': folder['_id'], 'name': claim_name,
            'description': 'A job is embedding this grid; removed when it ends.'})
        self.renew_claim(mine['_id'], owner)
        live = []
        for item in self._named(folder, claim_name, 'list the embedding claims'):
            if _claim_age(item) > CLAIM_SECONDS and item['_id'] != mine['_id']:
                self.release_claim(item['_id'])  # its job died
            else:
                live.append(item)
        if live and live[0]['_id'] != mine['_id']:
            self.release_claim(mine['_id'])
            return None
        return str(mine['_id'])

    def claim_is_live(self, name: str) -> bool:
        """Whether some run holds a live claim on embedding cache ``name`` (read only: a run
        waiting for another's cache asks this, and claims again only once it is not)."""
        folder = self._cache_folder(create=False)
        if folder is None:
            return False
        return any(_claim_age(item) <= CLAIM_SECONDS for item in
                   self._named(folder, name + CLAIM_SUFFIX, 'list the embedding claims'))

    def renew_claim(self, claim_id: str, owner: str) -> None:
        self._call('renew the embedding claim', 'put', 'item/%s/metadata' % claim_id,
                   json={'claim': {'owner': owner, 'renewed': time.time()}})

    def release_claim(self, claim_id: str) -> None:
        with contextlib.suppress(NotFound), self._errors('release the embedding claim',
                                                         missing='gone'):
            self.client.delete('item/%s' % claim_id)


def _claim_age(item: dict) -> float:
    """Seconds since a claim was last renewed (or created, before its first renewal)."""
    renewed = ((item.get('meta') or {}).get('claim') or {}).get('renewed')
    if renewed is None:
        created = datetime.datetime.fromisoformat(str(item.get('created', '')).replace(
            'Z', '+00:00') or '1970-01-01T00:00:00+00:00')
        if created.tzinfo is None:
            created = created.replace(tzinfo=datetime.timezone.utc)
        renewed = created.timestamp()
    return time.time() - float(renewed)


def _same_name(found: str, name: str) -> bool:
    """``found`` is ``name`` or Girder's rename of a clash with it (``name (2)``)."""
    return found == name or re.fullmatch(re.escape(name) + r' \(\d+\)', found) is not None
