# Copyright (c) slim_plugins contributors. All rights reserved.
"""tools/test.py --tta: flip test-time augmentation loads the checkpoint into
the wrapped model and reports its own accuracy."""
import json
import os
import os.path as osp

import torch
from conftest import REPO_ROOT, run_tool, write_tiny_fashion_mnist
from mmengine.config import Config
from mmengine.registry import init_default_scope

import slim_plugins  # noqa: F401
from slim_plugins.registry import MODELS

PROBE = osp.join(REPO_ROOT, 'configs', 'mv_mr', 'benchmarks',
                 'resnet18_linear-1xb128-coslr-1e_fashion-mnist.py')


def test_flip_tta_loads_the_checkpoint_and_reports(tmp_path):
    root = str(tmp_path / 'fashion')
    os.makedirs(root)
    write_tiny_fashion_mnist(root, num_train=8, num_test=8)
    cfg = Config.fromfile(PROBE)
    cfg.model.backbone.init_cfg = None
    init_default_scope('slim_plugins')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = str(tmp_path / 'probe.pth')
    torch.save(dict(meta=dict(epoch=1), state_dict=model.state_dict()),
               checkpoint)
    data = [
        f'{loader}.{key}'
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader')
        for key in (f'dataset.data_root={root}', 'num_workers=0',
                    'persistent_workers=False')
    ]
    out = str(tmp_path / 'tta.json')
    result = run_tool([
        'tools/test.py', PROBE, checkpoint, '--work-dir',
        str(tmp_path / 'tta'), '--out', out, '--out-item', 'metrics',
        '--tta', '--cfg-options', 'model.module.backbone.init_cfg=None',
        *data
    ])
    assert 'AverageClsScoreTTA' in result.stdout + result.stderr
    with open(out) as f:
        assert 0 <= json.load(f)['accuracy/top1'] <= 100
    # A checkpoint of another architecture is still refused through TTA.
    bad = str(tmp_path / 'bad.pth')
    torch.save(dict(meta=dict(epoch=1),
                    state_dict={'head.fc.weight': torch.zeros(3, 3)}), bad)
    result = run_tool([
        'tools/test.py', PROBE, bad, '--work-dir',
        str(tmp_path / 'bad'), '--tta', '--cfg-options',
        'model.module.backbone.init_cfg=None', *data
    ], check=False)
    assert result.returncode != 0
    assert 'does not fit ImageClassifier' in result.stdout + result.stderr
