"""Outputs are replaced whole or not at all, and written where a symlinked output points."""

from __future__ import annotations

import os

import pytest

from EmbeddingSimilarity.atomic import atomic_write, write_bytes
from EmbeddingSimilarity.errors import OutputError


def test_a_symlinked_output_is_written_where_it_points(tmp_path):
    (tmp_path / 'shared').mkdir()
    target = tmp_path / 'shared' / 'embeddings.npz'
    target.write_bytes(b'old')
    link = tmp_path / 'embeddings.npz'
    link.symlink_to(target)
    write_bytes(str(link), b'new')
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b'new'
    assert sorted(os.listdir(tmp_path / 'shared')) == ['embeddings.npz']  # no temporary left


def test_a_dangling_symlink_gets_its_target_created(tmp_path):
    (tmp_path / 'shared').mkdir()
    target = tmp_path / 'shared' / 'map.anot'
    link = tmp_path / 'map.anot'
    link.symlink_to(target)
    write_bytes(str(link), '{}')
    assert link.is_symlink() and target.read_text() == '{}'


def test_a_symlink_into_a_missing_folder_says_which_folder(tmp_path):
    link = tmp_path / 'out.png'
    link.symlink_to(tmp_path / 'gone' / 'out.png')
    with pytest.raises(OutputError, match='folder .*gone does not exist'):
        write_bytes(str(link), b'png')


def test_a_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / 'results.csv'
    path.write_bytes(b'previous')
    with pytest.raises(RuntimeError), atomic_write(str(path)) as handle:
        handle.write(b'half')
        raise RuntimeError('the job died')
    assert path.read_bytes() == b'previous' and os.listdir(tmp_path) == ['results.csv']
