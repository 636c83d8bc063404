"""What a cached text query saves by loading only the text tower of an open_clip model.

    python benchmarks/bench_text_tower.py [--model ViT-B-32] [--repeat 3]

Builds QuiltNet-B-32's architecture (open_clip ``ViT-B-32``, random weights: the hub is not
needed to time construction and loading) into a Hugging Face cache layout, then, each in a
fresh process so memory and imports do not carry over:

* ``full``: ``open_clip.create_model('hf-hub:...')``, what a text query cost before
  (both towers built and filled, the image tower then dropped);
* ``text only``: :func:`EmbeddingSimilarity.models.text.load_text_encoder`, the text tower
  alone from the config and the text half of the checkpoint;

and reports the load time (after the same imports, timed apart), the peak resident memory and
the parameters built, with the ratios of text-only to full. Results go to
``benchmarks/results/bench_text_tower.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from results_file import save_report  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REPO_ID = 'benchorg/quilt-architecture'
COMMIT = 'b' * 40

MAKE = r'''
import json, os, sys, open_clip, torch
cache, arch, repo, commit = sys.argv[1:5]
base = os.path.join(cache, 'models--' + repo.replace('/', '--'))
folder = os.path.join(base, 'snapshots', commit)
os.makedirs(folder, exist_ok=True)
os.makedirs(os.path.join(base, 'refs'), exist_ok=True)
open(os.path.join(base, 'refs', 'main'), 'w').write(commit)
json.dump({'model_cfg': open_clip.get_model_config(arch), 'preprocess_cfg': {}},
          open(os.path.join(folder, 'open_clip_config.json'), 'w'))
torch.save(open_clip.create_model(arch).state_dict(),
           os.path.join(folder, 'open_clip_pytorch_model.bin'))
'''

LOAD = r'''
import json, resource, sys, time
mode, repo = sys.argv[1:3]
started = time.perf_counter()
import open_clip
from EmbeddingSimilarity.models import get_spec
from EmbeddingSimilarity.models.text import load_text_encoder
imported = time.perf_counter()
if mode == 'full':
    model = open_clip.create_model('hf-hub:' + repo, device='cpu').eval()
else:
    spec = get_spec('QuiltNet-B-32').with_overrides(repo_id=repo, revision=None)
    model = load_text_encoder(spec).model
seconds = time.perf_counter() - imported
params = sum(p.numel() for p in model.parameters())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({'import_s': imported - started, 'seconds': seconds, 'peak_mib': peak,
                  'params': params}))
'''


def _run(code: str, *args: str, env: dict) -> dict:
    result = subprocess.run([sys.executable, '-c', code, *args], capture_output=True, text=True,
                            env=env, cwd=REPO, timeout=900, check=True)
    lines = result.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='ViT-B-32', help='open_clip architecture')
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='bench-text-') as cache:
        env = dict(os.environ, HF_HUB_CACHE=cache, HF_HUB_OFFLINE='1',
                   PYTHONPATH=os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')]))
        _run(MAKE, cache, args.model, REPO_ID, COMMIT, env=env)
        rows = {}
        for mode in ('full', 'text only'):
            runs = [_run(LOAD, 'full' if mode == 'full' else 'text', REPO_ID, env=env)
                    for _ in range(args.repeat)]
            rows[mode] = {'import_s': min(r['import_s'] for r in runs),
                          'seconds': min(r['seconds'] for r in runs),
                          'peak_mib': min(r['peak_mib'] for r in runs),
                          'params': runs[0]['params']}
    full, text = rows['full'], rows['text only']
    print('%-10s %10s %10s %10s %12s' % ('load', 'import s', 'load s', 'peak MiB', 'parameters'))
    for mode, row in rows.items():
        print('%-10s %10.2f %10.2f %10.0f %12d' % (mode, row['import_s'], row['seconds'],
                                                   row['peak_mib'], row['params']))
    ratios = {key: text[key] / full[key] for key in ('seconds', 'peak_mib', 'params')}
    print('text only / full: time %.2f, peak memory %.2f, parameters %.2f'
          % (ratios['seconds'], ratios['peak_mib'], ratios['params']))
    save_report('bench_text_tower', {'architecture': args.model, 'repeat': args.repeat,
                                     'rows': rows, 'text_only_over_full': ratios})


if __name__ == '__main__':
    main()
