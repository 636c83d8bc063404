"""README.rst opens with the two commands that work on a fresh machine: CI runs the second, and
the second runs the first, verbatim, in a fresh clone of HEAD."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from PIL import Image


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


def _users_environment(clone: str) -> dict:
    """The environment of a user's shell: no tox or test virtualenv on PATH, no PYTHONPATH."""
    env = {key: value for key, value in os.environ.items()
           if key not in ('VIRTUAL_ENV', 'PYTHONPATH', 'PYTHONHOME', 'PIP_REQUIRE_VIRTUALENV')}
    inside = [os.environ.get('VIRTUAL_ENV', ''), os.path.dirname(sys.executable)]
    env['PATH'] = os.pathsep.join(
        entry for entry in os.environ.get('PATH', '').split(os.pathsep)
        if entry and not any(inner and os.path.realpath(entry) == os.path.realpath(inner)
                             for inner in inside))
    env['HOME'] = env.get('HOME', clone)
    return env


@pytest.mark.clone
def test_the_first_command_runs_verbatim_in_a_fresh_clone(tmp_path):
    """What a newcomer pastes, in a fresh ``git clone`` of HEAD: a tracked file in the way, a
    missing requirement or a changed flag fails here (about four minutes: torch installs from
    the machine's wheel cache)."""
    clone = str(tmp_path / 'clone')
    subprocess.run(['git', 'clone', '-q', REPO, clone], check=True, timeout=300)
    try:
        result = subprocess.run(['bash', '-c', readme_commands()[0]], cwd=clone,
                                env=_users_environment(clone), capture_output=True, text=True,
                                timeout=1800, check=False)
        assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
        _check_the_three_outputs(os.path.join(clone, 'sample-output'))
    finally:
        shutil.rmtree(os.path.join(clone, '.venv'), ignore_errors=True)  # 6 GB of torch


def _check_the_three_outputs(out: str) -> None:
    assert sorted(os.listdir(out)) == ['cmu_small_region.efficientnet-lite0.npz',
                                       'cmu_small_region.similarity.anot',
                                       'cmu_small_region.similarity.png']
    with np.load(os.path.join(out, 'cmu_small_region.efficientnet-lite0.npz'),
                 allow_pickle=False) as archive:
        embeddings = archive['embeddings']
        assert embeddings.ndim == 3 and embeddings.shape[-1] > 0
        assert np.isfinite(embeddings.astype(np.float32)).all()
    with open(os.path.join(out, 'cmu_small_region.similarity.anot')) as handle:
        document = json.load(handle)
    heatmap = document['elements'][0]
    assert heatmap['type'] == 'griddata' and len(heatmap['values']) >= 20
    with Image.open(os.path.join(out, 'cmu_small_region.similarity.png')) as picture:
        assert picture.size[0] >= 200 and picture.size[1] >= 200
        colours = np.unique(np.asarray(picture.convert('RGB')).reshape(-1, 3), axis=0)
        assert len(colours) > 50, 'the picture is not blank'
