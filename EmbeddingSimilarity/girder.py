"""Talking to Girder with girder_client: resolve the image item, create/update/find annotations.

The token is only ever handed to girder_client; it is never logged or put in a message.
"""

from __future__ import annotations

import logging
from typing import Any

from .annotation import TOOL_ATTRIBUTE
from .errors import GirderError

logger = logging.getLogger(__name__)

CACHE_FOLDER = 'EmbeddingSimilarity cache'


def _http_status(exc: Exception) -> int | None:
    status = getattr(exc, 'status', None)
    if status is None:
        response = getattr(exc, 'response', None)
        status = getattr(response, 'status_code', None)
    return status


def _describe(exc: Exception) -> str:
    status = _http_status(exc)
    text = ''
    response = getattr(exc, 'responseText', None) or getattr(getattr(exc, 'response', None),
                                                             'text', None)
    if response:
        text = str(response).strip().splitlines()[0][:200]
    return ('HTTP %s %s' % (status, text)).strip() if status else type(exc).__name__


class GirderSession:
    """An authenticated girder_client connection with one-line errors."""

    def __init__(self, api_url: str, token: str) -> None:
        import girder_client
        import requests

        if not api_url.startswith(('http://', 'https://')):
            raise GirderError('Girder API URL %r must start with http:// or https:// (e.g. '
                              'http://localhost:8080/api/v1)' % api_url)
        self.api_url = api_url.rstrip('/')
        self.client = girder_client.GirderClient(apiUrl=self.api_url)
        self.client.setToken(token)
        self._requests = requests
        try:
            user = self.client.get('user/me', jsonResp=True)
        except requests.exceptions.RequestException as exc:
            raise GirderError('cannot reach Girder at %s (%s); check --api-url and that the '
                              'server is running' % (self.api_url, type(exc).__name__)) from exc
        except girder_client.HttpError as exc:
            raise GirderError('Girder at %s answered %s; check --api-url'
                              % (self.api_url, _describe(exc))) from exc
        if not user:
            raise GirderError('Girder at %s rejected the token (no user for it); pass a valid '
                              '--girder-token' % self.api_url)
        self.user = user

    def _call(self, what: str, method: str, path: str, **kwargs: Any) -> Any:
        import girder_client

        try:
            return getattr(self.client, method)(path, **kwargs)
        except girder_client.HttpError as exc:
            status = _http_status(exc)
            if status in (401, 403):
                raise GirderError('Girder refused to %s (%s); the token lacks access'
                                  % (what, _describe(exc))) from exc
            raise GirderError('Girder could not %s: %s' % (what, _describe(exc))) from exc
        except self._requests.exceptions.RequestException as exc:
            raise GirderError('lost the connection to Girder at %s while trying to %s (%s)'
                              % (self.api_url, what, type(exc).__name__)) from exc

    def resolve_item(self, girder_id: str) -> dict:
        """The item for an item id or a file id (slicer_cli_web passes a file id for images)."""
        import girder_client

        for kind in ('item', 'file'):
            try:
                found = self.client.get('%s/%s' % (kind, girder_id))
            except girder_client.HttpError as exc:
                if _http_status(exc) in (400, 404):
                    continue
                raise GirderError('Girder could not look up %s %s: %s'
                                  % (kind, girder_id, _describe(exc))) from exc
            except self._requests.exceptions.RequestException as exc:
                raise GirderError('lost the connection to Girder at %s (%s)'
                                  % (self.api_url, type(exc).__name__)) from exc
            if kind == 'file':
                return self._call('read item %s' % found['itemId'], 'get',
                                  'item/%s' % found['itemId'])
            return found
        raise GirderError('no Girder item or file has id %s; pass the image item id' % girder_id)

    def find_annotation(self, item_id: str, model: str,
                        tool: str = TOOL_ATTRIBUTE) -> dict | None:
        """This tool's newest annotation for ``model`` on the item, if any: a similarity map,
        or with ``tool='EmbeddingClusters'`` a cluster map."""
        found = self._call('list annotations of item %s' % item_id, 'get', 'annotation',
                           parameters={'itemId': item_id, 'limit': 0, 'sort': 'updated',
                                       'sortdir': -1})
        for doc in found or []:
            attrs = (doc.get('annotation') or {}).get('attributes') or {}
            mine = attrs.get(tool)
            if isinstance(mine, dict) and mine.get('model') == model:
                return doc
        return None

    def create_annotation(self, item_id: str, annotation: dict) -> str:
        doc = self._call('create an annotation on item %s' % item_id, 'post', 'annotation',
                         parameters={'itemId': item_id}, json=annotation)
        return str(doc['_id'])

    def update_annotation(self, annotation_id: str, annotation: dict) -> str:
        """Replace annotation ``annotation_id`` (elements included) with ``annotation``."""
        import girder_client

        try:
            doc = self.client.put('annotation/%s' % annotation_id, json=annotation)
        except girder_client.HttpError as exc:
            if _http_status(exc) in (400, 404):
                raise GirderError('annotation %s does not exist on this Girder (or is not '
                                  'yours to change); leave the annotation id empty to create a '
                                  'new one' % annotation_id) from exc
            raise GirderError('Girder could not update annotation %s: %s'
                              % (annotation_id, _describe(exc))) from exc
        except self._requests.exceptions.RequestException as exc:
            raise GirderError('lost the connection to Girder at %s while updating annotation '
                              '%s (%s)' % (self.api_url, annotation_id,
                                           type(exc).__name__)) from exc
        return str(doc['_id'])

    # --- embedding cache in the user's Private folder -------------------------------------

    def _cache_folder(self, create: bool) -> dict | None:
        """``Private/EmbeddingSimilarity cache`` of the token's user."""
        private = self._call('find your Private folder', 'get', 'folder', parameters={
            'parentType': 'user', 'parentId': self.user['_id'], 'name': 'Private'})
        if not private:
            return None
        found = self._call('list your Private folder', 'get', 'folder', parameters={
            'parentType': 'folder', 'parentId': private[0]['_id'], 'name': CACHE_FOLDER})
        if found:
            return found[0]
        if not create:
            return None
        return self._call('create the embedding cache folder', 'post', 'folder', parameters={
            'parentType': 'folder', 'parentId': private[0]['_id'], 'name': CACHE_FOLDER,
            'description': 'Embedding grids cached by EmbeddingSimilarity; safe to delete.',
            'reuseExisting': True})

    def find_cached_embeddings(self, name: str) -> dict | None:
        """The file of the cached embedding item called ``name``, if there is one."""
        folder = self._cache_folder(create=False)
        if folder is None:
            return None
        items = self._call('list the embedding cache', 'get', 'item', parameters={
            'folderId': folder['_id'], 'name': name, 'limit': 1})
        if not items:
            return None
        files = self._call('list the cached embedding file', 'get',
                           'item/%s/files' % items[0]['_id'], parameters={'limit': 1})
        return files[0] if files else None

    def download_file(self, file_id: str, path: str) -> None:
        import girder_client

        try:
            self.client.downloadFile(file_id, path)
        except (girder_client.HttpError, self._requests.exceptions.RequestException) as exc:
            raise GirderError('could not download file %s from Girder: %s' % (
                file_id, _describe(exc))) from exc

    def store_cached_embeddings(self, path: str, name: str, metadata: dict) -> str:
        """Upload ``path`` as the cache item ``name`` (replacing an older one); its file id."""
        import girder_client

        folder = self._cache_folder(create=True)
        old = self._call('list the embedding cache', 'get', 'item', parameters={
            'folderId': folder['_id'], 'name': name})
        try:
            uploaded = self.client.uploadFileToFolder(folder['_id'], path, filename=name)
        except (girder_client.HttpError, self._requests.exceptions.RequestException) as exc:
            raise GirderError('could not upload the embedding cache to Girder: %s'
                              % _describe(exc)) from exc
        self._call('describe the cached embeddings', 'put',
                   'item/%s/metadata' % uploaded['itemId'], json={TOOL_ATTRIBUTE: metadata})
        for item in old or []:
            self._call('replace the old cached embeddings', 'delete', 'item/%s' % item['_id'])
        return str(uploaded['_id'])
