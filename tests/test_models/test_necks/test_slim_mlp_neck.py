# Copyright (c) slim_plugins contributors. All rights reserved.
"""SlimMLPNeck: the reference heads of SlimCLR / US3L, slicing, BN, errors."""
from typing import Dict, List

import pytest
import torch
import torch.nn as nn

from slim_plugins.models.necks import FullSwitchableBatchNorm1d, SlimMLPNeck
from slim_plugins.ops import (SlimBatchNorm1d, SwitchableBatchNorm1d,
                              set_width, using_width)
from slim_plugins.registry import MODELS


def _mocov2_projector() -> SlimMLPNeck:
    return SlimMLPNeck(
        2048,
        2048,
        128,
        norm='none',
        width_mode='switchable',
        channel_rule='int')


def _mocov3_projector() -> SlimMLPNeck:
    return SlimMLPNeck(
        2048,
        4096,
        256,
        with_bias=False,
        norm='switchable',
        with_last_bn=True,
        with_last_bn_affine=False,
        width_mode='switchable',
        channel_rule='int')


def _mocov3_predictor() -> SlimMLPNeck:
    return SlimMLPNeck(
        256,
        4096,
        256,
        with_bias=False,
        norm='switchable',
        slim_in=False,
        width_mode='switchable',
        channel_rule='int')


def _us3l_projector() -> SlimMLPNeck:
    return SlimMLPNeck(512, 2048, 256, num_layers=3, norm='bn',
                       slim_hidden=False)


def _us3l_predictor() -> SlimMLPNeck:
    return SlimMLPNeck(
        256,
        2048,
        256,
        with_bias=False,
        with_last_bias=True,
        norm='bn',
        slim_in=False,
        slim_hidden=False)


def _shapes(module: nn.Module) -> Dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _bn_keys(prefix: str, size: int, affine: bool = True) -> Dict[str, tuple]:
    keys = {
        f'{prefix}.running_mean': (size, ),
        f'{prefix}.running_var': (size, ),
        f'{prefix}.num_batches_tracked': ()
    }
    if affine:
        keys.update({f'{prefix}.weight': (size, ), f'{prefix}.bias': (size, )})
    return keys


def test_mocov2_projector_layout():
    neck = _mocov2_projector()
    assert _shapes(neck) == {
        'fc0.weight': (2048, 2048),
        'fc0.bias': (2048, ),
        'fc1.weight': (128, 2048),
        'fc1.bias': (128, )
    }
    # int(C * w) of SlimCLR: 2048 -> 1024 -> 128 at w = 0.5
    assert neck.active_dims(0.5) == (1024, 1024, 128)
    assert neck.active_dims(0.75) == (1536, 1536, 128)


def test_mocov3_projector_layout():
    neck = _mocov3_projector()
    expected = {'fc0.weight': (4096, 2048), 'fc1.weight': (256, 4096)}
    expected.update(_bn_keys('bn0', 4096))
    expected.update(_bn_keys('bn1', 256, affine=False))
    for key, width in (('0_75', 0.75), ('0_5', 0.5), ('0_25', 0.25)):
        # Hidden BN: private and sliced; last BN: private, full 256.
        expected.update(_bn_keys(f'bn0.switch_bns.{key}', int(4096 * width)))
        expected.update(_bn_keys(f'bn1.switch_bns.{key}', 256, affine=False))
    assert _shapes(neck) == expected
    assert isinstance(neck.bn0, SwitchableBatchNorm1d)
    assert isinstance(neck.bn1, FullSwitchableBatchNorm1d)
    assert neck.active_dims(0.25) == (512, 1024, 256)


def test_mocov3_predictor_layout():
    neck = _mocov3_predictor()
    expected = {'fc0.weight': (4096, 256), 'fc1.weight': (256, 4096)}
    expected.update(_bn_keys('bn0', 4096))
    for key, width in (('0_75', 0.75), ('0_5', 0.5), ('0_25', 0.25)):
        expected.update(_bn_keys(f'bn0.switch_bns.{key}', int(4096 * width)))
    assert _shapes(neck) == expected
    assert neck.active_dims(0.5) == (256, 2048, 256)


def test_us3l_heads_layout():
    projector = _us3l_projector()
    expected = {
        'fc0.weight': (2048, 512),
        'fc0.bias': (2048, ),
        'fc1.weight': (2048, 2048),
        'fc1.bias': (2048, ),
        'fc2.weight': (256, 2048),
        'fc2.bias': (256, )
    }
    expected.update(_bn_keys('bn0', 2048))
    expected.update(_bn_keys('bn1', 2048))
    assert _shapes(projector) == expected
    # Hidden BNs never shrink: plain BN1d.
    assert type(projector.bn0) is nn.BatchNorm1d
    # US rule c(512 * w): 0.3 -> 152 (spec table), hidden stays 2048.
    assert projector.active_dims(0.3) == (152, 2048, 256)

    predictor = _us3l_predictor()
    expected = {
        'fc0.weight': (2048, 256),
        'fc1.weight': (256, 2048),
        'fc1.bias': (256, )
    }
    expected.update(_bn_keys('bn0', 2048))
    assert _shapes(predictor) == expected
    assert predictor.active_dims(0.3) == (256, 2048, 256)


