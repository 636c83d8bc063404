"""All Girder policy: the connection of a run, resolving the image item, creating or updating
this tool's annotation in place, and the embedding cache in the user's Private folder.

The token is only ever handed to girder_client; it is never logged or put in a message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

from .. import TOOL_ATTRIBUTE
from ..errors import GirderError, GirderUnreachable, first_line
from .cache_folder import CacheFolder, NotFound
from .transport import bounded_session, girder_timeouts

logger = logging.getLogger(__name__)



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
        text = first_line(response, 200)
    return ('HTTP %s %s' % (status, text)).strip() if status else type(exc).__name__


LIST_ENDPOINTS = ('annotation', 'item', 'folder', 'file')
"""GET paths at which Girder answers a list of documents."""


class GirderSession(CacheFolder):
    """An authenticated girder_client connection with one-line errors."""

    def __init__(self, api_url: str, token: str) -> None:
        import girder_client
        import requests

        if not api_url.startswith(('http://', 'https://')):
            raise GirderError('Girder API URL %r must start with http:// or https:// (e.g. '
                              'http://localhost:8080/api/v1)' % api_url)
        self.api_url = api_url.rstrip('/')
        self.client = girder_client.GirderClient(apiUrl=self.api_url)
        self.client._session = bounded_session(*girder_timeouts())
        self.client.setToken(token)
        self._requests = requests
        try:
            # a DSA job's token is scoped to data read/write: /user/me answers null for it, but
            # /token/current names the token's user whatever its scope
            token_doc = self.client.get('token/current', jsonResp=True)
        except requests.exceptions.RequestException as exc:
            raise GirderUnreachable('cannot reach Girder at %s (%s); check --api-url and that '
                                    'the server is running'
                                    % (self.api_url, type(exc).__name__)) from exc
        except girder_client.HttpError as exc:
            raise GirderError('Girder at %s answered %s; check --api-url'
                              % (self.api_url, _describe(exc))) from exc
        if not isinstance(token_doc, dict) or not token_doc.get('userId'):
            raise GirderError('Girder at %s rejected the token (no user for it); pass a valid '
                              '--girder-token' % self.api_url)
        self.user = {'_id': str(token_doc['userId'])}
        self.unreachable = ''
        """Why Girder stopped answering, once it has: every later call fails at once with it
        (a dead server costs one timeout per run, not one per call)."""

    @contextlib.contextmanager
    def _errors(self, what: str, missing: str = '') -> Iterator[None]:
        """Map girder_client's and requests' errors to one-line :class:`GirderError` s.

        ``missing``: when given, a 400/404 answer (no such object) raises :class:`NotFound`
        with this message.
        """
        import girder_client

        if self.unreachable:
            raise GirderUnreachable(self.unreachable)
        try:
            yield
        except girder_client.HttpError as exc:
            status = _http_status(exc)
            if missing and status in (400, 404):
                raise NotFound(missing) from exc
            if status in (401, 403):
                raise GirderError('Girder refused to %s (%s); the token lacks access'
                                  % (what, _describe(exc))) from exc
            raise GirderError('Girder could not %s: %s' % (what, _describe(exc))) from exc
        except self._requests.exceptions.RequestException as exc:
            self.unreachable = ('lost the connection to Girder at %s while trying to %s (%s); '
                                'no other call was tried'
                                % (self.api_url, what, type(exc).__name__))
            raise GirderUnreachable(self.unreachable) from exc

    def _call(self, what: str, method: str, path: str, **kwargs: Any) -> Any:
        """One REST call; an answer of the wrong shape (an object where Girder lists, a list
        or text where it answers one document) is a GirderError, not a crash further on."""
        with self._errors(what):
            answer = getattr(self.client, method)(path, **kwargs)
        listing = method == 'get' and (path in LIST_ENDPOINTS or path.endswith('/files'))
        if listing and not (isinstance(answer, list) and all(
                isinstance(doc, dict) and '_id' in doc for doc in answer)):
            raise GirderError('Girder at %s answered "%s" with %s, not a list of documents; '
                              'check that --api-url is a Girder API (.../api/v1)'
                              % (self.api_url, what, type(answer).__name__))
        if not listing and answer is not None and not isinstance(answer, dict):
            raise GirderError('Girder at %s answered "%s" with %s, not a document; check that '
                              '--api-url is a Girder API (.../api/v1)'
                              % (self.api_url, what, type(answer).__name__))
        return answer

    def resolve_item(self, girder_id: str) -> dict:
        """The item for an item id or a file id (slicer_cli_web passes a file id for images)."""
        for kind in ('item', 'file'):
            try:
                with self._errors('look up %s %s' % (kind, girder_id), missing=kind):
                    found = self.client.get('%s/%s' % (kind, girder_id))
            except NotFound:
                continue
            if kind == 'file':
                return self._call('read item %s' % found['itemId'], 'get',
                                  'item/%s' % found['itemId'])
            return found
        raise GirderError('no Girder item or file has id %s; pass the image item id' % girder_id)

    def my_annotations(self, item_id: str, model: str,
                       tool: str = TOOL_ATTRIBUTE) -> list[dict]:
        """This tool's annotations for ``model`` on the item, oldest first: similarity maps, or
        with ``tool='EmbeddingClusters'`` cluster maps."""
        found = self._call('list annotations of item %s' % item_id, 'get', 'annotation',
                           parameters={'itemId': item_id, 'limit': 0, 'sort': '_id',
                                       'sortdir': 1})
        return [doc for doc in found or [] if _made_for(doc, model, tool)]

    def find_annotation(self, item_id: str, model: str,
                        tool: str = TOOL_ATTRIBUTE) -> dict | None:
        """The annotation this tool updates in place for ``model`` on the item: the oldest."""
        mine = self.my_annotations(item_id, model, tool)
        return mine[0] if mine else None

    def annotations_named(self, item_id: str, names: list[str]) -> tuple[list[dict], list[str]]:
        """The elements of the item's annotations called one of ``names``, or in an element
        group of that name; and every annotation name and group on the item (for a message)."""
        found = self._call('list annotations of item %s' % item_id, 'get', 'annotation',
                           parameters={'itemId': item_id, 'limit': 0})
        elements, seen = [], []
        for doc in found or []:
            full = self._call('read annotation %s' % doc['_id'], 'get',
                              'annotation/%s' % doc['_id'])
            body = full.get('annotation') or {}
            seen.append(body.get('name', ''))
            groups = {el.get('group') for el in body.get('elements') or [] if el.get('group')}
            seen.extend(sorted(groups))
            for element in body.get('elements') or []:
                if body.get('name') in names or element.get('group') in names:
                    elements.append(element)
        return elements, sorted(set(seen))

    def delete_annotation(self, annotation_id: str) -> None:
        """Delete an annotation; one already gone is fine."""
        with contextlib.suppress(NotFound), self._errors(
                'delete annotation %s' % annotation_id, missing='gone'):
            self.client.delete('annotation/%s' % annotation_id)

    def create_annotation(self, item_id: str, annotation: dict) -> str:
        doc = self._call('create an annotation on item %s' % item_id, 'post', 'annotation',
                         parameters={'itemId': item_id}, json=annotation)
        return str(doc['_id'])

    def update_annotation(self, annotation_id: str, annotation: dict) -> str:
        """Replace annotation ``annotation_id`` (elements included) with ``annotation``."""
        with self._errors('update annotation %s' % annotation_id, missing=(
                'annotation %s does not exist on this Girder (or is not yours to change); leave '
                'the annotation id empty to create a new one' % annotation_id)):
            doc = self.client.put('annotation/%s' % annotation_id, json=annotation)
        return str(doc['_id'])

    def folder_items(self, folder_id: str) -> list[dict]:
        """Every item under the folder, subfolders included, with ``path`` below it."""
        with self._errors('read folder %s' % folder_id, missing='Girder folder %s does not '
                          'exist or you cannot read it; pick one you can read' % folder_id):
            self.client.get('folder/%s' % folder_id)
        found: list[dict] = []
        todo = [(folder_id, '')]  # breadth first
        while todo:
            current, prefix = todo.pop(0)
            found.extend(dict(item, path=prefix + item['name']) for item in self._call(
                'list folder %s' % current, 'get', 'item', parameters={
                    'folderId': current, 'limit': 0, 'sort': 'name'}) or [])
            todo.extend((sub['_id'], prefix + sub['name'] + '/') for sub in self._call(
                'list folder %s' % current, 'get', 'folder', parameters={
                    'parentType': 'folder', 'parentId': current, 'limit': 0}) or [])
        return found

    def item_file(self, item: dict) -> dict | None:
        """The file an item's image is read from: its large image's, else its first file."""
        files = self._call('list the files of item %s' % item['_id'], 'get',
                           'item/%s/files' % item['_id'], parameters={'limit': 0}) or []
        wanted = (item.get('largeImage') or {}).get('fileId')
        return next((f for f in files if f['_id'] == wanted), files[0] if files else None)

    # --- embedding cache in the user's Private folder -------------------------------------

    def download_file(self, file_id: str, path: str) -> None:
        with self._errors('download file %s' % file_id):
            self.client.downloadFile(file_id, path)

def _made_for(doc: dict, model: str, tool: str = TOOL_ATTRIBUTE) -> bool:
    """``doc`` is ``tool``'s annotation for ``model``."""
    attrs = (doc.get('annotation') or {}).get('attributes') or {}
    mine = attrs.get(tool)
    return isinstance(mine, dict) and mine.get('model') == model


