# Copyright (c) slim_plugins contributors. All rights reserved.
"""EMATeacher: width-1.0 EMA copy or the live max-width student."""
import math

import pytest
import torch

from slim_plugins.models.backbones import SlimResNet
from slim_plugins.models.necks import SlimMLPNeck
from slim_plugins.models.utils import EMATeacher
from slim_plugins.ops import get_width, using_width


def _student(track_running_stats: bool = False):
    torch.manual_seed(0)
    backbone = SlimResNet(
        depth=18,
        stem_channels=8,
        base_channels=8,
        track_running_stats=track_running_stats)
    neck = SlimMLPNeck(64, 32, 16, num_layers=2, norm='bn', slim_hidden=False)
    return backbone, neck


def _run(backbone, neck, x):
    return neck(backbone(x))[0]


def _inputs():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(4, 3, 16, 16, generator=gen)


def test_teacher_stays_at_full_width_while_student_slims():
    backbone, neck = _student()
    teacher = EMATeacher([backbone, neck], momentum=0.99)
    x = _inputs()
    with torch.no_grad():
        full = _run(backbone, neck, x)
    with using_width(backbone, 0.5), using_width(neck, 0.5):
        slim = _run(backbone, neck, x)
        out = teacher(x)[0]
        # the copy has its own width state, still at 1.0
        assert get_width(teacher.net[0]) == 1.0
        assert get_width(teacher.net[1]) == 1.0
        assert get_width(backbone) == 0.5
    assert teacher.net[0].width_state is not backbone.width_state
    torch.testing.assert_close(out, full)
    assert not torch.allclose(slim, full)
    # no gradient reaches the teacher, its parameters are frozen
    assert not out.requires_grad
    assert not any(p.requires_grad for p in teacher.parameters())
    # the teacher's parameters are not the student's
    assert teacher.net[0].conv1.weight is not backbone.conv1.weight


def test_ema_update_matches_hand_computation_parameters_only():
    backbone, neck = _student(track_running_stats=True)
    teacher = EMATeacher([backbone, neck], momentum=0.9)
    with torch.no_grad():
        for p in list(backbone.parameters()) + list(neck.parameters()):
            p.add_(torch.randn_like(p))
        backbone.bn1.running_mean.fill_(3.0)
    before = {k: v.clone() for k, v in teacher.net.state_dict().items()}
    used = teacher.update([backbone, neck])
    assert used == 0.9
    assert int(teacher.num_updates) == 1
    for i, student in enumerate([backbone, neck]):
        for name, param in student.named_parameters():
            # theta_k = 0.9 theta_k + 0.1 theta_q
            expected = 0.9 * before[f'{i}.{name}'] + 0.1 * param.detach()
            torch.testing.assert_close(
                dict(teacher.net[i].named_parameters())[name], expected)
    # buffers are not averaged
    torch.testing.assert_close(teacher.net[0].bn1.running_mean,
                               before['0.bn1.running_mean'])
    # an explicit momentum wins over the schedule; m = 0 copies
    teacher.update(momentum=0.0)
    torch.testing.assert_close(teacher.net[0].conv1.weight,
                               backbone.conv1.weight)


def test_cosine_momentum_schedule():
    backbone, neck = _student()
    teacher = EMATeacher([backbone, neck],
                         momentum=0.99,
                         momentum_schedule='cosine',
                         end_momentum=1.0)
    assert teacher.momentum_at(0.0) == pytest.approx(0.99)
    # m(t) = 1 - 0.01 (1 + cos(pi t)) / 2
    assert teacher.momentum_at(0.25) == pytest.approx(
        1 - 0.01 * (1 + math.cos(math.pi / 4)) / 2)
    assert teacher.momentum_at(0.5) == pytest.approx(0.995)
    assert teacher.momentum_at(1.0) == pytest.approx(1.0)
    assert teacher.update(progress=0.5) == pytest.approx(0.995)
    constant = EMATeacher([backbone, neck], momentum=0.99)
    assert constant.momentum_at(0.7) == 0.99


def test_forward_uses_batch_statistics_in_eval_mode():
    backbone, neck = _student(track_running_stats=True)
    teacher = EMATeacher([backbone, neck], momentum=0.99)
    x = _inputs()
    teacher.eval()
    out = teacher(x)[0]
    assert not teacher.net[0].training and not teacher.net[0].bn1.training
    backbone.train()
    neck.train()
    with torch.no_grad():
        expected = _run(backbone, neck, x)
    torch.testing.assert_close(out, expected)
    backbone.eval()
    neck.eval()
    with torch.no_grad():
        eval_out = _run(backbone, neck, x)
    assert not torch.allclose(out, eval_out)


def test_slimmed_copy_follows_updates():
    """A copy run below its width must not reuse stale weight slices."""
    backbone, neck = _student()
    teacher = EMATeacher([backbone, neck], momentum=0.99)
    x = _inputs()
    teacher(x, width=0.5)  # fills the no-grad slice caches
    with torch.no_grad():
        for p in backbone.parameters():
            p.mul_(1.5)
    teacher.update(momentum=0.0)
    with torch.no_grad(), using_width(backbone, 0.5), using_width(neck, 0.5):
        expected = _run(backbone, neck, x)
    torch.testing.assert_close(teacher(x, width=0.5)[0], expected)
    assert get_width(teacher.net[0]) == 1.0


def test_sync_copies_the_student():
    backbone, neck = _student()
    teacher = EMATeacher([backbone, neck], momentum=0.99)
    with torch.no_grad():
        for p in teacher.net.parameters():
            p.zero_()
    teacher.sync()
    for (_, t), (_, s) in zip(teacher.net[0].named_parameters(),
                              backbone.named_parameters()):
        torch.testing.assert_close(t, s)
    assert int(teacher.num_updates) == 0


def test_max_width_teacher_is_the_live_student():
    backbone, neck = _student()
    teacher = EMATeacher([backbone, neck], teacher='max_width')
    assert [k for k in teacher.state_dict()] == ['num_updates']
    assert teacher.update() is None
    x = _inputs()
    out = teacher(x, width=0.5)[0]
    with torch.no_grad(), using_width(backbone, 0.5), using_width(neck, 0.5):
        expected = _run(backbone, neck, x)
    torch.testing.assert_close(out, expected)
    assert get_width(backbone) == 1.0  # restored
    # a parameter change of the student shows at once
    with torch.no_grad():
        neck.fc1.bias.add_(1.0)
    torch.testing.assert_close(teacher(x, width=0.5)[0], expected + 1.0)
    with pytest.raises(ValueError, match='width of the max-width student'):
        teacher(x)


def test_bad_input():
    backbone, neck = _student()
    with pytest.raises(ValueError, match='teacher='):
        EMATeacher([backbone], teacher='student')
    with pytest.raises(ValueError, match='needs a momentum'):
        EMATeacher([backbone], momentum=None)
    with pytest.raises(ValueError, match=r'momentum=1.5 must be'):
        EMATeacher([backbone], momentum=1.5)
    with pytest.raises(ValueError, match='momentum_schedule'):
        EMATeacher([backbone], momentum_schedule='step')
    with pytest.raises(TypeError, match='student modules'):
        EMATeacher([])
    teacher = EMATeacher([backbone, neck])
    with pytest.raises(ValueError, match='holds 2 module'):
        teacher.update([backbone])
    with pytest.raises(ValueError, match='do not match its copy'):
        teacher.update([neck, backbone])
