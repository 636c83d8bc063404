"""The real task image, built from the Dockerfile with podman (``tools/build_image.sh``) and run as
a container the way girder_worker runs it: the job's volume mounted at another path than on the
host, a non-root user id, ``HF_HOME`` read-only with the hub offline, the GPU label that makes
girder_worker ask for a GPU, and a bad input that must end in one line.

The image is built (or its cached layers reused) by the first test that needs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from conftest import REPO

IMAGE = os.environ.get('EMBEDDING_SIMILARITY_IMAGE', 'embedding-similarity:dev')
BUILD = os.path.join(REPO, 'tools', 'build_image.sh')
CACHE = os.environ.get('ES_IMAGE_CACHE', '/var/cache/es-image')
USER = '1234:1234'
"""A user id that owns nothing in the image, as a DSA worker's containers often run."""


def _podman_env() -> dict:
    return dict(os.environ, CONTAINERS_CONF=os.path.join(CACHE, 'conf', 'containers.conf'))


def podman(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(['podman', *args], env=_podman_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture(scope='session')
def image() -> str:
    """The task image: built from this checkout (unchanged layers are reused)."""
    result = subprocess.run(['bash', BUILD, IMAGE], capture_output=True, text=True,
                            timeout=3600, check=False, env=dict(os.environ, ES_IMAGE_CACHE=CACHE))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'built %s' % IMAGE in result.stdout
    return IMAGE


@pytest.fixture
def job_volume(tmp_path, sample_slide) -> str:
    """A job's temporary volume as girder_worker makes it: the input inside, writable by the
    container's user."""
    volume = tmp_path / 'job'
    volume.mkdir()
    shutil.copy(sample_slide, volume / 'slide.svs')
    os.chmod(volume, 0o777)
    return str(volume)


def test_slicer_cli_web_sees_the_three_clis(image):
    result = podman('run', '--rm', image, '--list_cli')
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {'EmbeddingSimilarity', 'EmbeddingClusters',
                                              'CollectionSimilarity'}
    for cli in ('EmbeddingSimilarity', 'EmbeddingClusters', 'CollectionSimilarity'):
        xml = podman('run', '--rm', image, cli, '--xml')
        assert xml.returncode == 0 and '<executable>' in xml.stdout, cli


def test_the_image_asks_girder_worker_for_a_gpu(image):
    result = podman('image', 'inspect', image, '--format', '{{json .Labels}}')
    labels = json.loads(result.stdout)
    assert labels['com.nvidia.volumes.needed'] == 'nvidia_driver'


def test_a_job_runs_as_another_user_with_its_volume_elsewhere(image, job_volume, tmp_path):
    """The slide at /mnt/girder_worker/<job> (not the host path), uid 1234, HF_HOME read-only
    and offline: the bundled model embeds, the heatmap and picture are written, owned by the
    container's user."""
    hf_home = tmp_path / 'hf'
    hf_home.mkdir()
    inside = '/mnt/girder_worker/job-1'
    result = podman(
        'run', '--rm', '--user', USER, '-v', '%s:%s' % (job_volume, inside),
        '-v', '%s:/opt/hf:ro' % hf_home, '-e', 'HF_HUB_OFFLINE=1', image,
        'EmbeddingSimilarity', inside + '/slide.svs', '--keypoints', '1000,1500',
        '--output-dir', inside + '/out', timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    out = os.path.join(job_volume, 'out')
    names = sorted(os.listdir(out))
    assert names == ['slide.efficientnet-lite0.npz', 'slide.similarity.anot',
                     'slide.similarity.png'], names
    with open(os.path.join(out, 'slide.similarity.anot')) as handle:
        annotation = json.load(handle)
    assert annotation['elements'][0]['type'] == 'griddata'
    assert os.stat(os.path.join(out, 'slide.similarity.anot')).st_uid == 1234


def test_a_bad_input_fails_in_one_line_inside_the_container(image, job_volume):
    inside = '/mnt/girder_worker/job-2'
    result = podman('run', '--rm', '--user', USER, '-v', '%s:%s' % (job_volume, inside), image,
                    'EmbeddingSimilarity', inside + '/missing.svs', '--keypoints', '1,1')
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and 'error:' in errors[0] and 'missing.svs' in errors[0], errors
