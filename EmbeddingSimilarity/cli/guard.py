"""The output guard of every CLI, derived from its XML: no run writes over a file it reads, or
writes two outputs to one file.

What a run may write is read from the CLI's own XML: every ``file``, ``image`` or ``directory``
parameter whose channel is ``output``, Slicer's ``--returnparameterfile``, the ``--index`` it
updates in place, and the files written beside them (an embedding file's ``.partial``
checkpoint, an index's ``.json``). What it reads is every input ``file``, ``image`` and
``directory`` parameter of the same XML, expanded to the files behind it (the files of a
multi-file slide, every slide and cache of a collection). Both sides are compared after
resolving symlinks and ``..``, before any slide or model is touched, so a parameter added to an
XML later is guarded without a line of code here.
"""

from __future__ import annotations

import argparse
import functools
import glob
import os
from xml.etree import ElementTree

from .paths import check_output_path, check_paths

PATH_TAGS = ('file', 'image', 'directory')
RETURN_PARAMETERS = ('returnParameterFile', '--returnparameterfile')
"""Slicer Execution Model's own output: the simple outputs' values, written after the run."""
UPDATED_IN_PLACE = {'indexFile': ('', '.json')}
"""Inputs the run also writes (``--index`` is built or updated), with the side files beside."""
SIDE_FILES = {'outputEmbeddingFile': ('.partial',)}
"""Files written beside an output (the checkpoint of an interrupted embedding)."""
IDS_NOT_PATHS = ('inputImageId',)
"""``image`` parameters that carry a Girder id, not a path."""


@functools.cache
def parameters(xml_path: str) -> tuple[tuple[str, str, str], ...]:
    """``(argparse dest, option, channel)`` of every path parameter of a CLI's XML."""
    found = []
    for element in ElementTree.parse(xml_path).getroot().iter():
        if element.tag not in PATH_TAGS or element.findtext('name') is None:
            continue
        flag = element.findtext('longflag') or element.findtext('flag')
        option = ('--' + flag.lstrip('-')) if flag else element.findtext('name')
        found.append((element.findtext('name'), option,
                      (element.findtext('channel') or 'input').strip()))
    return tuple(found)


def written(args: argparse.Namespace, xml_path: str) -> dict[str, str]:
    """Every file this run may write, by a name for messages (option and side file)."""
    outputs: dict[str, str] = {}
    wanted = [(dest, option) for dest, option, channel in parameters(xml_path)
              if channel == 'output']
    wanted.append(RETURN_PARAMETERS)
    wanted += [(dest, '--index') for dest in UPDATED_IN_PLACE if hasattr(args, dest)]
    for dest, option in wanted:
        path = getattr(args, dest, None)
        if not path:
            continue
        for suffix in UPDATED_IN_PLACE.get(dest, ('',)) + SIDE_FILES.get(dest, ()):
            outputs['%s%s' % (option, ' (its %s file)' % suffix if suffix else '')] = \
                path + suffix
    return outputs


def read(args: argparse.Namespace, xml_path: str) -> list[str]:
    """Every file this run reads besides the image: input files, and for a folder input (a
    collection) its slides and their caches."""
    from ..collection.targets import collection_slides

    paths: list[str] = []
    for dest, _, channel in parameters(xml_path):
        path = getattr(args, dest, None)
        if channel != 'input' or not path or dest in IDS_NOT_PATHS or \
                dest == 'inputImageFile' or not isinstance(path, str):
            continue
        if os.path.isdir(path):
            paths += collection_slides(path, set())
            paths += glob.glob(os.path.join(glob.escape(path), '**', '*.npz'), recursive=True)
        else:
            paths.append(path)
    return paths


def guard_outputs(args: argparse.Namespace, xml_path: str) -> None:
    """Refuse, before any work, a run that would write over one of its inputs or write two
    outputs to one file."""
    outputs = written(args, xml_path)
    image = getattr(args, 'inputImageFile', '') or ''
    check_paths(image, read(args, xml_path), outputs)
    for path in outputs.values():
        check_output_path(path)