def _slim_reference(neck: SlimMLPNeck, dims: List[int], width: float,
                    bn_keys: List[str]) -> nn.Sequential:
    """Plain layers with the neck's leading slices copied in.

    ``dims`` are the active dims (hand-computed); ``bn_keys[i]`` is the
    state-dict prefix of the BN after Linear ``i`` ('' for none).
    """
    state = neck.state_dict()
    layers: List[nn.Module] = []
    last = len(dims) - 2
    for i in range(len(dims) - 1):
        c_in, c_out = dims[i], dims[i + 1]
        bias = f'fc{i}.bias' in state
        fc = nn.Linear(c_in, c_out, bias=bias)
        fc.weight.data.copy_(state[f'fc{i}.weight'][:c_out, :c_in])
        if bias:
            fc.bias.data.copy_(state[f'fc{i}.bias'][:c_out])
        layers.append(fc)
        if bn_keys[i]:
            affine = f'{bn_keys[i]}.weight' in state
            bn = nn.BatchNorm1d(c_out, affine=affine)
            for name in ('weight', 'bias', 'running_mean', 'running_var'):
                key = f'{bn_keys[i]}.{name}'
                if key in state:
                    getattr(bn, name).data.copy_(state[key][:c_out])
            layers.append(bn)
        if i < last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


CASES = [
    # (builder, width, active dims, BN prefix per Linear at that width)
    (_mocov2_projector, 0.5, [1024, 1024, 128], ['', '']),
    (_mocov2_projector, 1.0, [2048, 2048, 128], ['', '']),
    (_mocov3_projector, 0.75, [1536, 3072, 256],
     ['bn0.switch_bns.0_75', 'bn1.switch_bns.0_75']),
    (_mocov3_projector, 1.0, [2048, 4096, 256], ['bn0', 'bn1']),
    (_mocov3_predictor, 0.25, [256, 1024, 256], ['bn0.switch_bns.0_25', '']),
    (_us3l_projector, 0.3, [152, 2048, 2048, 256], ['bn0', 'bn1', '']),
    (_us3l_predictor, 0.5, [256, 2048, 256], ['bn0', '']),
]


@pytest.mark.parametrize('builder,width,dims,bn_keys', CASES)
@pytest.mark.parametrize('train', [True, False])
def test_equals_plain_mlp_with_sliced_weights(builder, width, dims, bn_keys,
                                              train):
    torch.manual_seed(0)
    neck = builder()
    # Non-trivial BN state for the eval-mode comparison.
    with torch.no_grad():
        for name, buf in neck.named_buffers():
            if name.endswith('running_mean'):
                buf.normal_()
            elif name.endswith('running_var'):
                buf.uniform_(0.5, 2.0)
        for name, param in neck.named_parameters():
            if 'bn' in name:
                param.normal_()
    reference = _slim_reference(neck, dims, width, bn_keys)
    neck.train(train)
    reference.train(train)
    x = torch.randn(6, dims[0])
    with using_width(neck, width):
        (out, ) = neck((x, ))
        # Active parameters = parameters of the plain equivalent.
        active = sum(p.numel() for p in reference.parameters())
    expected_params = sum(dims[i] * dims[i + 1] for i in range(len(dims) - 1))
    expected_params += sum(dims[i + 1] for i in range(len(dims) - 1)
                           if f'fc{i}.bias' in neck.state_dict())
    expected_params += sum(2 * dims[i + 1] for i, key in enumerate(bn_keys)
                           if key and f'{key}.weight' in neck.state_dict())
    assert active == expected_params
    torch.testing.assert_close(out, reference(x), atol=1e-5, rtol=1e-4)
    assert out.shape == (6, dims[-1])
    if train:
        # The running statistics the neck updated are the reference's.
        state = neck.state_dict()
        bns = [m for m in reference if isinstance(m, nn.BatchNorm1d)]
        for key, bn in zip([k for k in bn_keys if k], bns):
            c = bn.num_features
            torch.testing.assert_close(
                state[f'{key}.running_mean'][:c], bn.running_mean)


def test_pools_4d_input_and_uses_last_tensor():
    neck = SlimMLPNeck(16, 32, 8, norm='bn')
    neck.eval()
    maps = torch.randn(3, 8, 5, 5)
    with using_width(neck, 0.5):
        (pooled, ) = neck((torch.zeros(3, 4), maps))
        (flat, ) = neck((maps.mean(dim=(2, 3)), ))
    torch.testing.assert_close(pooled, flat)
    assert pooled.shape == (3, 8)


