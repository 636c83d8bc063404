"""Where the benchmarks write their JSON reports."""

from __future__ import annotations

import json
import os

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')


def save_report(name: str, report: dict) -> str:
    """Write ``report`` to ``benchmarks/results/<name>.json`` and say where."""
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, name + '.json')
    with open(path, 'w') as handle:
        json.dump(report, handle, indent=2)
    print('wrote %s' % path)
    return path
