# Copyright (c) slim_plugins contributors. All rights reserved.
"""SwitchableLinearClsHead: per-width classifiers and in-place distillation."""
import math
from typing import List

import pytest
import torch
from mmpretrain.models.heads import LinearClsHead
from mmpretrain.structures import DataSample

from slim_plugins.models.heads import SwitchableLinearClsHead
from slim_plugins.ops import using_width
from slim_plugins.registry import MODELS
from slim_plugins.utils.export import subnet_state_dict

LABELS = [0, 2, 1, 2]


def _samples(labels: List[int] = LABELS) -> List[DataSample]:
    return [DataSample().set_gt_label(label) for label in labels]


def _head(**kwargs) -> SwitchableLinearClsHead:
    torch.manual_seed(0)
    kwargs.setdefault('feature_norm', False)
    head = SwitchableLinearClsHead(
        num_classes=3,
        in_channels=16,
        widths=(1.0, 0.5),
        channel_rule='int',
        **kwargs)
    head.init_weights()
    return head


def _naive_logits(head, x: torch.Tensor, key: str) -> List[List[float]]:
    """Logits with explicit sums over the classifier's weights."""
    weight = head.state_dict()[f'fcs.{key}.weight'].tolist()
    bias = head.state_dict()[f'fcs.{key}.bias'].tolist()
    rows = x.tolist()
    return [[
        sum(w * v for w, v in zip(weight[k], row)) + bias[k]
        for k in range(len(bias))
    ] for row in rows]


def _softmax(logits: List[float]) -> List[float]:
    top = max(logits)
    exps = [math.exp(v - top) for v in logits]
    return [e / sum(exps) for e in exps]


def _ce(logits: List[List[float]], labels: List[int]) -> float:
    return sum(-math.log(_softmax(row)[y])
               for row, y in zip(logits, labels)) / len(labels)


def _soft_ce(logits: List[List[float]],
             targets: List[List[float]]) -> float:
    total = 0.
    for row, target in zip(logits, targets):
        probs = _softmax(row)
        total -= sum(t * math.log(p) for t, p in zip(target, probs))
    return total / len(logits)


@pytest.mark.parametrize('distill_weight', [0.5, 0.3])
def test_loss_matches_hand_computation(distill_weight):
    head = _head(distill_weight=distill_weight)
    x = torch.randn(4, 16)
    samples = _samples()
    with using_width(head, 1.0):
        full = head.loss((x, ), samples)
    with using_width(head, 0.5):
        half = head.loss((x[:, :8], ), samples)

    full_logits = _naive_logits(head, x, '1')
    half_logits = _naive_logits(head, x[:, :8], '0_5')
    assert set(full) == {'loss'}
    assert full['loss'].item() == pytest.approx(
        _ce(full_logits, LABELS), rel=1e-5)
    # L_w = (1 - d) CE(s_w, y) + d CE(s_w, softmax(s_1))
    d = distill_weight
    assert set(half) == {'loss_cls', 'loss_distill'}
    assert half['loss_cls'].item() == pytest.approx(
        (1 - d) * _ce(half_logits, LABELS), rel=1e-5)
    teacher = [_softmax(row) for row in full_logits]
    assert half['loss_distill'].item() == pytest.approx(
        d * _soft_ce(half_logits, teacher), rel=1e-5)


def test_zero_distill_weight_is_plain_cross_entropy():
    head = _head(distill_weight=0.0)
    x = torch.randn(4, 16)
    labels = torch.tensor(LABELS)
    # No full-width forward is needed for independent probes.
    for width, feats in ((0.5, x[:, :8]), (1.0, x)):
        with using_width(head, width):
            losses = head.loss((feats, ), _samples())
            expected = torch.nn.functional.cross_entropy(head((feats, )),
                                                         labels)
        assert set(losses) == {'loss'}
        torch.testing.assert_close(losses['loss'], expected)


def test_each_width_trains_only_its_own_classifier():
    head = _head(distill_weight=0.5, feature_norm=True)
    x = torch.randn(4, 16)
    samples = _samples()
    with using_width(head, 1.0):
        head.loss((x, ), samples)['loss'].backward()
    assert head.fcs['1'].weight.grad.abs().sum() > 0
    assert head.fcs['0_5'].weight.grad is None
    head.zero_grad(set_to_none=True)
    with using_width(head, 0.5):
        losses = head.loss((x[:, :8], ), samples)
    sum(losses.values()).backward()
    # The distillation target is detached: nothing reaches the full width.
    assert head.fcs['1'].weight.grad is None
    assert head.fcs['0_5'].weight.grad.abs().sum() > 0
    assert head.fcs['0_5'].bias.grad.abs().sum() > 0


def test_feature_norm_is_parameter_free_and_per_width():
    head = _head(feature_norm=True).train()
    assert all(not name.startswith('norm') for name, _ in
               head.named_parameters())
    x = torch.randn(8, 16) * 10 + 5
    with using_width(head, 1.0):
        feats = head.pre_logits((x, ))
    # (x - mean) / sqrt(biased var + eps), per feature
    expected = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-6)
    torch.testing.assert_close(feats, expected, atol=1e-4, rtol=1e-4)
    state = head.state_dict()
    assert state['norm.running_mean'].shape == (16, )
    assert state['norm.switch_bns.0_5.running_mean'].shape == (8, )
    # Only the full width's statistics moved.
    assert state['norm.running_mean'].abs().sum() > 0
    assert state['norm.switch_bns.0_5.running_mean'].abs().sum() == 0


def test_missing_full_width_target_is_an_error():
    head = _head(distill_weight=0.5)
    x = torch.randn(4, 16)
    with using_width(head, 0.5), pytest.raises(ValueError,
                                               match='largest-width'):
        head.loss((x[:, :8], ), _samples())
    with using_width(head, 1.0):
        head.loss((x, ), _samples())
    # A target of another batch (other data samples) is not reused.
    with using_width(head, 0.5), pytest.raises(ValueError,
                                               match='distill_weight=0'):
        head.loss((x[:, :8], ), _samples())


def test_width_and_feature_errors():
    head = _head()
    with pytest.raises(ValueError, match='not one of the switchable widths'):
        with using_width(head, 0.75):
            pass
    with using_width(head, 0.5), pytest.raises(ValueError,
                                               match=r'\(N, 8\) features'):
        head((torch.randn(4, 16), ))
    with pytest.raises(ValueError, match='distill_weight'):
        _head(distill_weight=1.5)
    with pytest.raises(ValueError, match='distinct'):
        SwitchableLinearClsHead(3, 16, widths=(1.0, 1.0))
    with pytest.raises(ValueError, match='channel_rule'):
        SwitchableLinearClsHead(3, 16, channel_rule='round')


def test_predict_and_registry():
    head = MODELS.build(
        dict(
            type='SwitchableLinearClsHead',
            num_classes=3,
            in_channels=64,
            topk=(1, )))
    head.eval()
    # US rule: c(64 * 0.25) = 16
    assert [head.active_features(w) for w in head.widths] == [64, 48, 32, 16]
    with using_width(head, 0.25):
        preds = head.predict((torch.randn(2, 16), ))
    assert len(preds) == 2 and preds[0].pred_score.shape == (3, )


def test_export_gives_a_plain_linear_head():
    head = _head().eval()
    state = subnet_state_dict(head, 0.5)
    assert set(state) == {'fc.weight', 'fc.bias'}
    plain = LinearClsHead(num_classes=3, in_channels=8)
    plain.load_state_dict(state, strict=True)
    x = torch.randn(4, 8)
    with using_width(head, 0.5):
        torch.testing.assert_close(head((x, )), plain((x, )))
