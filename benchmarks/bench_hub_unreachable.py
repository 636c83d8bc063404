"""What an unreachable Hugging Face hub costs a run, before and after the bounded check.

    python benchmarks/bench_hub_unreachable.py [--timeout 2] [--library-timeout 2]

Two loopback "hubs": a closed port (connection refused) and a server that accepts connections
and never answers. For each, in one run, it times (a) the hub library alone,
``hf_hub_download`` of an uncached ``config.json`` (what ``--custom-model`` did before: its
retry loop), and (b) the command line, ``EmbeddingSimilarity --custom-model
timm:hf_hub:ORG/NAME`` with ``EMBEDDING_SIMILARITY_HUB_TIMEOUT``, counting stderr lines.
The library's per-request timeouts (``HF_HUB_ETAG_TIMEOUT``/``HF_HUB_DOWNLOAD_TIMEOUT``,
10 s by default) are set by ``--library-timeout`` to keep the run short: with the defaults the
silent server held the library for about 400 s here; ``--cap`` (90 s) stops a run still waiting
(reported with exit -1, so its time is a lower bound). Prints a table and writes
``benchmarks/results/bench_hub_unreachable.json``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

from results_file import save_report  # benchmarks/ is on sys.path when run as a script

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SLIDE = os.path.join(REPO, 'tests', 'data', 'cmu_small_region.svs')
LIBRARY_CALL = ('from huggingface_hub import hf_hub_download\n'
                'try:\n    hf_hub_download("benchorg/nothing", "config.json")\n'
                'except Exception as exc:\n    print(type(exc).__name__)\n')


def _run(command: list[str], env: dict[str, str], cap_s: float) -> tuple[float, int, int]:
    """Seconds, exit code and stderr lines; a run still waiting after ``cap_s`` is stopped
    (exit -1, its lines so far)."""
    start = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False,
                                env=dict(os.environ, **env), timeout=cap_s)
    except subprocess.TimeoutExpired as stopped:
        lines = len((stopped.stderr or b'').decode(errors='replace').splitlines())
        return time.perf_counter() - start, -1, lines
    return time.perf_counter() - start, result.returncode, len(result.stderr.splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--timeout', type=float, default=2.0,
                        help='EMBEDDING_SIMILARITY_HUB_TIMEOUT for the command line runs')
    parser.add_argument('--library-timeout', type=float, default=2.0,
                        help="the hub library's per-request timeouts (its default is 10 s)")
    parser.add_argument('--cap', type=float, default=90.0,
                        help='stop a run still waiting after this many seconds (exit -1)')
    args = parser.parse_args()
    closed = socket.socket()
    closed.bind(('127.0.0.1', 0))
    closed_url = 'http://127.0.0.1:%d' % closed.getsockname()[1]
    closed.close()
    silent = socket.socket()
    silent.bind(('127.0.0.1', 0))
    silent.listen(64)
    silent_url = 'http://127.0.0.1:%d' % silent.getsockname()[1]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for kind, url in (('closed port', closed_url), ('silent server', silent_url)):
            env = {'HF_HUB_OFFLINE': '0', 'HF_ENDPOINT': url, 'HF_HUB_CACHE': cache,
                   'HF_HUB_ETAG_TIMEOUT': '%g' % args.library_timeout,
                   'HF_HUB_DOWNLOAD_TIMEOUT': '%g' % args.library_timeout,
                   'EMBEDDING_SIMILARITY_HUB_TIMEOUT': '%g' % args.timeout,
                   'PYTHONPATH': os.pathsep.join([REPO, os.environ.get('PYTHONPATH', '')])}
            before = _run([sys.executable, '-c', LIBRARY_CALL], env, args.cap)
            after = _run([sys.executable, '-m', 'EmbeddingSimilarity', SLIDE, '--custom-model',
                          'timm:hf_hub:benchorg/nothing', '--output-dir', cache], env, args.cap)
            rows.append({'hub': kind, 'library_s': round(before[0], 2),
                         'library_exit': before[1],
                         'library_stderr_lines': before[2], 'cli_s': round(after[0], 2),
                         'cli_exit': after[1], 'cli_stderr_lines': after[2],
                         'ratio': round(before[0] / after[0], 1)})
    silent.close()
    print('%-14s %10s %5s %6s %8s %5s %6s %7s' % ('hub', 'library s', 'exit', 'lines',
                                                  'CLI s', 'exit', 'lines', 'ratio'))
    for row in rows:
        print('%-14s %10.2f %5d %6d %8.2f %5d %6d %6.1fx' % (
            row['hub'], row['library_s'], row['library_exit'], row['library_stderr_lines'],
            row['cli_s'], row['cli_exit'], row['cli_stderr_lines'], row['ratio']))
    save_report('bench_hub_unreachable', {'timeout_s': args.timeout,
                                          'library_timeout_s': args.library_timeout,
                                          'rows': rows})


if __name__ == '__main__':
    main()
