"""Rewrite ``docs/models.rst`` from the model catalog: ``python tools/make_models_rst.py``.

A development tool, kept outside the runtime package; it writes next to this checkout's
``docs/`` whatever the installed location of the package.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from EmbeddingSimilarity.models.table import models_rst  # noqa: E402

if __name__ == '__main__':
    path = os.path.join(ROOT, 'docs', 'models.rst')
    with open(path, 'w') as handle:
        handle.write(models_rst())
    print('wrote %s' % path)
