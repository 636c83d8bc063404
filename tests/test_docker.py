"""The task image, checked without a docker engine: lint, structure, entry point, pins."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest
from conftest import REPO
from dockerfile_parse import DockerfileParser

DOCKERFILE = os.path.join(REPO, 'Dockerfile')


@pytest.fixture(scope='module')
def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(path=DOCKERFILE)
    return parser


def test_hadolint_passes():
    hadolint = os.path.join(os.path.dirname(sys.executable), 'hadolint')
    result = subprocess.run([hadolint, DOCKERFILE], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_has_what_slicer_cli_web_needs(dockerfile):
    assert dockerfile.labels['com.nvidia.volumes.needed'] == 'nvidia_driver'
    assert dockerfile.envs['PYTHONUNBUFFERED'] == 'TRUE'
    instructions = dockerfile.structure
    workdir = next(i['value'] for i in instructions if i['instruction'] == 'WORKDIR')
    entrypoint = next(i['value'] for i in instructions if i['instruction'] == 'ENTRYPOINT')
    assert entrypoint == '["%s/docker-entrypoint.sh"]' % workdir
    copied = ' '.join(i['value'] for i in instructions if i['instruction'] == 'COPY')
    for needed in ('cli_list.json', 'slicer_cli_list.json', 'docker-entrypoint.sh',
                   'EmbeddingSimilarity', 'requirements.lock'):
        assert needed in copied, needed
    assert instructions[-1]['instruction'] == 'ENTRYPOINT'


def _smoke_commands(dockerfile) -> list[str]:
    runs = [i['value'] for i in dockerfile.structure if i['instruction'] == 'RUN']
    smoke = next(run for run in runs if '--list_cli' in run)
    return [command.strip() for command in smoke.split('&&')]


def test_build_time_smoke_tests_pass_in_a_plain_environment(dockerfile):
    commands = _smoke_commands(dockerfile)
    assert any('--xml' in c for c in commands) and any('--list_cli' in c for c in commands)
    env = dict(os.environ, PYTHON=sys.executable)
    for command in commands:
        args = shlex.split(command.split('>')[0])
        result = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=300, check=False)
        assert result.returncode == 0, (command, result.stderr)


def test_every_listed_cli_is_in_the_image_and_smoke_tested(dockerfile):
    """What adding a CLI takes (docs/architecture.rst): its folder copied, its XML in the package
    data, its --xml and --help run at build time."""
    import json

    with open(os.path.join(REPO, 'cli_list.json')) as handle:
        clis = json.load(handle)
    copied = [i['value'].split()[0] for i in dockerfile.structure if i['instruction'] == 'COPY']
    commands = _smoke_commands(dockerfile)
    with open(os.path.join(REPO, 'setup.py')) as handle:
        setup = handle.read()
    for cli in clis:
        assert cli in copied, cli
        assert os.path.isfile(os.path.join(REPO, cli, cli + '.py')), cli
        assert "'%s.xml'" % cli in setup, cli
        for flag in ('--xml', '--help'):
            assert './docker-entrypoint.sh %s %s' % (cli, flag) in ' '.join(commands), (cli, flag)


def _pins(path: str) -> dict[str, str]:
    pins = {}
    with open(path) as handle:
        for raw in handle:
            line = raw.split('#')[0].strip()
            if not line:
                continue
            match = re.fullmatch(r'([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)', line)
            assert match, 'not an exact pin: %r in %s' % (line, path)
            pins[match.group(1).lower().replace('_', '-')] = match.group(3)
    return pins


def test_every_package_in_the_image_is_pinned():
    lock = _pins(os.path.join(REPO, 'requirements.lock'))
    wanted = _pins(os.path.join(REPO, 'requirements.txt'))
    for name, version in wanted.items():
        assert lock.get(name) == version, (name, version, lock.get(name))
    assert 'torch' in lock and 'large-image-source-tiff' in lock and 'distributed' in lock


def test_apt_packages_come_pinned_from_a_snapshot(dockerfile):
    """On the default path (APT_SOURCE=snapshot); a locked-down build skips apt altogether."""
    install = next(i['value'] for i in dockerfile.structure
                   if i['instruction'] == 'RUN' and 'apt-get install' in i['value'])
    assert 'snapshot.debian.org' in install
    packages = install.split('apt-get install')[1].split('&&')[0].split(';')[0].split()
    packages = [p for p in packages if not p.startswith('-')]
    assert packages and all('=' in p for p in packages), packages


def test_locked_down_builders_set_arguments_that_the_image_does_not_keep(dockerfile):
    """Base image, apt source and pip's sources are build arguments; pip's settings are never
    baked into the image's environment (a CA path or a mirror URL of the builder's network)."""
    with open(DOCKERFILE) as handle:
        text = handle.read()
    declared = set(re.findall(r'^ARG (\w+)', text, re.M))
    assert {'BASE_IMAGE', 'APT_SOURCE', 'PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL',
            'PIP_FIND_LINKS', 'PIP_CERT'} <= declared, declared
    kept = dockerfile.envs
    assert not {'PIP_INDEX_URL', 'PIP_EXTRA_INDEX_URL', 'PIP_FIND_LINKS', 'PIP_CERT'} & set(kept)
    assert 'python3 -m venv /opt/venv' in text and kept['PATH'].startswith('/opt/venv/bin:')
