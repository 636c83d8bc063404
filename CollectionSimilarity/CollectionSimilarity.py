"""Slicer CLI entry script of ``CollectionSimilarity``: slicer_cli_web runs it as
``python CollectionSimilarity/CollectionSimilarity.py`` from the folder holding ``cli_list.json``
(its XML lives in the package, beside ``EmbeddingSimilarity.xml``).
"""

import os
import sys

if __name__ == '__main__':
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    sys.path.insert(0, os.path.dirname(here))
    from EmbeddingSimilarity.cli.main import collection_main

    sys.exit(collection_main())