@dataclasses.dataclass
class GirderLink:
    """The Girder connection of a run, or why there is none.

    A failed connection does not stop the embedding (it is saved locally); the error is raised
    when the heatmap is to be posted.
    """

    session: GirderSession | None = None
    error: GirderError | None = None

    @classmethod
    def connect(cls, api_url: str, token: str) -> GirderLink | None:
        """None when no Girder was asked for."""
        if not (api_url and token):
            return None
        try:
            return cls(session=GirderSession(api_url, token))
        except GirderError as exc:
            logger.warning('%s; the embeddings are still computed and saved', exc)
            return cls(error=exc)

    def lost(self, error: GirderError) -> None:
        """Girder stopped answering: every later call of the run gets ``error`` at once."""
        self.session, self.error = None, error

    def require(self) -> GirderSession:
        """The session, or the connection's error."""
        if self.session is None:
            raise self.error or GirderError('no Girder connection')
        return self.session


def publish_annotation(session: GirderSession, annotation: dict, image_id: str = '',
                       annotation_id: str = '', tool: str = TOOL_ATTRIBUTE) -> str:
    """Update ``annotation_id``, else ``tool``'s previous annotation for the model on the
    image's item, else create one there; the annotation's id."""
    model = annotation['attributes'][tool]['model']
    if annotation_id:
        found = session.update_annotation(annotation_id, annotation)
        logger.info('updated annotation %s', found)
        return found
    item = session.resolve_item(image_id)
    previous = session.find_annotation(item['_id'], model, tool)
    if previous is not None:
        found = session.update_annotation(str(previous['_id']), annotation)
        logger.info('updated annotation %s on item %s', found, item['_id'])
        return found
    created = session.create_annotation(item['_id'], annotation)
    kept = _keep_one(session, item['_id'], model, tool, created, annotation)
    logger.info('%s annotation %s on item %s', 'created' if kept == created else 'updated',
                kept, item['_id'])
    return kept


def _keep_one(session: GirderSession, item_id: str, model: str, tool: str, created: str,
              annotation: dict) -> str:
    """Runs that post a first heatmap at once each create one: keep the oldest, delete the
    rest, and make sure the kept one holds this run's heatmap."""
    mine = session.my_annotations(item_id, model, tool)
    if not mine:
        return created
    kept = str(mine[0]['_id'])
    for doc in mine[1:]:
        session.delete_annotation(str(doc['_id']))
    if kept != created:
        session.update_annotation(kept, annotation)
    return kept
