# Copyright (c) slim_plugins contributors. All rights reserved.
"""KNNAccuracy: hand-checked votes, per-width banks, SSL models, tools."""
import contextlib
import json
import math
import os
import os.path as osp
import uuid
from typing import List, Tuple

import pytest
import torch
from conftest import REPO_ROOT, run_tool, tiny_slim_simclr_knn
from mmengine.model import BaseDataPreprocessor, BaseModel
from mmengine.runner import Runner
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader, Dataset

from slim_plugins.evaluation.metrics import KNNAccuracy, knn_class_votes
from slim_plugins.ops import SlimLinear, using_width
from slim_plugins.registry import MODELS
from slim_plugins.utils.bn_calibration import (apply_calibrated_stats,
                                               preserved_bn_buffers)

T = 0.07


# ----------------------------------------------------------------------
# A hand-checkable case on 2-D features
# ----------------------------------------------------------------------
def _unit(cos: float, sign: float = 1.) -> List[float]:
    return [cos, sign * math.sqrt(1 - cos * cos)]


# (feature, label): cosines with the query (1, 0) are 0.9, 0.8, 0.8, 0.1 and
# -0.5; the scales make the euclidean neighbour differ from the cosine one.
BANK = [
    ([10 * v for v in _unit(0.9)], 1),
    ([0.5 * v for v in _unit(0.8)], 0),
    ([2. * v for v in _unit(0.8, -1.)], 0),
    (_unit(0.1), 0),
    (_unit(-0.5), 2),
]
QUERIES = [([3., 0.], 1), (_unit(-0.6), 2)]


def _bank() -> Tuple[torch.Tensor, torch.Tensor]:
    return (torch.tensor([f for f, _ in BANK]),
            torch.tensor([lb for _, lb in BANK]))


def test_cosine_votes_are_sums_of_exp_sim_over_t():
    bank, labels = _bank()
    query = torch.tensor([QUERIES[0][0]])
    votes = knn_class_votes(query, bank, labels, 3, k=3, temperature=T)
    # Neighbours: cos 0.9 (class 1), 0.8 and 0.8 (class 0); 0.1 is 4th.
    expected = torch.tensor(
        [[2 * math.exp(0.8 / T), math.exp(0.9 / T), 0.]])
    torch.testing.assert_close(votes, expected, rtol=1e-5, atol=0)
    # exp weights let the single closest neighbour win (383k > 184k) ...
    assert votes.argmax().item() == 1
    # ... where a majority vote picks class 0.
    uniform = knn_class_votes(
        query, bank, labels, 3, k=3, weighting='uniform')
    assert uniform.tolist() == [[2., 1., 0.]]


def test_euclidean_k1_votes_nearest_raw_feature():
    bank, labels = _bank()
    query = torch.tensor([QUERIES[0][0]])
    votes = knn_class_votes(
        query, bank, labels, 3, k=1, distance='euclidean')
    # Nearest raw point: 2 * (0.8, -0.6) = (1.6, -1.2), class 0.
    d = math.hypot(3. - 1.6, 1.2)
    expected = torch.tensor([[1 / (d + 1e-5), 0., 0.]])
    torch.testing.assert_close(votes, expected, rtol=1e-5, atol=0)


def _naive_votes(query, bank, labels, num_classes, k, distance, weighting):
    out = torch.zeros(len(query), num_classes, dtype=torch.float64)
    for i, q in enumerate(query.double()):
        scored = []
        for b, lb in zip(bank.double(), labels.tolist()):
            if distance == 'cosine':
                s = float(q @ b / (q.norm() * b.norm()))
                w = math.exp(s / T) if weighting == 'exp' else 1.
                scored.append((-s, w, lb))
            else:
                d = float((q - b).norm())
                w = 1 / (d + 1e-5) if weighting == 'inverse' else 1.
                scored.append((d, w, lb))
        for _, w, lb in sorted(scored)[:k]:
            out[i, lb] += w
    return out


@pytest.mark.parametrize('distance,weighting', [('cosine', 'exp'),
                                                ('euclidean', 'inverse'),
                                                ('cosine', 'uniform')])
