"""Zero-shot quality and cost of text queries, for whichever vision-language models are cached.

    python benchmarks/bench_zero_shot.py [--models PLIP,QuiltNet-B-32,hf:ORG/NAME] [--tiny]

On the sample slide, with the documented colour-rule labels of ``tests/test_scorer.py``
(``colour_labels``: haematoxylin-dominated cells = class 1, eosin-dominated = class 0), each
model (a catalog name or an ``hf:`` CLIP) whose weights are in the Hugging Face cache:

* embeds the slide once (``--stride 112``), timed as a whole process;
* asks ``--text-queries`` for class 1 with ``--negative-text-queries`` for class 0 on the cached
  grid, timed as a whole process (only the text tower loads), and reports the ratio;
* the zero-shot AUC of the text map over the labelled cells.

``--tiny`` adds the random-weight CLIP of the tests: it shows that the script and the timings
run, not quality (its AUC says nothing about words: a random text direction in a
colour-sensitive image space can rank the two stains apart, either way round). Models that
are not cached are listed as such. Results go to ``benchmarks/results/bench_zero_shot.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from results_file import save_report  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TESTS = os.path.join(REPO, 'tests')
sys.path[:0] = [REPO, TESTS]
SLIDE = os.path.join(TESTS, 'data', 'cmu_small_region.svs')
POSITIVE = 'dense basophilic epithelium; epidermis'
NEGATIVE = 'eosinophilic collagen; dermis'


def _run(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, '-m', 'EmbeddingSimilarity', *args],
                            capture_output=True, text=True, cwd=REPO, env=env, check=False)
    if result.returncode:
        raise RuntimeError(result.stderr.strip().splitlines()[-1])
    return time.perf_counter() - started


def _cached(model: str) -> bool:
    from EmbeddingSimilarity.errors import UserError
    from EmbeddingSimilarity.models import get_spec, hub

    try:
        spec = get_spec(model)
    except UserError:
        return False
    return bool(spec.repo_id and hub.cached_file(spec.repo_id, spec.hub_file, spec.revision))


def measure(model: str, work: str, env: dict) -> dict:
    """Embedding, then the cached text query, and the AUC of its map."""
    from sklearn.metrics import roc_auc_score
    from test_scorer import colour_labels

    from EmbeddingSimilarity.cache import store

    flag = '--custom-model' if model.startswith(('hf:', 'timm:', 'local:')) else '--model'
    out = os.path.join(work, model.replace(':', '_').replace('/', '_'))
    cache = os.path.join(out, 'grid.npz')
    embed = _run([SLIDE, flag, model, '--stride', '112', '--output-embeddings', cache,
                  '--output-dir', out], env)
    anot = os.path.join(out, 'text.anot')
    query = _run([SLIDE, flag, model, '--stride', '112', '--input-embeddings', cache,
                  '--text-queries', POSITIVE, '--negative-text-queries', NEGATIVE,
                  '--threshold', '-1', '--scaling', 'linear',  # every cosine, kept in order
                  '--output-annotation', anot, '--output-dir', out], env)
    data = store.load(cache)
    with open(anot) as handle:
        element = json.load(handle)['elements'][0]
    labels = colour_labels(data.grid)
    values = _grid_values(element, data.grid.shape)
    keep = (labels >= 0) & np.isfinite(values)
    auc = float(roc_auc_score(labels[keep], values[keep]))
    return {'model': model, 'embed_s': round(embed, 2), 'cached_text_query_s': round(query, 2),
            'ratio': round(embed / query, 2), 'labelled_cells': int(keep.sum()),
            'auc': round(auc, 4)}


def _grid_values(element: dict, shape: tuple[int, int]) -> np.ndarray:
    """The heatmap's values on the grid (griddata elements are row-major, NaN-free)."""
    values = np.asarray(element['values'], dtype=np.float64)
    grid = np.full(shape, np.nan)
    if values.size == grid.size:
        return values.reshape(shape)
    raise RuntimeError('unexpected heatmap element of %d values for a %s grid'
                       % (values.size, shape))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--models', default='PLIP,QuiltNet-B-32')
    parser.add_argument('--tiny', action='store_true',
                        help='also the random-weight CLIP of the tests (chance AUC)')
    args = parser.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]))
    rows = []
    with tempfile.TemporaryDirectory() as work:
        models = [m.strip() for m in args.models.split(',') if m.strip()]
        if args.tiny:
            import tiny_clip

            hub = os.path.join(work, 'hub')
            tiny_clip.build(hub)
            env_tiny = dict(env, HF_HUB_CACHE=hub, HF_HUB_OFFLINE='1')
            rows.append(measure('hf:' + tiny_clip.CLIP_REPO, work, env_tiny))
        for model in models:
            rows.append(measure(model, work, env) if _cached(model) else
                        {'model': model, 'auc': None, 'note': 'not cached'})
    print('%-24s %9s %12s %7s %6s' % ('model', 'embed s', 'text query s', 'ratio', 'AUC'))
    for row in rows:
        print('%-24s %9s %12s %7s %6s' % (row['model'], row.get('embed_s', '-'),
                                          row.get('cached_text_query_s', '-'),
                                          row.get('ratio', '-'), row['auc'] or '-'))
    save_report('bench_zero_shot', {'slide': SLIDE, 'positive': POSITIVE,
                                    'negative': NEGATIVE, 'rows': rows})


if __name__ == '__main__':
    main()
