# Copyright (c) slim_plugins contributors. All rights reserved.
"""The model zoo in OpenMMLab's form: model-index.yml imports one
metafile.yml per config folder, and every config is listed in it."""
import glob
import os
import os.path as osp

import pytest
import yaml
from conftest import REPO_ROOT

CONFIGS = osp.join(REPO_ROOT, 'configs')
INDEX = osp.join(REPO_ROOT, 'model-index.yml')
CONFIG_FOLDERS = sorted(
    name for name in os.listdir(CONFIGS)
    if osp.isdir(osp.join(CONFIGS, name)) and name != '_base_')


def _load(path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def _imports():
    index = _load(INDEX)
    assert isinstance(index, dict) and isinstance(index.get('Import'), list), \
        'model-index.yml must hold an `Import:` list of metafiles'
    return index['Import']


def _metafiles():
    return {path: _load(osp.join(REPO_ROOT, path)) for path in _imports()}


def _models():
    for path, meta in _metafiles().items():
        for model in meta.get('Models') or []:
            yield path, model


def _configs_of(folder):
    paths = glob.glob(osp.join(CONFIGS, folder, '**', '*.py'), recursive=True)
    return sorted(
        osp.relpath(p, REPO_ROOT) for p in paths
        if '_base_' not in osp.relpath(p, CONFIGS).split(os.sep))


def test_imports_exist():
    missing = [p for p in _imports() if not osp.isfile(osp.join(REPO_ROOT, p))]
    assert not missing, f'model-index.yml imports missing files {missing}'


@pytest.mark.parametrize('folder', CONFIG_FOLDERS)
def test_every_config_folder_has_an_imported_metafile(folder):
    path = f'configs/{folder}/metafile.yml'
    assert osp.isfile(osp.join(REPO_ROOT, path)), f'{path} is missing'
    assert path in _imports(), f'{path} is not imported by model-index.yml'


@pytest.mark.parametrize('folder', CONFIG_FOLDERS)
def test_every_config_is_listed(folder):
    meta = _load(osp.join(CONFIGS, folder, 'metafile.yml'))
    listed = {m.get('Config') for m in meta.get('Models') or []}
    unlisted = [p for p in _configs_of(folder) if p not in listed]
    assert not unlisted, (f'configs/{folder}/metafile.yml does not list '
                          f'{unlisted}')


def test_collections():
    names = []
    for path, meta in _metafiles().items():
        assert isinstance(meta, dict), f'{path} does not parse to a mapping'
        for col in meta.get('Collections') or []:
            for key in ('Name', 'Metadata', 'Paper', 'README'):
                assert key in col, f'{path}: collection without {key}'
            assert col['Paper'].get('Title') and col['Paper'].get('URL'), \
                f'{path}: {col["Name"]} needs Paper Title and URL'
            assert osp.isfile(osp.join(REPO_ROOT, col['README'])), \
                f'{path}: README {col["README"]} does not exist'
            names.append(col['Name'])
    assert len(names) == len(set(names)), f'duplicate collections {names}'


def test_models():
    collections = {
        col['Name']
        for meta in _metafiles().values()
        for col in meta.get('Collections') or []
    }
    names = []
    for path, model in _models():
        for key in ('Name', 'In Collection', 'Config'):
            assert key in model, f'{path}: a model has no {key}: {model}'
        name, config = model['Name'], model['Config']
        assert model['In Collection'] in collections, (
            f'{path}: {name} is in unknown collection '
            f'{model["In Collection"]!r}')
        assert osp.isfile(osp.join(REPO_ROOT, config)), \
            f'{path}: {name} names a missing config {config}'
        assert name == osp.splitext(osp.basename(config))[0], \
            f'{path}: model name {name} is not the stem of {config}'
        assert 'Weights' not in model or str(
            model['Weights']).startswith('http'), \
            f'{path}: {name} has Weights that are not a URL'
        for result in model.get('Results') or []:
            for key in ('Task', 'Dataset', 'Metrics'):
                assert key in result, f'{path}: {name} result without {key}'
        names.append((model['In Collection'], name))
    # Names are config stems; two method folders may hold downstream configs
    # of the same stem, so a name is unique within its collection.
    assert len(names) == len(set(names)), 'duplicate model names'