def test_votes_match_a_naive_loop_with_chunks(distance, weighting):
    gen = torch.Generator().manual_seed(0)
    query = torch.randn(13, 6, generator=gen)
    bank = torch.randn(40, 6, generator=gen)
    labels = torch.randint(0, 4, (40, ), generator=gen)
    votes = knn_class_votes(
        query, bank, labels, 4, k=5, distance=distance, weighting=weighting,
        temperature=T, chunk_size=4)
    expected = _naive_votes(query, bank, labels, 4, 5, distance, weighting)
    torch.testing.assert_close(votes.double(), expected, rtol=1e-4, atol=0)


class PointSet(Dataset):
    """Feature vectors as 'images' with labels."""

    def __init__(self, items) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> dict:
        feat, label = self.items[idx]
        return dict(
            inputs=torch.tensor(feat),
            data_samples=DataSample().set_gt_label(label))


class IdentityFeatures(BaseModel):
    """A model whose features are its inputs."""

    def __init__(self) -> None:
        super().__init__(data_preprocessor=BaseDataPreprocessor())
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return inputs


def _point_loader(items, batch_size=2) -> DataLoader:
    from mmengine.dataset import default_collate
    return DataLoader(
        PointSet(items), batch_size=batch_size, collate_fn=default_collate)


def test_metric_on_the_hand_case():
    metric = KNNAccuracy(
        memory_dataloader=_point_loader(BANK),
        knn_cfgs=[
            dict(k=3, distance='cosine', temperature=T),
            dict(k=1, distance='euclidean'),
            dict(k=3, distance='cosine', weighting='uniform', name='k3_maj')
        ],
        topk=(1, 2))
    metric.bind(IdentityFeatures())
    for batch in _point_loader(QUERIES, batch_size=1):
        metric.process(batch, [])
    results = metric.evaluate(len(QUERIES))
    # Query 1 (label 1): cosine k=3 -> 1 (exp weights), euclidean k=1 -> 0,
    # majority k=3 -> 0 (two class-0 neighbours).
    # Query 2 (label 2): neighbours cos 0.993 (class 2), 0.736 and 0.0
    # (class 0): exp weights -> 2, majority -> 0; euclidean k=1 -> 2.
    # Top-2 of both k=3 classifiers holds the label for both queries.
    # (top2_k1 is left out: k=1 votes for one class, the second is a tie.)
    results.pop('knn/top2_k1')
    assert results == {
        'knn/top1_k3': 100.0,
        'knn/top2_k3': 100.0,
        'knn/top1_k1': 50.0,
        'knn/top1_k3_maj': 0.0,
        'knn/top2_k3_maj': 100.0,
    }
    assert metric.results == [] and metric._memory is None


def test_metric_errors():
    loader = _point_loader(BANK)
    with pytest.raises(ValueError, match='distinct `name`'):
        KNNAccuracy(
            loader, knn_cfgs=[dict(k=1), dict(k=1, distance='euclidean')])
    with pytest.raises(ValueError, match='does not apply'):
        KNNAccuracy(loader, knn_cfgs=[dict(k=1, distance='euclidean',
                                           weighting='exp')])
    with pytest.raises(ValueError, match='needs `k`'):
        KNNAccuracy(loader, knn_cfgs=[dict(distance='cosine')])
    with pytest.raises(TypeError, match='memory_dataloader'):
        KNNAccuracy('data/train')
    metric = KNNAccuracy(loader, knn_cfgs=[dict(k=9)])
    with pytest.raises(ValueError, match='KNNMemoryHook'):
        metric.process(next(iter(_point_loader(QUERIES))), [])
    metric.bind(IdentityFeatures())
    metric.process(next(iter(_point_loader(QUERIES))), [])
    with pytest.raises(ValueError, match='k=9 needs at least 9'):
        metric.evaluate(2)


# ----------------------------------------------------------------------
# Through a Runner: per-width banks, ImageClassifier and SSL models
# ----------------------------------------------------------------------
@MODELS.register_module(force=True)
class _KNNTestSlimLinearClsHead(LinearClsHead):
    """LinearClsHead whose fc follows the backbone's width."""

    def __init__(self, num_classes: int, in_channels: int, **kwargs):
        super().__init__(num_classes, in_channels, **kwargs)
        self.fc = SlimLinear(in_channels, num_classes)


