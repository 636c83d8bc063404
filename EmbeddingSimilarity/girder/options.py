"""Where a run talks to Girder: the API, the job's token, the image item and the annotation to
update in place."""

from __future__ import annotations

import dataclasses
import re

GIRDER_ID = re.compile(r'[0-9a-f]{24}')
"""A Girder (MongoDB ObjectId) id: checked before it enters a URL path."""


@dataclasses.dataclass
class GirderOptions:
    api_url: str = ''
    token: str = dataclasses.field(default='', repr=False)
    image_id: str = ''
    annotation_id: str = ''

    @property
    def connected(self) -> bool:
        return bool(self.api_url and self.token)
