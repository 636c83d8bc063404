"""``python -m EmbeddingSimilarity.models`` rewrites docs/models.rst from the catalog."""

import os

from .table import models_rst

path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    'docs', 'models.rst')
with open(path, 'w') as handle:
    handle.write(models_rst())
print('wrote %s' % path)
