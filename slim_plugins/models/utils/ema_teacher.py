# Copyright (c) slim_plugins contributors. All rights reserved.
"""The teacher of slimmable SSL: an EMA copy, or the max-width student."""
import contextlib
import copy
import math
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from slim_plugins.ops import set_width, slim_ops, using_width

TEACHER_SOURCES = ('ema', 'max_width')
MOMENTUM_SCHEDULES = ('constant', 'cosine')

Modules = Union[nn.Module, Sequence[nn.Module]]


def _as_list(modules: Modules) -> List[nn.Module]:
    if isinstance(modules, nn.Module):
        return [modules]
    modules = list(modules)
    if not modules or not all(isinstance(m, nn.Module) for m in modules):
        raise TypeError(f'EMATeacher needs student modules (an nn.Module or '
                        f'a non-empty sequence of them), got {modules!r}.')
    return modules


@contextlib.contextmanager
def _train_mode(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Put ``modules`` in train mode (batch-statistics BN), then restore."""
    saved = [(m, m.training) for module in modules for m in module.modules()]
    for module in modules:
        module.train(True)
    try:
        yield
    finally:
        for m, training in saved:
            m.training = training


@contextlib.contextmanager
def _at_width(modules: Sequence[nn.Module], width: float) -> Iterator[None]:
    """Run the slimmable ones of ``modules`` at ``width``, then restore."""
    with contextlib.ExitStack() as stack:
        for module in modules:
            if slim_ops(module):
                stack.enter_context(using_width(module, width))
        yield


class EMATeacher(nn.Module):
    """Teacher network of slimmable self-supervised learning.

    With ``teacher='ema'`` it holds a deep copy of the student modules
    (e.g. backbone + projector) updated as an exponential moving average of
    their *parameters* (the momentum encoder of `US3L
    <https://arxiv.org/abs/2303.06870>`_, SlimCLR's key encoder). Buffers
    are not averaged (the copy keeps its own BN statistics, as in the US3L
    reference). The copy has its own width state and runs at ``width``
    (1.0: the full network) whatever width the student is at; its
    parameters never require gradients.

    With ``teacher='max_width'`` it holds no copy: its outputs are those of
    the *current* student run at the width passed to :meth:`forward`,
    normally the largest width of the step (in-place distillation of
    US-Nets). :meth:`update` then does nothing.

    In both cases :meth:`forward` runs under ``no_grad`` with every module
    in train mode (batch statistics in BN), as the US3L reference runs its
    momentum encoder.

    Args:
        students (nn.Module | Sequence[nn.Module]): The student modules,
            applied in order by :meth:`forward` (e.g. ``[backbone, neck]``:
            the output of one is the input of the next).
        teacher (str): ``'ema'`` or ``'max_width'``. Defaults to ``'ema'``.
        momentum (float, optional): EMA momentum ``m`` (its start value with
            the cosine schedule), in ``[0, 1]``. Required for ``'ema'``,
            unused for ``'max_width'``. Defaults to 0.99 (US3L).
        momentum_schedule (str): ``'constant'`` (US3L CNN) or ``'cosine'``
            (``m`` grows from ``momentum`` to ``end_momentum`` over training,
            as MoCo-v3/BYOL/SlimCLR). Defaults to ``'constant'``.
        end_momentum (float): Final momentum of the cosine schedule.
            Defaults to 1.0.
        width (float): Width the EMA copy runs at. Defaults to 1.0.

    Example:
        >>> backbone = SlimResNet(depth=18, base_channels=8, stem_channels=8)
        >>> teacher = EMATeacher([backbone], momentum=0.99)
        >>> teacher.update([backbone])          # theta_k <- m theta_k + ...
        0.99
        >>> with using_width(backbone, 0.5):
        ...     feats = teacher(torch.rand(2, 3, 32, 32))  # still width 1.0
    """

    def __init__(self,
                 students: Modules,
                 teacher: str = 'ema',
                 momentum: Optional[float] = 0.99,
                 momentum_schedule: str = 'constant',
                 end_momentum: float = 1.0,
                 width: float = 1.0) -> None:
        super().__init__()
        students = _as_list(students)
        if teacher not in TEACHER_SOURCES:
            raise ValueError(f'EMATeacher: teacher={teacher!r} is not '
                             f'supported; choose one of {TEACHER_SOURCES}.')
        if momentum_schedule not in MOMENTUM_SCHEDULES:
            raise ValueError(f'EMATeacher: momentum_schedule='
                             f'{momentum_schedule!r} is not supported; choose'
                             f' one of {MOMENTUM_SCHEDULES}.')
        if teacher == 'ema':
            if momentum is None:
                raise ValueError(
                    'EMATeacher: teacher="ema" needs a momentum (e.g. 0.99); '
                    'use teacher="max_width" for a teacher without an EMA '
                    'copy.')
            self._check_momentum(momentum, 'momentum')
            self._check_momentum(end_momentum, 'end_momentum')
        if not 0.0 < width <= 1.0:
            raise ValueError(f'EMATeacher: width={width} must be in (0, 1].')
        self.teacher = teacher
        self.momentum = momentum
        self.momentum_schedule = momentum_schedule
        self.end_momentum = end_momentum
        self.width = float(width)
        # The live students, not registered as submodules: their parameters
        # belong to the model that owns them.
        self._students: Tuple[nn.Module, ...] = tuple(students)
        if teacher == 'ema':
            # One deepcopy call, so modules sharing a width state keep
            # sharing (their own copy of) it.
            self.net = nn.ModuleList(copy.deepcopy(students))
            for param in self.net.parameters():
                param.requires_grad_(False)
            for module in self.net:
                if slim_ops(module):
                    set_width(module, self.width)
        else:
            self.net = None
        self.register_buffer('num_updates', torch.zeros((), dtype=torch.long))

    @staticmethod
    def _check_momentum(value: float, name: str) -> None:
        if isinstance(value, bool) or not isinstance(
                value, (int, float)) or not 0.0 <= value <= 1.0:
            raise ValueError(f'EMATeacher: {name}={value!r} must be a number '
                             f'in [0, 1].')

    @property
    def networks(self) -> List[nn.Module]:
        """The modules :meth:`forward` runs: the EMA copies or the students.
        """
        if self.net is not None:
            return list(self.net)
        return list(self._students)

    def momentum_at(self, progress: float = 0.0) -> float:
        """Momentum at a training ``progress`` in ``[0, 1]``.

        Args:
            progress (float): Fraction of training done (iterations).
                Ignored by the constant schedule. Defaults to 0.

        Returns:
            float: ``m``; cosine: ``m_end - (m_end - m_0) (1 + cos(pi t))/2``.
        """
        if self.momentum is None:
            raise ValueError('EMATeacher: this teacher has no momentum.')
        if self.momentum_schedule == 'constant':
            return float(self.momentum)
        progress = min(max(float(progress), 0.0), 1.0)
        # m(t) = m_end - (m_end - m_0) * (1 + cos(pi t)) / 2
        return self.end_momentum - (self.end_momentum - self.momentum) * (
            1.0 + math.cos(math.pi * progress)) / 2.0

    def _pairs(self, students: Sequence[nn.Module]
               ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        if len(students) != len(self.net):
            raise ValueError(f'EMATeacher holds {len(self.net)} module(s) '
                             f'but update got {len(students)} student(s).')
        pairs = []
        for copy_, student in zip(self.net, students):
            teacher_params = list(copy_.named_parameters())
            student_params = list(student.named_parameters())
            if [n for n, _ in teacher_params] != [
                    n for n, _ in student_params]:
                raise ValueError(
                    f'EMATeacher: the parameters of the student '
                    f'{type(student).__name__} do not match its copy; pass '
                    f'the same modules (in the same order) the teacher was '
                    f'built from.')
            for (name, t), (_, s) in zip(teacher_params, student_params):
                if t.shape != s.shape:
                    raise ValueError(f'EMATeacher: parameter {name!r} has '
                                     f'shape {tuple(s.shape)} in the student'
                                     f' and {tuple(t.shape)} in the copy.')
                pairs.append((t, s))
        return pairs

    @torch.no_grad()
    def update(self,
               students: Optional[Modules] = None,
               momentum: Optional[float] = None,
               progress: float = 0.0) -> Optional[float]:
        """One EMA step ``theta_k <- m theta_k + (1 - m) theta_q``.

        Over parameters only; buffers are left as they are. A no-op for
        ``teacher='max_width'``.

        Args:
            students (nn.Module | Sequence[nn.Module], optional): The student
                modules, in the order given at construction. Defaults to
                those given at construction.
            momentum (float, optional): ``m``; defaults to
                :meth:`momentum_at` ``(progress)``.
            progress (float): Fraction of training done, for the cosine
                schedule. Defaults to 0.

        Returns:
            float | None: The momentum used (None for ``'max_width'``).
        """
        if self.net is None:
            return None
        students = self._students if students is None else _as_list(students)
        if momentum is None:
            momentum = self.momentum_at(progress)
        self._check_momentum(momentum, 'momentum')
        pairs = self._pairs(students)
        teacher = [t for t, _ in pairs]
        student = [s.detach() for _, s in pairs]
        # theta_k <- m * theta_k + (1 - m) * theta_q
        torch._foreach_mul_(teacher, momentum)
        torch._foreach_add_(teacher, student, alpha=1.0 - momentum)
        self.num_updates += 1
        return float(momentum)

    @torch.no_grad()
    def sync(self, students: Optional[Modules] = None) -> None:
        """Copy the students' parameters into the EMA copy (``m = 0``).

        Used after the students are (re-)initialised, so that the teacher
        starts equal to the student as a fresh deep copy would.

        Args:
            students (nn.Module | Sequence[nn.Module], optional): Defaults to
                those given at construction.
        """
        self.update(students, momentum=0.0)
        self.num_updates.zero_()

    @torch.no_grad()
    def forward(self,
                inputs: torch.Tensor,
                width: Optional[float] = None
                ) -> Union[torch.Tensor, tuple]:
        """Teacher output of ``inputs`` (no gradient, train-mode BN).

        Args:
            inputs (Tensor): Input of the first module.
            width (float, optional): Width to run at. The EMA copy defaults
                to its own ``width``; ``'max_width'`` needs it (the largest
                width of the step).

        Returns:
            Tensor | tuple: Output of the last module.
        """
        if width is None:
            if self.net is None:
                raise ValueError(
                    'EMATeacher(teacher="max_width").forward needs the width '
                    'of the max-width student (the largest width of the '
                    'step).')
            width = self.width
        modules = self.networks
        with _train_mode(modules), _at_width(modules, width):
            out = inputs
            for module in modules:
                out = module(out)
        return out

    def extra_repr(self) -> str:
        return (f'teacher={self.teacher!r}, momentum={self.momentum}, '
                f'momentum_schedule={self.momentum_schedule!r}, '
                f'width={self.width}')
