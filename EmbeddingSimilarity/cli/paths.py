"""Input and output paths that cannot hurt the user: an output never replaces an input or
another output, and an input is a regular file (or a folder of slides), never a FIFO or a
device that would block the run.

Every CLI passes its inputs and outputs through :func:`check_paths` and
:func:`check_output_path` before any work.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable

from ..errors import InputError, OutputError, missing, why_missing

# Multi-file slide formats keep their pixels beside the named file: MIRAX (.mrxs) in a folder
# of the same stem, Olympus VSI in ``_<stem>_``.
_COMPANION_FOLDERS = {'.mrxs': '{stem}', '.vsi': '_{stem}_'}


def check_readable_file(path: str, what: str) -> None:
    """``path`` is a regular file (not a folder, FIFO, device or socket)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            raise InputError(missing(what, path)) from None
        raise InputError('cannot read %s %s (%s)' % (what, path, exc.strerror)) from None
    if stat.S_ISDIR(mode):
        raise InputError('%s %s is a folder; give a file' % (what, path))
    if not stat.S_ISREG(mode):
        raise InputError('%s %s is not a regular file (a pipe, device or socket); give a file '
                         'on disk' % (what, path))


def check_image(path: str) -> None:
    """The image is a regular file or a folder (of slides, or a multi-file format)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP):
            raise InputError(missing('input image', path, 'check the path')) from None
        raise InputError('cannot read image %s (%s)' % (path, exc.strerror)) from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise InputError('image %s is not a regular file or folder (a pipe, device or socket); '
                         'give a slide file on disk' % path)


def input_files(image: str, others: Iterable[str] = ()) -> set[str]:
    """The real paths of every file the run reads: the image (each file of a folder or of a
    multi-file slide) and the other inputs."""
    found = set()
    paths = [image, *others]
    stem, ext = os.path.splitext(image)
    if ext.lower() in _COMPANION_FOLDERS:
        paths.append(os.path.join(os.path.dirname(image), _COMPANION_FOLDERS[ext.lower()].format(
            stem=os.path.basename(stem))))
    for path in filter(None, paths):
        if os.path.isdir(path):
            for folder, _, files in os.walk(path):
                found.update(os.path.realpath(os.path.join(folder, name)) for name in files)
        else:
            found.add(os.path.realpath(path))
    return found


def check_paths(image: str, inputs: Iterable[str], outputs: dict[str, str]) -> None:
    """No output resolves to an input or to another output (symlinks and ``..`` resolved).

    ``outputs`` maps each output's option name (for the message) to its path; empty paths are
    skipped.
    """
    read = input_files(image, inputs)
    seen: dict[str, str] = {}
    for option, path in outputs.items():
        if not path:
            continue
        real = os.path.realpath(path)
        if real in read:
            raise InputError('%s %s is one of the inputs; it would be overwritten. Choose '
                             'another output path' % (option, path))
        if real in seen:
            raise InputError('%s and %s are the same file %s; give each output its own path'
                             % (seen[real], option, path))
        seen[real] = option


NAME_MAX = 255
"""Bytes in a file name where the file system does not say (ext4, xfs, btrfs, tmpfs)."""


def check_output_path(path: str) -> None:
    """An output can be written at ``path`` as a regular file: new, or replacing a regular file.

    A device, FIFO, socket, folder or symlink loop there is refused (the atomic writer would
    rename over it: ``/dev/stdout`` would replace ``/dev/null``), as are a name longer than the
    file system allows and a folder, reached through any links, that does not exist or is not
    writable."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # new, or a dangling link: its target's folder is checked below
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise OutputError(_too_long(path)) from None
        raise OutputError('output %s %s' % (path, why_missing(path))) from None
    if mode is not None and stat.S_ISDIR(mode):
        raise OutputError('output %s is a folder; give a file name' % path)
    if mode is not None and not stat.S_ISREG(mode):
        raise OutputError('output %s is not a regular file (a device, pipe or socket) and '
                          'would be replaced; give a file name on disk' % path)
    folder = os.path.dirname(os.path.realpath(path))
    if not os.path.isdir(folder):
        raise OutputError(missing('output folder', folder, 'create it or choose another path'))
    if not os.access(folder, os.W_OK):
        raise OutputError('output folder %s is not writable; choose another folder' % folder)
    if len(os.fsencode(os.path.basename(os.path.realpath(path)))) > _name_max(folder):
        raise OutputError(_too_long(path))


def _name_max(folder: str) -> int:
    try:
        return os.pathconf(folder, 'PC_NAME_MAX')
    except (OSError, ValueError):
        return NAME_MAX


def _too_long(path: str) -> str:
    return ('output name %s... is longer than the file system allows; choose a shorter name'
            % os.path.basename(path)[:40])
