# Copyright (c) slim_plugins contributors. All rights reserved.
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from slim_plugins.registry import MODELS
from .utils import cross_view_average


@MODELS.register_module()
class InfoNCEv2DistillLoss(nn.Module):
    """NT-Xent between a student batch and a (detached) teacher batch.

    The teacher-branch loss of US3L's SimCLR variant (`Cao et al., CVPR 2023
    <https://arxiv.org/abs/2303.06870>`_). For a pair ``(a, b)`` of
    ``B x D`` outputs (student ``a``, teacher ``b``), rows are
    L2-normalised and stacked as ``u = [a; b]`` (``2B x D``). Row ``i``'s
    positive is its counterpart in the other half, ``a_i . b_i``; its
    negatives are all other rows (student-student and teacher-teacher pairs
    included):

    ``L = mean_i -log(exp(a_i.b_i / tau) / sum_{j != i} exp(u_i.u_j / tau))``

    over all ``2B`` rows. ``b`` is detached: the teacher gets no gradient.

    Args:
        temperature (float): ``tau``. Defaults to 0.5 (US3L).
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 temperature: float = 0.5,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'InfoNCEv2DistillLoss: temperature='
                             f'{temperature} must be > 0.')
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, student: torch.Tensor,
                teacher: torch.Tensor) -> torch.Tensor:
        """Loss of one (student, teacher) pair.

        Args:
            student (Tensor): ``B x D`` student outputs.
            teacher (Tensor): ``B x D`` teacher outputs (detached here).

        Returns:
            Tensor: Scalar loss.
        """
        if student.dim() != 2 or student.shape != teacher.shape:
            raise ValueError(f'InfoNCEv2DistillLoss expects two B x D '
                             f'tensors of the same shape, got '
                             f'{tuple(student.shape)} and '
                             f'{tuple(teacher.shape)}.')
        batch = student.size(0)
        a = F.normalize(student, dim=1)
        b = F.normalize(teacher.detach(), dim=1)
        u = torch.cat([a, b], dim=0)
        # s_ij = u_i . u_j / tau, with the diagonal j = i dropped
        logits = u @ u.t() / self.temperature
        diagonal = torch.eye(2 * batch, dtype=torch.bool, device=u.device)
        logits = logits.masked_fill(diagonal, float('-inf'))
        # pos_i = a_i . b_i / tau, the same for row i and row B + i
        positive = (a * b).sum(dim=1) / self.temperature
        positive = torch.cat([positive, positive], dim=0)
        # l_i = -log(exp(pos_i) / sum_{j != i} exp(s_ij))
        loss = torch.logsumexp(logits, dim=1) - positive
        return self.loss_weight * loss.mean()

    def cross_view(self, students: Sequence[torch.Tensor],
                   teachers: Sequence[torch.Tensor]) -> torch.Tensor:
        """``(L(s_1, t_2) + L(s_2, t_1)) / 2`` over the two views.

        Args:
            students (Sequence[Tensor]): Student outputs of view 1 and 2.
            teachers (Sequence[Tensor]): Teacher outputs of view 1 and 2.

        Returns:
            Tensor: Scalar loss.
        """
        return cross_view_average(self, students, teachers)