def test_gradients_reach_only_active_slices():
    neck = SlimMLPNeck(16, 32, 8, norm='bn')
    with using_width(neck, 0.5):
        (out, ) = neck((torch.randn(4, 8), ))
    out.sum().backward()
    grad = neck.fc0.weight.grad
    assert grad[:16, :8].abs().sum() > 0
    assert grad[16:].abs().sum() == 0 and grad[:, 8:].abs().sum() == 0
    assert neck.bn0.weight.grad[16:].abs().sum() == 0
    # The output layer keeps every output, inputs sliced.
    assert neck.fc1.weight.grad[:, 16:].abs().sum() == 0
    assert neck.fc1.weight.grad[:, :16].abs().sum(1).gt(0).all()


def test_switchable_bn_keeps_separate_stats_per_width():
    torch.manual_seed(0)
    neck = SlimMLPNeck(
        16,
        32,
        8,
        norm='switchable',
        with_last_bn=True,
        width_mode='switchable',
        widths=(1.0, 0.5),
        channel_rule='int').train()

    def stats() -> Dict[str, torch.Tensor]:
        return {
            k: v.clone()
            for k, v in neck.state_dict().items() if 'running_mean' in k
        }

    before = stats()
    with using_width(neck, 1.0):
        neck((torch.randn(8, 16) + 3., ))
    after_full = stats()
    for key in ('bn0.running_mean', 'bn1.running_mean'):
        assert not torch.equal(after_full[key], before[key])
    for key in ('bn0.switch_bns.0_5.running_mean',
                'bn1.switch_bns.0_5.running_mean'):
        assert torch.equal(after_full[key], before[key])
    with using_width(neck, 0.5):
        neck((torch.randn(8, 8) - 3., ))
    after_half = stats()
    for key in ('bn0.running_mean', 'bn1.running_mean'):
        assert torch.equal(after_half[key], after_full[key])
    for key in ('bn0.switch_bns.0_5.running_mean',
                'bn1.switch_bns.0_5.running_mean'):
        assert not torch.equal(after_half[key], after_full[key])
    assert after_half['bn0.switch_bns.0_5.running_mean'].shape == (16, )
    assert after_half['bn1.switch_bns.0_5.running_mean'].shape == (8, )


def test_shared_bn_statistics_land_in_one_buffer():
    neck = SlimMLPNeck(16, 32, 8, norm='bn').train()
    assert isinstance(neck.bn0, SlimBatchNorm1d)
    before = neck.bn0.running_mean.clone()
    with using_width(neck, 0.5):
        neck((torch.randn(8, 8) + 3., ))
    changed = neck.bn0.running_mean != before
    assert changed[:16].all() and not changed[16:].any()


def test_one_width_state_for_the_whole_neck():
    neck = _us3l_predictor()
    # Even a neck with nothing to slice accepts widths (a no-op).
    set_width(neck, 0.5)
    assert neck.width == 0.5
    assert all(m.width_state is neck.width_state
               for m in (neck.fc0, neck.fc1))
    x = torch.randn(4, 256)
    neck.eval()
    (half, ) = neck((x, ))
    set_width(neck, 1.0)
    (full, ) = neck((x, ))
    torch.testing.assert_close(half, full)


def test_width_errors():
    universal = SlimMLPNeck(16, 32, 8)
    with pytest.raises(ValueError, match='outside width_range'):
        with using_width(universal, 0.2):
            pass
    switchable = SlimMLPNeck(
        16, 32, 8, norm='switchable', width_mode='switchable')
    with pytest.raises(ValueError, match='not one of the switchable widths'):
        with using_width(switchable, 0.3):
            pass
    with pytest.raises(ValueError, match='expects 8 input features'):
        with using_width(universal, 0.5):
            universal((torch.randn(2, 16), ))


@pytest.mark.parametrize('kwargs,match', [
    (dict(norm='ln'), 'norm'),
    (dict(norm='switchable'), "width_mode='switchable'"),
    (dict(width_mode='dynamic'), 'width_mode'),
    (dict(num_layers=0), 'num_layers'),
    (dict(channel_rule='round'), 'channel_rule'),
    (dict(width_range=(0.5, 0.25)), 'width_range'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SlimMLPNeck(16, 32, 8, **kwargs)


def test_built_from_registry():
    neck = MODELS.build(
        dict(
            type='SlimMLPNeck',
            in_channels=16,
            hid_channels=32,
            out_channels=8,
            num_layers=1))
    assert [n for n, _ in neck.named_children()] == ['fc0']
    with using_width(neck, 0.25):
        (out, ) = neck((torch.randn(2, 8), ))
    assert out.shape == (2, 8)