class ToyImages(Dataset):

    def __init__(self, num: int, offset: int) -> None:
        self.num, self.offset = num, offset

    def __len__(self) -> int:
        return self.num

    def __getitem__(self, idx: int) -> dict:
        gen = torch.Generator().manual_seed(self.offset + idx)
        label = idx % 3
        img = torch.randint(0, 128, (3, 8, 8), generator=gen,
                            dtype=torch.uint8) + 40 * label
        return dict(
            inputs=img, data_samples=DataSample().set_gt_label(label))


def _loader(num: int, offset: int, shuffle: bool = False) -> dict:
    return dict(
        dataset=ToyImages(num, offset),
        sampler=dict(type='DefaultSampler', shuffle=shuffle),
        collate_fn=dict(type='default_collate'),
        batch_size=4,
        num_workers=0)


BACKBONE = dict(
    type='SlimResNet',
    depth=18,
    stem='cifar',
    base_channels=8,
    stem_channels=8,
    width_range=(0.25, 1.0))
KNN_CFGS = [dict(k=20, distance='cosine', temperature=T),
            dict(k=1, distance='euclidean')]


def _runner(work_dir: str, model: dict, evaluator, test_cfg: dict,
            hooks: list) -> Runner:
    torch.manual_seed(0)
    return Runner(
        model=model,
        work_dir=work_dir,
        experiment_name=f'knn_{uuid.uuid4().hex}',
        test_dataloader=_loader(8, 1000),
        test_evaluator=evaluator,
        test_cfg=test_cfg,
        custom_hooks=hooks,
        default_scope='slim_plugins',
        log_level='WARNING')


def _reference(model, widths, calibrated: bool) -> dict:
    """kNN accuracies from features computed by hand, per width.

    A width of None evaluates a model without slim ops as it is.
    """
    model.eval()
    out = {}

    def feats(num, offset):
        data = [ToyImages(num, offset)[i] for i in range(num)]
        x = torch.stack([d['inputs'] for d in data]).float()
        x = (x - 128.) / 64.  # both test models normalise like this
        f = model.backbone(x)[-1].mean(dim=(2, 3))
        return f, torch.tensor([d['data_samples'].gt_label.item()
                                for d in data])

    for width in widths:
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.no_grad())
            stack.enter_context(preserved_bn_buffers(model.backbone))
            if width is not None:
                stack.enter_context(using_width(model, width))
            if calibrated:
                apply_calibrated_stats(model.backbone, width)
            bank, bank_labels = feats(24, 0)
            query, labels = feats(8, 1000)
        for cfg in KNN_CFGS:
            votes = _naive_votes(query, bank, bank_labels, 3, cfg['k'],
                                 cfg['distance'],
                                 'exp' if cfg['distance'] == 'cosine' else
                                 'inverse')
            acc = (votes.argmax(1) == labels).double().mean().item() * 100
            out[(width, f'k{cfg["k"]}')] = acc
    return out


def test_per_width_banks_with_image_classifier(tmp_path):
    model = dict(
        type='ImageClassifier',
        data_preprocessor=dict(
            type='ClsDataPreprocessor', mean=[128.] * 3, std=[64.] * 3),
        backbone=BACKBONE,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='_KNNTestSlimLinearClsHead',
            num_classes=3,
            in_channels=64,
            topk=(1, )))
    evaluator = [
        dict(type='Accuracy', topk=(1, )),
        dict(type='KNNAccuracy', memory_dataloader=_loader(24, 0),
             knn_cfgs=KNN_CFGS)
    ]
    hooks = [
        dict(type='KNNMemoryHook'),
        dict(type='BNCalibrationHook', widths=[1.0, 0.5], num_batches=2,
             dataloader=_loader(24, 0))
    ]
    runner = _runner(str(tmp_path), model, evaluator,
                     dict(type='MultiWidthTestLoop', widths=[1.0, 0.5]),
                     hooks)
    metrics = runner.test()
    expected = _reference(runner.model, [1.0, 0.5], calibrated=True)
    for (width, name), value in expected.items():
        assert metrics[f'knn/top1_{name}@w{width:g}'] == pytest.approx(
            value), (width, name)
    assert 'accuracy/top1@w0.5' in metrics
    # The classifier predicted as usual: the hook left its steps alone.
    assert 'test_step' not in vars(runner.model)
    with open(osp.join(runner.log_dir, 'multi_width_test.json')) as f:
        row = json.loads(f.readline())['results'][1]
    assert row['width'] == 0.5 and 'knn/top1_k20' in row


