"""What an embedding grid was made from: the typed provenance every cache carries.

Owned by :mod:`.store` (which writes it as JSON inside the ``.npz``). A cache can serve a run
when its :meth:`Provenance.mismatch` with the run's wanted provenance is ``None``; the same
record names the cache item in Girder (:meth:`Provenance.cache_name`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

from ..slide.tiling import Scale, TileGrid


def safe_name(text: str) -> str:
    """``text`` usable in a file name (a model name may hold ``/`` or ``:``)."""
    return re.sub(r'[^\w.+-]+', '_', text)


def _known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {field.name for field in dataclasses.fields(cls)}
    return {key: value for key, value in data.items() if key in names}


@dataclasses.dataclass
class ModelRecord:
    """The model that made the embeddings, and how it ran."""

    name: str
    embed_dim: int
    pooling: str = ''
    source: str = ''
    repo_id: str | None = None
    revision: str | None = None
    input_size: int = 0
    mean: list[float] = dataclasses.field(default_factory=list)
    std: list[float] = dataclasses.field(default_factory=list)
    device: str | None = None
    precision: str | None = None
    layout: str | None = None
    resolved_revision: str | None = None
    batch_size_after_back_off: int | None = None

    @classmethod
    def from_spec(cls, spec: Any) -> ModelRecord:
        return cls(name=spec.name, embed_dim=spec.embed_dim, pooling=spec.pooling,
                   source=spec.source, repo_id=spec.repo_id, revision=spec.revision,
                   input_size=spec.input_size, mean=list(spec.mean), std=list(spec.std))


@dataclasses.dataclass
class ImageRecord:
    """The slide: its name, size and a fingerprint of its bytes.

    ``stat`` and ``metadata`` (added in 0.1 without a format bump: older readers ignore them,
    and caches without them still serve, by opening the slide) let a cached click plan without
    opening the slide: ``stat`` is the file's ``[name, size, mtime_ns, inode, ctime_ns]``
    signature when ``fingerprint`` was taken (equal now = the fingerprint holds without reading
    a byte; a cache with the 0.1 signature of three has its fingerprint checked once), and
    ``metadata`` the slide metadata the plan reads (size, µm/px, magnification).
    """

    name: str
    fingerprint: str
    width: int = 0
    height: int = 0
    girder_id: str | None = None
    stat: list | None = None
    metadata: dict[str, Any] | None = None
    legacy_fingerprint: str = dataclasses.field(default='', compare=False, repr=False)
    """Of a run's wanted record only, never stored: the name-hashing fingerprint of 0.1
    (:func:`~EmbeddingSimilarity.slide.source.legacy_fingerprint`), which a cache written
    then carries and which still identifies the same file under the same name."""

    def matches(self, fingerprint: str) -> bool:
        """Whether a cache fingerprinted ``fingerprint`` is of this image's bytes."""
        return fingerprint in (self.fingerprint, self.legacy_fingerprint or self.fingerprint)


