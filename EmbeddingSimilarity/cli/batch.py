"""Many slides in one call: every slide of a folder embedded into an output folder, one after
another or as whole-slide tasks on a Dask cluster. A slide that fails is reported and the
others go on.
"""

from __future__ import annotations

import os

from ..errors import InputError, UserError
from ..steps.options import cache_file_name
from ..steps.request import Request
from .embedding_similarity import run
from .paths import check_paths

OUTPUT_SUFFIXES = ('.npz', '.partial', '.anot', '.csv', '.tmp')
"""Files this tool writes, which a folder of slides may hold from an earlier run."""


def slide_paths(folder: str) -> list[str]:
    """The slides of a folder, in name order (hidden files and this tool's outputs skipped)."""
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if not name.startswith('.') and not name.endswith(OUTPUT_SUFFIXES)
                  and os.path.isfile(os.path.join(folder, name)))


def run_summary(request: Request) -> dict:
    """Run one slide and say what it produced (what the multi-slide mode reports)."""
    outcome = run(request)
    return {'cells_embedded': outcome.cells_embedded, 'files': outcome.files,
            'grid': list(outcome.data.grid.shape)}


def slide_requests(request: Request, output_dir: str) -> list[Request]:
    """One embeddings-only request per slide of the folder ``request.image``."""
    if request.has_query or request.query.negative_keypoints or request.query.negative_regions:
        raise InputError('key points belong to one slide; run each slide on its own to get its '
                         'heatmap (a folder of slides is embedded only)')
    paths = slide_paths(request.image)
    if not paths:
        raise InputError('folder %s holds no files to embed' % request.image)
    requests = [request.but(
        image=path, output_annotation='', output_overlay='', image_id='', annotation_id='',
        api_url='', token='', scheduler='',
        output_embeddings=os.path.join(output_dir, cache_file_name(path, request.engine.model)))
        for path in paths]
    check_paths('', paths, {'output for %s' % os.path.basename(r.image):
                            r.outputs.output_embeddings for r in requests})
    return requests


def run_folder(request: Request, output_dir: str) -> list[tuple[str, dict | None,
                                                                Exception | None]]:
    """Embed every slide of the folder ``request.image`` into ``output_dir``;
    ``(path, summary, error)`` per slide, in name order."""
    requests = slide_requests(request, output_dir)
    if request.scale_out.scheduler:
        from ..engine.distributed import dask_client, run_tasks

        with dask_client(request.scale_out.scheduler, request.scale_out.num_workers,
                         request.scale_out.threads_per_worker) as client:
            results = run_tasks(client, run_summary, requests)
        order = {r.image: i for i, r in enumerate(requests)}
        return sorted(((r.image, summary, error) for r, summary, error in results),
                      key=lambda item: order[item[0]])
    results: list[tuple[str, dict | None, Exception | None]] = []
    for one in requests:
        try:
            results.append((one.image, run_summary(one), None))
        except UserError as exc:
            results.append((one.image, None, exc))
    return results
