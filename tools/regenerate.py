"""Rewrite what is generated from the model catalog: ``python tools/regenerate.py``.

* ``docs/models.rst``, the table of models;
* the ``model`` choices of every CLI's XML (each Slicer CLI lists the same models);
* with ``--golden``, also ``tests/data/golden``: the README commands' outputs that
  ``tests/test_readme_outputs.py`` compares with (for a deliberate change of outputs only; say
  why in the commit).

A development tool, kept outside the runtime package; it writes into this checkout whatever the
installed location of the package. Tests fail when either is stale.
"""

from __future__ import annotations

import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from EmbeddingSimilarity.models import list_specs  # noqa: E402
from EmbeddingSimilarity.models.table import models_rst  # noqa: E402

_MODEL_CHOICES = re.compile(r'(<name>model</name>.*?<longflag>model</longflag>\n)'
                            r'(?:\s*<element>[^<]*</element>\n)+', re.S)


def model_choices(xml: str) -> str:
    """``xml`` with its model enumeration listing the catalog's models, in catalog order."""
    elements = ''.join('      <element>%s</element>\n' % spec.name
                       for spec in list_specs(include_plugins=False))
    return _MODEL_CHOICES.sub(lambda m: m.group(1) + elements, xml, count=1)


def main() -> None:
    path = os.path.join(ROOT, 'docs', 'models.rst')
    with open(path, 'w') as handle:
        handle.write(models_rst())
    print('wrote %s' % path)
    for path in sorted(glob.glob(os.path.join(ROOT, 'EmbeddingSimilarity', '*.xml'))):
        with open(path) as handle:
            text = handle.read()
        if '<name>model</name>' in text:
            with open(path, 'w') as handle:
                handle.write(model_choices(text))
            print('wrote %s' % path)


def golden() -> None:
    """Run the README's commands (``tests/test_readme_outputs.py``) and copy their outputs
    into ``tests/data/golden``, the collection's sample folder spelled as the test spells it."""
    import pathlib
    import shutil
    import tempfile

    sys.path.insert(0, os.path.join(ROOT, 'tests'))
    from test_readme_outputs import GOLDEN, GOLDEN_FILES, run_readme_commands

    sample = os.path.join(ROOT, 'tests', 'data', 'cmu_small_region.svs')
    with tempfile.TemporaryDirectory() as temp:
        folder = pathlib.Path(temp)
        run_readme_commands(folder, sample)
        for made, name in GOLDEN_FILES.items():
            text = (folder / made).read_text().replace(str(folder / 'data'), 'SAMPLE_DIR')
            with open(os.path.join(GOLDEN, name), 'w') as handle:
                handle.write(text)
            print('wrote %s' % os.path.join(GOLDEN, name))
        shutil.rmtree(folder / 'data', ignore_errors=True)


if __name__ == '__main__':
    main()
    if '--golden' in sys.argv[1:]:
        golden()
