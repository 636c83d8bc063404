"""The cached click as whole processes, ours against the reference's, for ``bench_similarity.py``.

The reference is ``reference_click.py``: a plain reimplementation of histomicstk-similarity's
cached path (``np.load`` the ``.npz``, cosine to the clicked cell, write the JSON). Each command
runs ``repeats`` times, taking turns after one untimed round that warms the page cache, so a
busy machine slows them alike; wall seconds and peak RSS (``wait4``) are medians, and the ratios
ours / reference are taken in the same run. Each command is started by a small launcher
(``python click_side_by_side.py --measure COMMAND...``), so its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REFERENCE = 'reference'


def _env() -> dict[str, str]:
    return dict(os.environ, HF_HUB_OFFLINE='1', PYTHONPATH=os.pathsep.join(
        [REPO, os.environ.get('PYTHONPATH', '')]))


def run_once(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of ``command`` (it must succeed), started by
    a small launcher process: Linux carries the spawning process's peak RSS into the child's
    ``ru_maxrss`` at ``exec``, so a benchmark that has built a 3 GB grid would otherwise see
    3 GB for any command it starts."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), '--measure', *command],
                         check=False, env=_env(), capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError('%s failed: %s' % (' '.join(command), out.stderr[-2000:]))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result['seconds'], result['peak_rss_mib']


def _measure(command: list[str]) -> int:
    """The launcher: run ``command``, print its seconds and peak RSS as JSON."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code:
        sys.stderr.write(stderr.decode(errors='replace'))
        return code
    print(json.dumps({'seconds': seconds, 'peak_rss_mib': usage.ru_maxrss / 1024}))
    return 0


def side_by_side(commands: dict[str, list[str]], repeats: int) -> dict:
    """Median seconds and peak RSS of each command, and each one's ratio to the reference."""
    seconds: dict[str, list[float]] = {name: [] for name in commands}
    rss: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(repeats + 1):
        for name, command in commands.items():
            took, peak = run_once(command)
            if round_:
                seconds[name].append(took)
                rss[name].append(peak)
    out: dict = {'repeats': repeats}
    base = commands.get(REFERENCE) and (statistics.median(seconds[REFERENCE]),
                                        statistics.median(rss[REFERENCE]))
    for name in commands:
        row = {'seconds': statistics.median(seconds[name]), 'peak_rss_mib': statistics.median(
            rss[name]), 'all_seconds': seconds[name]}
        if base:
            row['time_ratio_to_reference'] = row['seconds'] / base[0]
            row['rss_ratio_to_reference'] = row['peak_rss_mib'] / base[1]
        out[name] = row
    return out


def reference_command(cache: str, point: tuple[float, float], output: str) -> list[str]:
    return [sys.executable, os.path.join(HERE, 'reference_click.py'), cache,
            '%g,%g' % point, output]


def our_command(slide: str, model: str, cache: str, point: tuple[float, float],
                output: str) -> list[str]:
    return [sys.executable, '-m', 'EmbeddingSimilarity', slide, '--model', model,
            '--input-embeddings', cache, '--keypoints', '%g,%g' % point,
            '--output-annotation', output]


def sample_clicks(folder: str, repeats: int) -> dict:
    """The click on the sample slide, from the ``Test`` and ``efficientnet-lite0`` caches."""
    slide = os.path.join(REPO, 'tests', 'data', 'cmu_small_region.svs')
    point = (1000.0, 1500.0)
    commands = {}
    for model in ('Test', 'efficientnet-lite0'):
        cache = os.path.join(folder, model + '.npz')
        run_once([sys.executable, '-m', 'EmbeddingSimilarity', slide, '--model', model,
                  '--output-embeddings', cache])
        if not commands:
            commands[REFERENCE] = reference_command(cache, point, os.path.join(folder, 'r.anot'))
        commands['ours, --model ' + model] = our_command(slide, model, cache, point,
                                                         os.path.join(folder, 'h.anot'))
    return side_by_side(commands, repeats)


def stand_in_slide(data, folder: str) -> tuple[str, str] | None:
    """Make ``data`` (a synthetic grid) a cache of a stand-in slide file, so the real CLI can
    click on it: a catalog model of its width, and the file's fingerprint, ``stat`` and the
    metadata its grid implies (a cached click never reads the slide's pixels). The slide's path
    and the model, or None when no catalog model has that width."""
    from EmbeddingSimilarity.models import list_specs
    from EmbeddingSimilarity.slide.source import file_fingerprint, file_stat

    dim = data.provenance.model.embed_dim
    specs = [spec for spec in list_specs(False) if spec.embed_dim == dim
             and spec.input_size == data.grid.tile and spec.mpp == 0.5]
    if not specs:
        return None
    slide = os.path.join(folder, 'stand-in-slide.svs')
    with open(slide, 'wb') as handle:
        handle.write(os.urandom(1 << 16))
    image, grid = data.provenance.image, data.grid
    image.name, image.fingerprint, image.stat = (os.path.basename(slide), file_fingerprint(slide),
                                                 file_stat(slide))
    image.width, image.height = grid.image_width, grid.image_height
    image.metadata = {'sizeX': grid.image_width, 'sizeY': grid.image_height,
                      'mm_x': 0.0005 * grid.factor, 'mm_y': 0.0005 * grid.factor,
                      'magnification': 20.0 / grid.factor}
    data.provenance.model.name, data.provenance.model.pooling = specs[0].name, specs[0].pooling
    return slide, specs[0].name


if __name__ == '__main__' and sys.argv[1:2] == ['--measure']:
    sys.exit(_measure(sys.argv[2:]))
