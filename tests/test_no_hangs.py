"""Every wait has a bound: a Girder that accepts the connection and never answers, and a slide
collection holding a FIFO, end the run with one line instead of hanging it."""

from __future__ import annotations

import os
import shutil
import socket
import threading

import pytest
from conftest import run_cli
from test_collection import search_cli

from EmbeddingSimilarity.cache import store

KEYPOINT = '1000,1500'


@pytest.fixture
def silent_server():
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield 'http://127.0.0.1:%d/api/v1' % server.getsockname()[1]
    stop.set()
    thread.join(5)
    for connection in held:
        connection.close()
    server.close()


def test_a_silent_girder_fails_the_run_in_one_line_and_keeps_the_embeddings(
        silent_server, sample_slide, tmp_path):
    npz = tmp_path / 'e.npz'
    result = run_cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--api-url',
                     silent_server, '--girder-token', 'abc', '--image-id', '0' * 24,
                     '--output-embeddings', str(npz),
                     env={'EMBEDDING_SIMILARITY_GIRDER_TIMEOUT': '2'}, timeout=300)
    assert result.returncode == 5, result.stderr
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1 and 'cannot reach Girder' in errors[0], errors
    assert 'ReadTimeout' in errors[0] and 'abc' not in result.stderr
    assert store.load(str(npz)).embedded.any()


def test_a_bad_girder_timeout_setting_is_one_line(sample_slide, silent_server):
    result = run_cli(sample_slide, '--model', 'Test', '--keypoints', KEYPOINT, '--api-url',
                     silent_server, '--girder-token', 'abc', '--image-id', '0' * 24,
                     env={'EMBEDDING_SIMILARITY_GIRDER_TIMEOUT': 'soon'}, timeout=300)
    assert result.returncode == 2, result.stderr  # bad input, refused before any work
    assert 'EMBEDDING_SIMILARITY_GIRDER_TIMEOUT' in result.stderr.strip().splitlines()[-1]


def test_a_fifo_in_the_collection_is_skipped(sample_slide, tmp_path):
    """open() on a FIFO blocks until a writer comes; a collection search never opens one."""
    archive = tmp_path / 'archive'
    archive.mkdir()
    shutil.copy(sample_slide, archive / 'other.svs')
    os.mkfifo(archive / 'pipe.svs')
    query = tmp_path / 'query.svs'  # its cache is written beside it: never in the repository
    shutil.copy(sample_slide, query)
    out = tmp_path / 'out.csv'
    result = search_cli(str(query), '--model', 'Test', '--keypoints', KEYPOINT,
                        '--collection', str(archive), '--output-results', str(out), '--top-k',
                        '5', timeout=300)
    assert result.returncode == 0, result.stderr
    assert 'pipe.svs' not in out.read_text()


def test_a_silent_scheduler_fails_the_run_in_one_line(silent_server, sample_slide, tmp_path):
    """Dask's Client waits forever for a handshake that a non-scheduler never sends."""
    address = silent_server.replace('http://', 'tcp://').replace('/api/v1', '')
    result = run_cli(sample_slide, '--model', 'Test', '--scheduler', address, '--output-dir',
                     str(tmp_path), timeout=300)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(errors) == 1 and 'did not answer' in errors[0], errors
