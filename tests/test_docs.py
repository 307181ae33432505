# Copyright (c) slim_plugins contributors. All rights reserved.
"""The README and docs/ point at things that exist: relative links (and their
anchors) resolve, docs/index.md links every page, files named in code blocks
exist, every config named builds."""
import glob
import os.path as osp
import re

import pytest
from conftest import REPO_ROOT
from mmengine.config import Config
from mmengine.registry import init_default_scope

import slim_plugins  # noqa: F401
from slim_plugins.registry import MODELS

PAGES = [osp.join(REPO_ROOT, 'README.md')] + sorted(
    glob.glob(osp.join(REPO_ROOT, 'docs', '**', '*.md'), recursive=True))
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
CODE_BLOCK = re.compile(r'```[a-z]*\n(.*?)```', re.DOTALL)
# A path-like token of the repo in a command: a folder we ship, then a file.
REPO_PATH = re.compile(
    r'(?<![\w/.-])((?:tools|benchmarks|configs|docs|slim_plugins|projects|'
    r'tests)/[\w./{},*-]+\.(?:py|sh|md|png|yml))')
CONFIG = re.compile(r'(?<![\w/.-])(configs/[\w./-]+\.py)')


def _relative(page):
    return osp.relpath(page, REPO_ROOT)


def _text(page):
    with open(page, encoding='utf-8') as f:
        return f.read()


def _anchors(page):
    """GitHub's heading anchors of a markdown page (code blocks skipped)."""
    anchors, seen = set(), {}
    for line in CODE_BLOCK.sub('', _text(page)).splitlines():
        match = re.match(r'#{1,6}\s+(.*)', line)
        if not match:
            continue
        slug = re.sub(r'[^\w\- ]', '', match.group(1).strip().lower())
        slug = slug.replace(' ', '-')
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(f'{slug}-{count}' if count else slug)
    return anchors


@pytest.mark.parametrize('page', PAGES, ids=_relative)
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(_text(page)):
        if re.match(r'[a-z]+:', target):
            continue
        path, _, anchor = target.partition('#')
        full = osp.join(osp.dirname(page), path) if path else page
        if not osp.exists(full):
            broken.append(target)
        elif anchor and full.endswith('.md') and anchor not in _anchors(full):
            broken.append(target)
    assert not broken, f'{_relative(page)}: broken links {broken}'


def test_index_links_every_page():
    index = osp.join(REPO_ROOT, 'docs', 'index.md')
    linked = {
        osp.normpath(osp.join(osp.dirname(index),
                              target.split('#')[0]))
        for target in LINK.findall(_text(index))
    }
    unlinked = [
        _relative(page) for page in PAGES if page != index
        and osp.dirname(page) != REPO_ROOT and osp.normpath(page) not in linked
    ]
    assert not unlinked, f'docs/index.md does not link {unlinked}'


@pytest.mark.parametrize('page', PAGES, ids=_relative)
def test_files_named_in_code_blocks_exist(page):
    missing = []
    for block in CODE_BLOCK.findall(_text(page)):
        for path in REPO_PATH.findall(block):
            if any(c in path for c in '{}*'):
                continue  # a pattern, not one file
            if not osp.exists(osp.join(REPO_ROOT, path)):
                missing.append(path)
    assert not missing, f'{_relative(page)}: no such files {missing}'


def _named_configs():
    names = set()
    for page in PAGES:
        for path in CONFIG.findall(_text(page)):
            if not any(c in path for c in '{}*'):
                names.add(path)
    return sorted(names)


@pytest.mark.parametrize('config', _named_configs())
def test_configs_named_in_the_docs_build(config):
    path = osp.join(REPO_ROOT, config)
    assert osp.isfile(path), f'{config} is named in the docs but missing'
    cfg = Config.fromfile(path)
    if 'model' not in cfg:
        return  # a _base_ dataset / schedule file
    init_default_scope(cfg.get('default_scope', 'slim_plugins'))
    model_cfg = cfg.model.copy()
    backbone = model_cfg.get('backbone')
    if isinstance(backbone, dict):
        backbone.pop('init_cfg', None)
    MODELS.build(model_cfg)


def test_readme_is_a_front_page():
    # What, install, quick start, results, links: about 150 lines at most;
    # history and design notes belong in docs/.
    with open(osp.join(REPO_ROOT, 'README.md')) as f:
        lines = f.read().splitlines()
    assert len(lines) <= 150, f'README.md has {len(lines)} lines'
    headings = [line for line in lines if line.startswith('## ')]
    for section in ('## Methods', '## Installation', '## Quick start',
                    '## Model zoo', '## Documentation'):
        assert section in headings