def _simclr(backbone: dict) -> dict:
    return dict(
        type='SimCLR',
        data_preprocessor=dict(
            type='SelfSupDataPreprocessor', mean=[128.] * 3, std=[64.] * 3),
        backbone=backbone,
        neck=dict(type='NonLinearNeck', in_channels=64, hid_channels=16,
                  out_channels=8, num_layers=2, with_avg_pool=True),
        head=dict(type='ContrastiveHead', loss=dict(type='CrossEntropyLoss'),
                  temperature=0.1))


@pytest.mark.parametrize('slim', [False, True])
def test_self_supervised_model(tmp_path, slim):
    """SimCLR under the standard loop (plain ResNet) and per width."""
    if slim:
        backbone, widths = BACKBONE, [1.0, 0.25]
        test_cfg = dict(type='MultiWidthTestLoop', widths=widths)
        hooks = [
            dict(type='BNCalibrationHook', widths=widths, num_batches=2,
                 dataloader=_loader(24, 0))
        ]
    else:
        backbone, widths = dict(type='mmpretrain.ResNet_CIFAR', depth=18,
                                base_channels=8, stem_channels=8), [None]
        test_cfg, hooks = dict(), []
    evaluator = dict(type='KNNAccuracy', memory_dataloader=_loader(24, 0),
                     knn_cfgs=KNN_CFGS)
    runner = _runner(str(tmp_path), _simclr(backbone), evaluator, test_cfg,
                     [dict(type='KNNMemoryHook')] + hooks)
    metrics = runner.test()
    expected = _reference(runner.model, widths, calibrated=slim)
    for (width, name), value in expected.items():
        key = f'knn/top1_{name}' + (f'@w{width:g}' if slim else '')
        assert metrics[key] == pytest.approx(value), key
    assert len(metrics) == len(expected)
    # SimCLR cannot predict: the hook's step replacement is gone again.
    model = runner.model
    assert 'test_step' not in vars(model) and 'val_step' not in vars(model)
    with pytest.raises(RuntimeError, match='Invalid mode'):
        model.test_step(next(iter(runner.test_dataloader)))


def test_missing_hook_is_a_clear_error(tmp_path):
    evaluator = dict(type='KNNAccuracy', memory_dataloader=_loader(24, 0))
    model = dict(
        type='ImageClassifier',
        data_preprocessor=dict(
            type='ClsDataPreprocessor', mean=[128.] * 3, std=[64.] * 3),
        backbone=dict(type='mmpretrain.ResNet_CIFAR', depth=18,
                      base_channels=8, stem_channels=8),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=64))
    runner = _runner(str(tmp_path), model, evaluator, dict(), [])
    with pytest.raises(ValueError, match='KNNMemoryHook'):
        runner.test()


# ----------------------------------------------------------------------
# End to end: tools/test.py on tiny generated CIFAR-10
# ----------------------------------------------------------------------
SSL_KNN_EXTRA = """
test_cfg = dict(type='MultiWidthTestLoop', widths=[1.0, 0.5])
custom_hooks = custom_hooks + [
    dict(type='BNCalibrationHook', widths=[1.0, 0.5], num_batches=2,
         dataloader=memory_dataloader),
]
default_hooks = dict(logger=dict(interval=1))
"""


def test_tools_test_reports_knn_per_width(tmp_path, tiny_cifar10):
    config, checkpoint, _ = tiny_slim_simclr_knn(tmp_path, tiny_cifar10,
                                                 SSL_KNN_EXTRA)
    out = tmp_path / 'metrics.json'
    run_tool([
        osp.join(REPO_ROOT, 'tools', 'test.py'),
        config, checkpoint, '--work-dir',
        str(tmp_path / 'work'), '--out',
        str(out), '--out-item', 'metrics'
    ],
             env=dict(os.environ, OMP_NUM_THREADS='1'))
    metrics = json.loads(out.read_text())
    assert set(metrics) == {
        f'knn/top1_{k}@w{w}' for k in ('k20', 'k1') for w in ('1', '0.5')
    }
    for value in metrics.values():
        assert 0. <= value <= 100.
