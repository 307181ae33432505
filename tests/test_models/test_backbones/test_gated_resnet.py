# Copyright (c) slim_plugins contributors. All rights reserved.
"""GatedResNet: MACs against hand-derived layer shapes, the two paths,
separate BNs, and the dense path as mmpretrain's ResNet."""
import pytest
import torch
from conftest import force_gates
from mmpretrain.models.backbones import ResNet, ResNet_CIFAR

from slim_plugins.models.backbones import GatedResNet
from slim_plugins.ops import get_gate_path, set_gate_path, using_gate_path

# sum_l C_in floor(C_in / 4) + floor(C_in / 4) C_mid over ResNet-18's 8 gates
GATES_R18 = (2 * (64 * 16 + 16 * 64) + (64 * 16 + 16 * 128) +
             (128 * 32 + 32 * 128) + (128 * 32 + 32 * 256) +
             (256 * 64 + 64 * 256) + (256 * 64 + 64 * 512) +
             (512 * 128 + 128 * 512))


def _dense_macs(model, size):
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, size, size))
    return model.dense_macs()


@pytest.mark.parametrize('kwargs,size,macs', [
    (dict(stem='cifar', stem_padding=2), 32, 703560448),  # paper CIFAR
    (dict(stem='cifar'), 32, 555417600),  # padding 1
    (dict(stem='imagenet'), 96, 333103104),  # STL-10
    (dict(stem='imagenet'), 224, 1813561344),  # ImageNet-100
])
def test_dense_macs_match_the_paper_bases(kwargs, size, macs):
    model = GatedResNet(18, **kwargs)
    assert _dense_macs(model, size) == macs
    assert model.gate_macs() == GATES_R18 == 240640


def test_gated_macs_at_all_on_and_all_off():
    model = GatedResNet(18, stem='cifar').eval()
    x = torch.randn(2, 3, 32, 32)
    force_gates(model.blocks(), on=True)
    with torch.no_grad(), using_gate_path(model, 'gated'):
        model(x)
    stats = model.gate_stats()
    torch.testing.assert_close(stats.macs,
                               torch.full((2, ), 555417600. + 240640))
    assert stats.dense_macs == 555417600
    torch.testing.assert_close(stats.densities, torch.ones(8))
    # All channels off: only the stem (9 * 32 * 32 * 3 * 64), the three 1x1
    # downsamples (H W C_in C_out at 16, 8 and 4) and the gates remain.
    force_gates(model.blocks(), on=False)
    with torch.no_grad(), using_gate_path(model, 'gated'):
        model(x)
    stats = model.gate_stats()
    off = (9 * 32 * 32 * 3 * 64 + 16 * 16 * 64 * 128 + 8 * 8 * 128 * 256 +
           4 * 4 * 256 * 512 + 240640)
    assert off == 8301568
    torch.testing.assert_close(stats.macs, torch.full((2, ), float(off)))
    torch.testing.assert_close(stats.ratio, torch.tensor(off / 555417600.))


def test_macs_ratio_is_differentiable_through_the_masks():
    torch.manual_seed(0)
    model = GatedResNet(18, stem='imagenet', in_channels=1).train()
    with using_gate_path(model, 'gated'):
        model(torch.randn(4, 1, 28, 28))
    stats = model.gate_stats()
    assert 0 < float(stats.ratio.detach()) < 1
    stats.ratio.backward()
    for block in model.blocks():
        assert block.gate.fc2.weight.grad.abs().sum() > 0


def test_paths_are_state_and_checked():
    model = GatedResNet(18)
    assert get_gate_path(model) == 'dense'
    with using_gate_path(model, 'gated'):
        assert get_gate_path(model) == 'gated'
        assert all(b.gate_path == 'gated' for b in model.blocks())
    assert get_gate_path(model) == 'dense'
    with pytest.raises(ValueError, match="'sparse' is not allowed.*dense"):
        set_gate_path(model, 'sparse')
    assert get_gate_path(model) == 'dense'
    model.eval()(torch.randn(1, 3, 32, 32))
    with pytest.raises(RuntimeError, match='did not run the gated path'):
        model.gate_stats()


