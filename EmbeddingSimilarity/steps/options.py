"""The files a run reads and writes besides the image (embeddings, annotation, picture, table,
hits, Slicer return parameters) and how it saves progress."""

from __future__ import annotations

import dataclasses
import os

from ..cache.provenance import safe_name

CHECKPOINT_SECONDS = 60.0


@dataclasses.dataclass
class Outputs:
    input_embeddings: str = ''
    output_embeddings: str = ''
    output_annotation: str = ''
    output_overlay: str = ''
    output_table: str = ''
    output_hits: str = ''
    return_parameter_file: str = ''
    keep_output_files: bool = False
    """In a Girder job, also write the outputs that copy what Girder holds (see
    :func:`~.publish.without_girder_copies`)."""
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    progressive: str = 'auto'
    """Embed coarse to fine with preview heatmaps: auto (= when posting to Girder), true, false."""


def cache_file_name(slide: str, model: str) -> str:
    """``<file name>.<model>.npz``: the cache a folder run or a collection search keeps for one
    slide. The whole name, extension included, so ``x.svs`` and ``x.tif`` in one folder never
    share a cache, whatever else the folder holds."""
    return '%s.%s.npz' % (os.path.basename(os.path.normpath(slide)), safe_name(model))


def default_output_names(image: str, model: str, task: str = 'similarity') -> dict[str, str]:
    """File names for a run's outputs: ``<stem>.<model>.npz``, ``<stem>.<task>.anot`` and
    ``<stem>.<task>.png`` (``<stem>``: the image's name without its extension).

    Each adds a suffix to the stem, so none can be the image itself (``photo.png`` gives
    ``photo.similarity.png``) and they never equal each other.
    """
    stem = os.path.splitext(os.path.basename(os.path.normpath(image)))[0]
    return {'embeddings': '%s.%s.npz' % (stem, safe_name(model)),
            'annotation': '%s.%s.anot' % (stem, task), 'overlay': '%s.%s.png' % (stem, task),
            'table': '%s.%s.csv' % (stem, task)}
