"""README.rst opens with the two commands that work on a fresh machine; CI runs the second."""

from __future__ import annotations

import os
import re
import shlex

from conftest import REPO


def readme_commands() -> list[str]:
    with open(os.path.join(REPO, 'README.rst')) as handle:
        text = handle.read()
    opening = text.split('\n----\n', 1)[0]
    return [block.strip() for block in
            re.findall(r'\.\. code-block:: bash\n\n((?:   .*\n)+)', opening)]


def test_readme_opens_with_exactly_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    setup_and_run, tests = commands
    assert 'requirements.txt' in setup_and_run
    assert 'tests/data/cmu_small_region.svs' in setup_and_run
    assert 'tox' in tests


def test_ci_runs_the_readme_test_command():
    with open(os.path.join(REPO, '.ci', 'run')) as handle:
        lines = [line.strip() for line in handle]
    assert readme_commands()[1] in lines


def test_readme_main_job_writes_the_three_outputs(cli, tmp_path):
    """The EmbeddingSimilarity part of the first command, with the output folder in tmp."""
    command = readme_commands()[0].split('&&')[-1]
    args = shlex.split(command)
    assert args[0].endswith('EmbeddingSimilarity')
    args = args[1:]
    args[args.index('--output-dir') + 1] = str(tmp_path / 'sample-output')
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    written = sorted(os.listdir(tmp_path / 'sample-output'))
    assert written == ['cmu_small_region.efficientnet-lite0.npz',
                       'cmu_small_region.similarity.anot', 'cmu_small_region.similarity.png']
    assert 'wrote' in result.stderr
