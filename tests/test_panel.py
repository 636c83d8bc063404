"""The job panel HistomicsUI draws from each CLI's XML, as a pathologist meets it: the first
screen (every group not marked ``advanced``) holds only what they decide; the rest waits in
collapsed groups. Counted from the XML, outputs included (slicer_cli_web draws every parameter
of an open group)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from EmbeddingSimilarity.cli.arguments import OUTPUT_NAMES, xml_path

FIRST_SCREEN_MOST = {'EmbeddingSimilarity': 15, 'EmbeddingClusters': 8,
                     'CollectionSimilarity': 10}
"""Fields a CLI may show before any group is opened (the reference plugin shows 15)."""
SLICER_SHAPE_ORDER = ('rectangle', 'polygon', 'polyline', 'line', 'point')
"""slicer_cli_web 1.5's regionWidget.pug lists a region's buttons in this order, whatever the
``shapes`` attribute's order; ``polygon`` brings ``rectangle`` with it."""
DEVELOPER_WORDS = ('girder', ' id', '.npz', 'embedding', 'token', 'api', 'file')


def _groups(cli: str) -> list[ET.Element]:
    return ET.parse(xml_path(cli)).getroot().findall('parameters')


def first_screen(cli: str) -> list[ET.Element]:
    """The parameters of the groups HistomicsUI shows open."""
    return [param for group in _groups(cli) if group.get('advanced') != 'true'
            for param in group if param.find('name') is not None]


def _by_name(cli: str) -> dict[str, ET.Element]:
    return {param.findtext('name'): param for group in _groups(cli)
            for param in group if param.find('name') is not None}


def visible_button(region: ET.Element) -> str:
    """The shape of the button slicer_cli_web shows beside a region (the rest are in its
    drop-down)."""
    keys = set(region.get('shapes', 'rectangle').split(','))
    if 'polygon' in keys:
        keys.add('rectangle')
    return next(shape for shape in SLICER_SHAPE_ORDER if shape in keys)


@pytest.mark.parametrize('cli', sorted(FIRST_SCREEN_MOST))
def test_the_first_screen_is_short_and_in_a_pathologists_words(cli):
    shown = first_screen(cli)
    names = [param.findtext('name') for param in shown]
    assert len(shown) <= FIRST_SCREEN_MOST[cli], names
    assert 'model' in names and 'inputImageFile' in names
    assert [n for n in names if n in OUTPUT_NAMES or n.startswith('output')] == []
    for param in shown:
        label = param.findtext('label').lower()
        assert not [w for w in DEVELOPER_WORDS if w in label], label
    for group in _groups(cli):
        if group.get('advanced') == 'true':
            assert group.findtext('label') and 'IO' not in group.findtext('label')


@pytest.mark.parametrize('cli', sorted(FIRST_SCREEN_MOST))
def test_the_model_says_which_is_the_try_out_and_what_real_work_needs(cli):
    model = _by_name(cli)['model']
    description = model.findtext('description')
    assert model.findtext('default') in description and 'trying' in description
    assert 'pathology model' in description and 'administrator' in description
    assert 'model cache' in description


def test_a_click_submits_and_the_point_tool_comes_first():
    """``autosubmit``: slicer_cli_web 1.5.14 draws ``submiton`` switched off on a fresh panel
    (it reads the state from the still empty widget), so only ``autosubmit`` makes the first
    click run; drawn regions and negatives never submit."""
    params = _by_name('EmbeddingSimilarity')
    keys = params['keypoints'].get('shapes').split(',')
    assert visible_button(params['keypoints']) == 'point'
    assert 'autosubmit' in keys and 'multi' in keys
    for name in ('keyRegions', 'negativeKeypoints'):
        shapes = params[name].get('shapes').split(',')
        assert not [k for k in shapes if 'submit' in k], (name, shapes)
        assert {'rectangle', 'polygon'} <= set(shapes)
    assert 'not like this' in params['negativeKeypoints'].findtext('label').lower()
    shown = [p.findtext('name') for p in first_screen('EmbeddingSimilarity')]
    assert shown.index('keypoints') < shown.index('keyRegions') < shown.index('model')


def test_a_collection_search_waits_for_submit():
    """A search of a whole folder is long: its clicks do not start it (``submitoff`` offers
    the toggle, off), and the folder comes before the clicks."""
    params = _by_name('CollectionSimilarity')
    keys = params['keypoints'].get('shapes').split(',')
    assert visible_button(params['keypoints']) == 'point'
    assert 'submitoff' in keys and 'autosubmit' not in keys and 'submiton' not in keys
    shown = [p.findtext('name') for p in first_screen('CollectionSimilarity')]
    assert shown.index('collection') < shown.index('keypoints')
    assert 'not like this' in params['negativeKeypoints'].findtext('label').lower()


@pytest.mark.parametrize('cli', sorted(FIRST_SCREEN_MOST))
def test_outputs_keep_what_histomicsui_needs_to_fill_them(cli):
    """slicer_cli_web fills an output file's name when it references the image and has an
    extension, in an advanced group too; HistomicsUI ingests ``*AnnotationFile``."""
    for name, param in _by_name(cli).items():
        if param.tag == 'file' and param.findtext('channel') == 'output':
            assert param.get('reference') == 'inputImageFile', name
            assert param.get('fileExtensions'), name


def test_drawn_regions_join_the_clicked_points(sample_slide):
    from EmbeddingSimilarity.cli.main import build_parser, to_request

    args = build_parser().parse_args([sample_slide, '--keypoints=600,2600', '--key-regions',
                                      '100,200,300,400,-1,-1,10,10,90,10,90,90,10,90'])
    query = to_request(args).query
    assert query.keypoints == [(600.0, 2600.0)]
    assert len(query.key_regions) == 2
