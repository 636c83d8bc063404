"""Shared fixtures: the sample slide, slides derived from it, and a CLI runner."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

# Model hubs are unreachable in tests: make every hub library offline before it is imported.
os.environ['HF_HUB_OFFLINE'] = '1'
os.environ.setdefault('HF_HUB_DISABLE_TELEMETRY', '1')

import pytest
from hypothesis import settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import slides

# Property tests: randomised locally (new cases each run, failures kept in .hypothesis/); in CI
# (CI=true) and under tox derandomised, so a run can fail only through a change of the code.
settings.register_profile('ci', derandomize=True, database=None, print_blob=True)
settings.register_profile('dev')
settings.load_profile('ci' if os.environ.get('CI', '').lower() in ('1', 'true', 'yes')
                      or os.environ.get('TOX_ENV_NAME') else 'dev')

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TIERS = {
    'unit': 'numpy, models and files in process: seconds',
    'cli': 'the command lines in subprocesses on the sample slide: minutes',
    'girder': 'a real Girder server from its own environment (tests/girder/setup_env.sh)',
    'browser': 'HistomicsUI in headless Chromium (tests/ui/setup_env.sh: apt-get, npm)',
    'container': 'the task image built with podman and run by girder_worker (root, apt-get)',
    'clone': "the README's first command verbatim in a fresh clone (a new 6 GB virtualenv)",
}
"""Test tiers, fast to slow. Plain ``pytest`` runs unit and cli; tox (so CI) sets
``ES_TEST_TIERS=all``; ``-m girder`` (any -m) picks tiers by hand."""
FAST_TIERS = ('unit', 'cli')
GIRDER_FIXTURES = {'girder_env_python', 'girder_server', 'gc', 'slide_item'}
MODULE_TIERS = {'test_histomicsui': 'browser', 'test_analyses_menu': 'browser',
                'test_container': 'container', 'test_dsa_stack': 'container'}


def pytest_configure(config) -> None:
    for tier, what in TIERS.items():
        config.addinivalue_line('markers', '%s: %s' % (tier, what))


def tier_of(item) -> str:
    """A test's tier: its own marker, else its module's, else what its fixtures need."""
    for tier in TIERS:
        if item.get_closest_marker(tier):
            return tier
    module = item.module.__name__.rpartition('.')[2]
    if module in MODULE_TIERS:
        return MODULE_TIERS[module]
    if GIRDER_FIXTURES & set(item.fixturenames):
        return 'girder'
    return 'cli' if 'cli' in item.fixturenames or 'clip_hub' in item.fixturenames else 'unit'


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        item.add_marker(tier_of(item))
    if config.option.markexpr or os.environ.get('ES_TEST_TIERS') == 'all':
        return
    slow = [item for item in items if tier_of(item) not in FAST_TIERS]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if tier_of(item) in FAST_TIERS]
        config._es_slow_tiers = sorted({tier_of(item) for item in slow})


def pytest_terminal_summary(terminalreporter, config) -> None:
    tiers = getattr(config, '_es_slow_tiers', None)
    if tiers:
        terminalreporter.write_line(
            'ran the fast tiers (unit, cli) only; the %s tiers need their environments: '
            'python3 -m tox runs every tier (or ES_TEST_TIERS=all, or -m TIER)' % ', '.join(tiers))


@pytest.fixture(scope='session')
def clip_hub(tmp_path_factory) -> dict:
    """A Hugging Face cache holding the tiny CLIP (transformers) and tiny QuiltNet (open_clip)
    of :mod:`tiny_clip`; the environment that points at it, offline."""
    cache = str(tmp_path_factory.mktemp('clip-hub'))
    tests = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(tests, 'tiny_clip.py'), cache], check=True,
                   capture_output=True, timeout=600)
    return {'HF_HUB_CACHE': cache, 'HF_HUB_OFFLINE': '1',
            'PYTHONPATH': os.pathsep.join([REPO, tests, os.environ.get('PYTHONPATH', '')])}


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


ADMIN = ('admin', 'adminpassword')
GIRDER_SERVER = os.path.join(REPO, 'tests', 'girder', 'server.py')


@contextlib.contextmanager
def running_girder(python: str, work, plugins: str = 'large_image,large_image_annotation',
                   extra_args: tuple[str, ...] = (), env: dict | None = None):
    """Start tests/girder/server.py with ``python`` in folder ``work``; yield its ready info.
    ``extra_args`` go to server.py (e.g. ``--slicer-cli``, ``--worker-queue``), ``env`` to its
    environment (e.g. ``DOCKER_HOST``)."""
    import json
    import signal
    import time

    ready = work / 'ready.json'
    log_path = work / 'server.log'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen([python, GIRDER_SERVER, '--ready-file', str(ready),
                                 '--assetstore', str(work / 'assetstore'),
                                 '--admin', '%s:%s' % ADMIN, '--plugins', plugins,
                                 *extra_args],
                                stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, **(env or {})))
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if proc.poll() is not None:
                raise RuntimeError('Girder test server exited with %s:\n%s' % (
                    proc.returncode, log_path.read_text()[-4000:]))
            if time.monotonic() > deadline:
                raise RuntimeError('Girder test server did not start in 120 s:\n%s'
                                   % log_path.read_text()[-4000:])
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        info['log'] = str(log_path)
        yield info
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope='session')
def girder_server(tmp_path_factory, girder_env_python):
    """A real Girder 3 + large_image annotation HTTP server on 127.0.0.1 for this session."""
    with running_girder(girder_env_python, tmp_path_factory.mktemp('girder')) as info:
        yield info


@pytest.fixture
def gc(girder_server):
    """A girder_client logged in as a new user (so tests share no folders or caches);
    ``gc.token`` is what the task gets."""
    import girder_client

    login = 'user%s' % os.urandom(4).hex()
    anonymous = girder_client.GirderClient(apiUrl=girder_server['apiUrl'])
    anonymous.post('user', parameters={'login': login, 'email': login + '@example.org',
                                       'firstName': 'Test', 'lastName': 'User',
                                       'password': 'password1'})
    client = girder_client.GirderClient(apiUrl=girder_server['apiUrl'])
    client.authenticate(login, 'password1')
    return client


def upload_slide(client, path: str) -> dict:
    """Upload ``path`` into the user's Public folder and return its large-image item."""
    me = client.get('user/me')
    folder = client.get('folder', parameters={'parentType': 'user', 'parentId': me['_id'],
                                              'name': 'Public'})[0]
    uploaded = client.uploadFileToFolder(folder['_id'], path)
    item = client.getItem(uploaded['itemId'])
    if 'largeImage' not in item:
        client.post('item/%s/tiles' % item['_id'], parameters={'fileId': uploaded['_id']})
        item = client.getItem(item['_id'])
    item['fileId'] = uploaded['_id']
    return item


@pytest.fixture
def slide_item(gc, sample_slide):
    return upload_slide(gc, sample_slide)
