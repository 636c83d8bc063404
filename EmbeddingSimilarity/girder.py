"""Talking to Girder with girder_client: resolve the image item, create/update/find annotations.

The token is only ever handed to girder_client; it is never logged or put in a message.
"""

from __future__ import annotations

import logging
from typing import Any

from .annotation import TOOL_ATTRIBUTE
from .errors import GirderError

logger = logging.getLogger(__name__)

TIMEOUT_S = 60


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

    def find_annotation(self, item_id: str, model: str) -> dict | None:
        """This tool's newest similarity annotation for ``model`` on the item, if any."""
        found = self._call('list annotations of item %s' % item_id, 'get', 'annotation',
                           parameters={'itemId': item_id, 'limit': 0, 'sort': 'updated',
                                       'sortdir': -1})
        for doc in found or []:
            attrs = (doc.get('annotation') or {}).get('attributes') or {}
            mine = attrs.get(TOOL_ATTRIBUTE)
            if isinstance(mine, dict) and mine.get('model') == model:
                return doc
        return None

    def create_annotation(self, item_id: str, annotation: dict) -> str:
        doc = self._call('create an annotation on item %s' % item_id, 'post', 'annotation',
                         parameters={'itemId': item_id}, json=annotation)
        return str(doc['_id'])

    def update_annotation(self, annotation_id: str, annotation: dict) -> str:
        import girder_client

        try:
            self.client.get('annotation/%s' % annotation_id, parameters={'maxDetails': 1})
        except girder_client.HttpError as exc:
            if _http_status(exc) in (400, 404):
                raise GirderError('annotation %s does not exist on this Girder; leave the '
                                  'annotation id empty to create a new one'
                                  % annotation_id) from exc
            raise GirderError('Girder could not read annotation %s: %s'
                              % (annotation_id, _describe(exc))) from exc
        doc = self._call('update annotation %s' % annotation_id, 'put',
                         'annotation/%s' % annotation_id, json=annotation)
        return str(doc['_id'])