def test_separate_bn_copies_are_separate():
    torch.manual_seed(0)
    model = GatedResNet(18).train()
    block = model.layer1[0]
    dense_bn = block.bn1.running_mean.clone()
    gated_bn = block.bn1_gated.running_mean.clone()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad(), using_gate_path(model, 'gated'):
        model(x)
    assert torch.equal(block.bn1.running_mean, dense_bn)
    assert not torch.equal(block.bn1_gated.running_mean, gated_bn)
    gated_bn = block.bn1_gated.running_mean.clone()
    with torch.no_grad():
        model(x)
    assert not torch.equal(block.bn1.running_mean, dense_bn)
    assert torch.equal(block.bn1_gated.running_mean, gated_bn)
    # the stem and downsample BNs are shared
    assert not hasattr(model, 'bn1_gated')
    assert not hasattr(model.layer2[0].downsample, 'bn_gated')
    shared = GatedResNet(18, separate_bn=False)
    assert not hasattr(shared.layer1[0], 'bn1_gated')


@pytest.mark.parametrize('stem,plain,size', [
    ('cifar', ResNet_CIFAR, 32),
    ('imagenet', ResNet, 64),
])
def test_dense_path_is_mmpretrain_resnet(stem, plain, size):
    torch.manual_seed(0)
    reference = plain(18, zero_init_residual=False)
    reference.eval()  # mmpretrain's ResNet.train returns None
    model = GatedResNet(18, stem=stem)
    model.load_dense_state_dict(reference.state_dict())
    model.eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], reference(x)[0])
    # the gated BN copies start as the dense ones
    block = model.layer3[1]
    torch.testing.assert_close(block.bn2_gated.weight, block.bn2.weight)
    # and the dense path exports back, strictly
    exported = plain(18)
    exported.load_state_dict(model.dense_state_dict(), strict=True)
    exported.eval()
    with torch.no_grad():
        torch.testing.assert_close(exported(x)[0], reference(x)[0])


def test_checkpoint_that_does_not_fit_is_refused():
    model = GatedResNet(18)
    with pytest.raises(ValueError, match=r'missing: \[.layer1\.2\.'):
        GatedResNet(34).load_dense_state_dict(ResNet_CIFAR(18).state_dict())
    wide = ResNet_CIFAR(18, base_channels=32, stem_channels=32)
    with pytest.raises(ValueError, match='shape mismatch: .*conv1.weight'):
        model.load_dense_state_dict(wide.state_dict())
    with pytest.raises(ValueError, match='stem_padding=2 has no mmpretrain'):
        GatedResNet(18, stem_padding=2).dense_state_dict()


def test_zero_init_residual_with_separate_bn():
    # The original crashes here; both last-BN copies start at zero.
    model = GatedResNet(18, zero_init_residual=True)
    model.init_weights()
    for block in model.blocks():
        assert block.bn2.weight.abs().sum() == 0
        assert block.bn2_gated.weight.abs().sum() == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match='depth=50'):
        GatedResNet(50)
    with pytest.raises(ValueError, match="stem='tiny'"):
        GatedResNet(18, stem='tiny')
    with pytest.raises(ValueError, match='gate_tau=0'):
        GatedResNet(18, gate_tau=0)


def test_pretrained_init_from_a_dense_or_a_gated_checkpoint(tmp_path):
    # A plain ResNet_CIFAR checkpoint initialises the dense path and the
    # gated BN copies; a GatedResNet checkpoint loads as it is; a checkpoint
    # that does not fit stops with the offending keys.
    torch.manual_seed(0)
    plain = ResNet_CIFAR(18)
    dense_file = str(tmp_path / 'dense.pth')
    torch.save(
        dict(state_dict={f'backbone.{k}': v
                         for k, v in plain.state_dict().items()}),
        dense_file)

    def pretrained(path, depth=18):
        model = GatedResNet(
            depth,
            init_cfg=dict(
                type='Pretrained', checkpoint=path, prefix='backbone.'))
        model.init_weights()
        return model

    model = pretrained(dense_file)
    block = model.layer2[1]
    torch.testing.assert_close(block.conv1.weight,
                               plain.layer2[1].conv1.weight)
    torch.testing.assert_close(block.bn1_gated.weight,
                               plain.layer2[1].bn1.weight)
    gated_file = str(tmp_path / 'gated.pth')
    torch.save(
        dict(state_dict={f'backbone.{k}': v
                         for k, v in model.state_dict().items()}),
        gated_file)
    again = pretrained(gated_file)
    torch.testing.assert_close(again.layer4[1].gate.fc2.weight,
                               model.layer4[1].gate.fc2.weight)
    with pytest.raises(ValueError, match=r'missing: \[.layer1\.2\.'):
        pretrained(dense_file, depth=34)
