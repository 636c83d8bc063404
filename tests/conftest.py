"""Shared fixtures: the sample slide, slides derived from it, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys

# Model hubs are unreachable in tests: make every hub library offline before it is imported.
os.environ['HF_HUB_OFFLINE'] = '1'
os.environ.setdefault('HF_HUB_DISABLE_TELEMETRY', '1')

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import slides

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def sample_slide() -> str:
    return slides.SAMPLE_SLIDE


@pytest.fixture(scope='session')
def sample_pixels():
    return slides.read_sample()


@pytest.fixture(scope='session')
def slide_40x(tmp_path_factory, sample_pixels) -> str:
    """The sample's tissue at twice the resolution (0.2495 µm/px, like a 40x scan)."""
    path = str(tmp_path_factory.mktemp('slides') / 'tissue_40x.tiff')
    return slides.write_pyramid(path, slides.resize(sample_pixels, 2.0), slides.SAMPLE_MPP / 2)


@pytest.fixture(scope='session')
def slide_no_scale(tmp_path_factory, sample_pixels) -> str:
    """The sample's tissue as a PNG: no µm/px and no magnification."""
    from PIL import Image

    path = str(tmp_path_factory.mktemp('slides') / 'tissue.png')
    Image.fromarray(sample_pixels).save(path)
    return path


def run_cli(*args: str, env: dict | None = None, cwd: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the command line as a user would, in a subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([sys.executable, '-m', 'EmbeddingSimilarity', *args], cwd=cwd or REPO,
                          env=full_env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture
def cli():
    return run_cli


def girder_python() -> str:
    """The Python of the Girder test environment (created by tests/girder/setup_env.sh)."""
    candidates = [os.environ.get('GIRDER_PYTHON', ''),
                  os.path.join(REPO, '.tox', 'girder', 'bin', 'python'),
                  os.path.join(REPO, '.venv-girder', 'bin', 'python')]
    for path in candidates:
        if path and os.path.exists(path):
            return path
    pytest.fail('the Girder test environment is missing: run tests/girder/setup_env.sh '
                '.venv-girder (tox does this) or set GIRDER_PYTHON')


@pytest.fixture(scope='session')
def girder_env_python() -> str:
    return girder_python()
