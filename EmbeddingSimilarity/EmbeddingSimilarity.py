"""Slicer CLI entry script: slicer_cli_web runs it as ``python <folder>/EmbeddingSimilarity.py``.

Run as a script, Python puts this file's folder first on ``sys.path``, where this very file
would shadow the ``EmbeddingSimilarity`` package; the folder above is used instead.
"""

import os
import sys

if __name__ == '__main__':
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    sys.path.insert(0, os.path.dirname(here))
    from EmbeddingSimilarity.cli.main import main

    sys.exit(main())
