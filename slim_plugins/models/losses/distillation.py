# Copyright (c) slim_plugins contributors. All rights reserved.
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from slim_plugins.registry import MODELS

MODES = ('kl', 'cosine', 'mse')


@MODELS.register_module()
class DistillationLoss(nn.Module):
    """Online distillation from a teacher output to a student output.

    The teacher (e.g. the full-width branch) is always detached.

    * ``mode='kl'``: soft-target distillation on logits. By default the
      cross-entropy form used by SlimCLR (`Zhao et al., IJCV 2024
      <https://arxiv.org/abs/2209.15525>`_)::

          T^2 * mean_n[-sum_j softmax(t_n / T_t)_j log softmax(s_n / T)_j]

      which equals the KL divergence plus the teacher entropy (a constant
      for the student, so gradients are identical). With ``exact_kl=True``
      the entropy is removed:
      ``T^2 * mean_n sum_j p_j (log p_j - log softmax(s_n / T)_j)``.
    * ``mode='cosine'``: ``-mean_n cos(s_n, t_n)``.
    * ``mode='mse'``: ``mean((s - t)^2)`` over all elements.

    Args:
        mode (str): ``'kl'``, ``'cosine'`` or ``'mse'``. Defaults to
            ``'kl'``.
        temperature (float): Student temperature ``T`` (``'kl'`` only); the
            loss is scaled by ``T^2``. Defaults to 1.0.
        teacher_temperature (float, optional): Teacher temperature ``T_t``;
            defaults to ``temperature``.
        exact_kl (bool): Subtract the teacher entropy (``'kl'`` only).
            Defaults to False.
        loss_weight (float): Multiplier of the loss. Defaults to 1.0.
    """

    def __init__(self,
                 mode: str = 'kl',
                 temperature: float = 1.0,
                 teacher_temperature: Optional[float] = None,
                 exact_kl: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f'DistillationLoss: mode={mode!r} is not '
                             f'supported; choose one of {MODES}.')
        if teacher_temperature is None:
            teacher_temperature = temperature
        if temperature <= 0 or teacher_temperature <= 0:
            raise ValueError(f'DistillationLoss: temperatures must be > 0, '
                             f'got temperature={temperature}, '
                             f'teacher_temperature={teacher_temperature}.')
        self.mode = mode
        self.temperature = temperature
        self.teacher_temperature = teacher_temperature
        self.exact_kl = exact_kl
        self.loss_weight = loss_weight

    def forward(self, student: torch.Tensor,
                teacher: torch.Tensor) -> torch.Tensor:
        """Distillation loss of a batch.

        Args:
            student (Tensor): ``N x C`` student logits or features.
            teacher (Tensor): Teacher output of the same shape.

        Returns:
            Tensor: Scalar loss.
        """
        if student.shape != teacher.shape:
            raise ValueError(f'DistillationLoss: student '
                             f'{tuple(student.shape)} and teacher '
                             f'{tuple(teacher.shape)} differ.')
        teacher = teacher.detach()
        if self.mode == 'cosine':
            # L = -mean_n cos(s_n, t_n)
            loss = -F.cosine_similarity(
                student.flatten(1), teacher.flatten(1), dim=1).mean()
        elif self.mode == 'mse':
            # L = mean((s - t)^2)
            loss = F.mse_loss(student, teacher)
        else:
            loss = self._soft_target_loss(student, teacher)
        return self.loss_weight * loss

    def _soft_target_loss(self, student: torch.Tensor,
                          teacher: torch.Tensor) -> torch.Tensor:
        log_p_student = F.log_softmax(student / self.temperature, dim=1)
        log_p_teacher = F.log_softmax(
            teacher / self.teacher_temperature, dim=1)
        p_teacher = log_p_teacher.exp()
        if self.exact_kl:
            # L = T^2 mean_n sum_j p_j (log p_j - log q_j)
            per_sample = (p_teacher * (log_p_teacher - log_p_student)).sum(1)
        else:
            # L = T^2 mean_n [-sum_j p_j log q_j]
            per_sample = -(p_teacher * log_p_student).sum(1)
        return self.temperature**2 * per_sample.mean()