@dataclasses.dataclass
class Provenance:
    """Model, grid, scale and image of a cache, plus what the run that wrote it recorded."""

    model: ModelRecord
    grid: TileGrid
    image: ImageRecord
    scale: Scale | None = None
    complete: bool = True
    """False for a checkpoint of an interrupted run."""
    tissue: dict[str, Any] = dataclasses.field(default_factory=dict)
    software: dict[str, str] = dataclasses.field(default_factory=dict)
    updated: str = ''
    timings: dict[str, float] = dataclasses.field(default_factory=dict)

    @classmethod
    def describe(cls, spec: Any, grid: TileGrid, scale: Scale, image_path: str,
                 fingerprint: str, girder_id: str = '') -> Provenance:
        """The provenance a run of ``spec`` on this grid wants (and records)."""
        image = ImageRecord(name=os.path.basename(os.path.normpath(image_path)),
                            fingerprint=fingerprint, width=grid.image_width,
                            height=grid.image_height, girder_id=girder_id or None)
        return cls(model=ModelRecord.from_spec(spec), grid=grid, image=image, scale=scale)

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in the cache (with a derived ``tile`` section for people)."""
        out: dict[str, Any] = {
            'model': dataclasses.asdict(self.model), 'grid': self.grid.to_dict(),
            'image': _stored(self.image), 'complete': self.complete,
            'tissue': dict(self.tissue), 'software': dict(self.software),
            'timings': dict(self.timings)}
        if self.updated:
            out['updated'] = self.updated
        if self.scale is not None:
            out['scale'] = dataclasses.asdict(self.scale)
            out['tile'] = {'model_px': self.grid.tile, 'stride_model_px': self.grid.stride,
                           'base_px': self.grid.tile_base,
                           'stride_base_px': self.grid.stride_base,
                           'mpp': self.scale.mpp, 'magnification': self.scale.magnification}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Provenance:
        """Read :meth:`to_json`'s form; unknown keys are ignored. KeyError/TypeError/ValueError
        when a required part (model, grid, image) is missing or malformed."""
        model = ModelRecord(**_known_fields(ModelRecord, data['model']))
        model.embed_dim = int(model.embed_dim)
        scale = data.get('scale')
        return cls(
            model=model, grid=TileGrid(**data['grid']),
            image=ImageRecord(**_known_fields(ImageRecord, data['image'])),
            scale=Scale(**_known_fields(Scale, scale)) if isinstance(scale, dict) else None,
            complete=bool(data.get('complete', True)), tissue=dict(data.get('tissue') or {}),
            software=dict(data.get('software') or {}), updated=str(data.get('updated') or ''),
            timings=dict(data.get('timings') or {}))

    def mismatch(self, wanted: Provenance) -> str | None:
        """Why this cache cannot serve a run that wants ``wanted`` (None = it can).

        The model, its pooling, the grid geometry and the image fingerprint must agree; the
        tissue threshold need not (missing cells are embedded on top of a cache).
        """
        for label, have, want in (
                ('model', self.model.name, wanted.model.name),
                ('pooling', self.model.pooling, wanted.model.pooling),
                ('embedding size', self.model.embed_dim, wanted.model.embed_dim)):
            if have != want:
                return '%s %r != requested %r' % (label, have, want)
        if _grid_differs(self.grid, wanted.grid):
            return 'grid %s != requested %s' % (_grid_text(self.grid), _grid_text(wanted.grid))
        if not wanted.image.matches(self.image.fingerprint):
            return 'image %r != requested %r' % (self.image.fingerprint,
                                                 wanted.image.fingerprint)
        return None

    def cache_name(self, fingerprint: str = '') -> str:
        """Name of the cache item in Girder: image, model and grid, so one lookup finds it
        (``fingerprint``: another fingerprint of the image, e.g. its legacy one)."""
        return os.path.splitext(self.image.name)[0] + self.cache_name_ending(fingerprint)

    def cache_name_ending(self, fingerprint: str = '') -> str:
        """What follows the image name in :meth:`cache_name`: model, grid and the image's
        content digest, the same for a renamed copy of the image."""
        digest = (fingerprint or self.image.fingerprint).split(':')[-1][:12]
        return '.%s.t%ds%df%.4f.%s.npz' % (safe_name(self.model.name), self.grid.tile,
                                           self.grid.stride, self.grid.factor, digest)


def _stored(image: ImageRecord) -> dict[str, Any]:
    out = dataclasses.asdict(image)
    out.pop('legacy_fingerprint')
    return out


def _grid_differs(a: TileGrid, b: TileGrid) -> bool:
    for key in ('image_width', 'image_height', 'tile', 'stride', 'rows', 'cols'):
        if getattr(a, key) != getattr(b, key):
            return True
    return abs(a.factor - b.factor) > 1e-6


def _grid_text(g: TileGrid) -> str:
    return '%sx%s cells of %s px every %s px at %.4g base px/px' % (
        g.rows, g.cols, g.tile, g.stride, g.factor)


def software_versions() -> dict[str, str]:
    """Versions of the packages that shape the embeddings (read without importing them)."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    versions = {'EmbeddingSimilarity': __version__}
    for package in ('torch', 'timm', 'transformers', 'large-image'):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = 'not installed'
    return versions
