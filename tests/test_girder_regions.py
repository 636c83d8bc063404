"""Existing annotations as exemplars, and the hit polygons, against a real Girder 3 +
large_image server (the server validates every annotation against large_image's schema when it
saves it)."""

from __future__ import annotations

from EmbeddingSimilarity import HITS_TOOL_ATTRIBUTE, TOOL_ATTRIBUTE

OUTLINES = {'name': 'tumour outlines', 'elements': [
    {'type': 'polyline', 'closed': True, 'points': [
        [800, 1300, 0], [1250, 1250, 0], [1300, 1700, 0], [1000, 1800, 0], [780, 1650, 0]]},
    {'type': 'rectangle', 'center': [900, 2350, 0], 'width': 300, 'height': 200,
     'rotation': 0},
    {'type': 'polyline', 'closed': False, 'points': [[0, 0, 0], [10, 10, 0]]},  # not a shape
]}
OTHER = {'name': 'notes', 'elements': [
    {'type': 'point', 'center': [1800, 600, 0], 'group': 'background'},
    {'type': 'point', 'center': [1000, 1500, 0], 'group': 'tumour'},
]}


def _task(cli, girder_server, gc, slide, item, *extra: str):
    return cli(slide, '--model', 'Test', '--api-url', girder_server['apiUrl'], '--girder-token',
               gc.token, '--image-id', item['fileId'], *extra)


def _by_tool(gc, item_id: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for doc in gc.get('annotation', parameters={'itemId': item_id, 'limit': 0}):
        full = gc.get('annotation/%s' % doc['_id'])
        for key in (TOOL_ATTRIBUTE, HITS_TOOL_ATTRIBUTE):
            if key in (full['annotation'].get('attributes') or {}):
                found.setdefault(key, []).append(full)
    return found


def test_annotations_become_key_shapes_and_hits_are_posted_in_place(
        cli, girder_server, gc, slide_item, sample_slide, tmp_path):
    for body in (OUTLINES, OTHER):
        gc.post('annotation', parameters={'itemId': slide_item['_id']}, json=body)
    hits_file, returned = tmp_path / 'hits.anot', tmp_path / 'ret.txt'
    args = ('--positive-annotations', 'tumour outlines', '--negative-annotations', 'background',
            '--output-hits', str(hits_file), '--returnparameterfile', str(returned),
            '--output-embeddings', str(tmp_path / 'e.npz'))
    first = _task(cli, girder_server, gc, sample_slide, slide_item, *args)
    assert first.returncode == 0, first.stderr
    mine = _by_tool(gc, slide_item['_id'])
    heatmap, = mine[TOOL_ATTRIBUTE]
    hits, = mine[HITS_TOOL_ATTRIBUTE]
    query = heatmap['annotation']['attributes'][TOOL_ATTRIBUTE]
    assert query['keyRegions'] == ['800,1300,1250,1250,1300,1700,1000,1800,780,1650',
                                   '750,2250,300,200']
    assert query['keypoints'] == [] and query['negativeKeypoints'] == [[1800.0, 600.0]]
    elements = [e for e in hits['annotation']['elements'] if e['type'] == 'polyline']
    assert [e['type'] for e in heatmap['annotation']['elements']] == ['griddata']
    assert len(hits['annotation']['elements']) == len(elements) + 3  # the colour key
    values = dict(line.split(' = ') for line in returned.read_text().splitlines())
    # the numbers are in the layer names HistomicsUI lists, one heatmap and one hits per model
    assert hits['annotation']['name'] == 'Hits ≥ %.2f · %d region%s · %.0f%% of tissue · Test' % (
        float(values['suggestedCutoff']), int(values['hitRegions']),
        '' if values['hitRegions'] == '1' else 's', 100 * float(values['hitTissueShare']))
    assert heatmap['annotation']['name'] == 'Similar to 2 regions · Test'
    assert len(elements) == int(values['hitRegions']) >= 1
    assert all(e['type'] == 'polyline' and e['closed'] for e in elements)
    assert not hits_file.exists()  # posted: Girder holds it, so no copy is written
    assert 'Cut-off %.4g' % float(values['suggestedCutoff']) in heatmap['annotation'][
        'description']

    # a second click with a point added: both annotations updated in place
    again = _task(cli, girder_server, gc, sample_slide, slide_item, *args, '--keypoints',
                  '1000,1500')
    assert again.returncode == 0, again.stderr
    after = _by_tool(gc, slide_item['_id'])
    assert [d['_id'] for d in after[TOOL_ATTRIBUTE]] == [heatmap['_id']]
    assert [d['_id'] for d in after[HITS_TOOL_ATTRIBUTE]] == [hits['_id']]
    assert after[TOOL_ATTRIBUTE][0]['annotation']['attributes'][TOOL_ATTRIBUTE][
        'keypoints'] == [[1000.0, 1500.0]]


def test_an_unknown_annotation_name_lists_the_ones_that_exist(cli, girder_server, gc,
                                                              slide_item, sample_slide):
    gc.post('annotation', parameters={'itemId': slide_item['_id']}, json=OTHER)
    result = _task(cli, girder_server, gc, sample_slide, slide_item, '--positive-annotations',
                   'tumor')
    assert result.returncode == 2, result.stderr
    line, = [x for x in result.stderr.splitlines() if x.startswith('EmbeddingSimilarity:')]
    assert "'tumor'" in line and "'notes'" in line and "'background'" in line
