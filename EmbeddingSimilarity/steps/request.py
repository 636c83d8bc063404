"""The request of a run: the image and one small record per concern.

Each record belongs to the room that uses it (:class:`~..slide.options.Tiling`,
:class:`~..engine.options.EngineOptions`, ...), and the rooms below the steps take only their
own record. :meth:`Request.of` builds a request from the flat parameter names the CLIs' XMLs use
(as scripts and tests write them), and :meth:`Request.but` replaces fields by those names.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..collection.options import CollectionOptions
from ..engine.options import EngineOptions, ScaleOut
from ..girder.options import GirderOptions
from ..query.options import QueryOptions
from ..render.options import Display
from ..slide.options import Tiling
from .options import Outputs

RECORDS: dict[str, type] = {
    'tiling': Tiling, 'engine': EngineOptions, 'scale_out': ScaleOut, 'query': QueryOptions,
    'render': Display, 'outputs': Outputs, 'girder': GirderOptions, 'search': CollectionOptions}
"""Each record's attribute on :class:`Request` and its type."""
FIELD_RECORD: dict[str, str] = {field.name: attribute for attribute, record in RECORDS.items()
                                for field in dataclasses.fields(record)}
"""Flat parameter name -> the attribute of the record that holds it."""


@dataclasses.dataclass
class Request:
    """Everything one run needs; defaults match the XMLs' (a test checks each one)."""

    image: str
    tiling: Tiling = dataclasses.field(default_factory=Tiling)
    engine: EngineOptions = dataclasses.field(default_factory=EngineOptions)
    scale_out: ScaleOut = dataclasses.field(default_factory=ScaleOut)
    query: QueryOptions = dataclasses.field(default_factory=QueryOptions)
    render: Display = dataclasses.field(default_factory=Display)
    outputs: Outputs = dataclasses.field(default_factory=Outputs)
    girder: GirderOptions = dataclasses.field(default_factory=GirderOptions)
    search: CollectionOptions = dataclasses.field(default_factory=CollectionOptions)

    @classmethod
    def of(cls, image: str, **flat: Any) -> Request:
        """A request from flat parameter names (``keypoints=...``, ``batch_size=...``)."""
        return cls(image=image).but(**flat)

    def but(self, **flat: Any) -> Request:
        """A copy with the named fields replaced (flat names, or ``image``)."""
        changes: dict[str, dict[str, Any]] = {}
        top = {}
        for name, value in flat.items():
            if name == 'image':
                top[name] = value
            elif name in FIELD_RECORD:
                changes.setdefault(FIELD_RECORD[name], {})[name] = value
            else:
                raise TypeError('Request has no field %r' % name)
        for attribute, fields in changes.items():
            top[attribute] = dataclasses.replace(getattr(self, attribute), **fields)
        return dataclasses.replace(self, **top)

    def flat(self) -> dict[str, Any]:
        """Every field by its flat name (``image`` included)."""
        out: dict[str, Any] = {'image': self.image}
        for attribute, record in RECORDS.items():
            values = getattr(self, attribute)
            out.update({f.name: getattr(values, f.name) for f in dataclasses.fields(record)})
        return out

    def output_options(self) -> dict[str, str]:
        """Each output's option name and path (empty when not asked for)."""
        outputs, search = self.outputs, self.search
        return {'--output-embeddings': outputs.output_embeddings,
                '--output-annotation': outputs.output_annotation,
                '--output-overlay': outputs.output_overlay,
                '--output-table': outputs.output_table, '--output-hits': outputs.output_hits,
                '--output-results': search.output_results,
                '--output-gallery': search.output_gallery}

    @property
    def output_paths(self) -> list[str]:
        return [path for path in self.output_options().values() if path]

    @property
    def has_query(self) -> bool:
        """Whether the run asks a question (key points, regions, exemplar annotations or
        text)."""
        return self.query.has_shapes or self.query.has_text
