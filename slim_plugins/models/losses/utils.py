# Copyright (c) slim_plugins contributors. All rights reserved.
from typing import Callable, Sequence

import torch


def cross_view_average(loss_fn: Callable[[torch.Tensor, torch.Tensor],
                                         torch.Tensor],
                       students: Sequence[torch.Tensor],
                       teachers: Sequence[torch.Tensor]) -> torch.Tensor:
    """Average a pairwise loss over the two cross-view pairs.

    ``L = (loss_fn(s_1, t_2) + loss_fn(s_2, t_1)) / 2``: the student output
    of each view is matched with the teacher output of the *other* view.

    Args:
        loss_fn (Callable): ``loss_fn(student, teacher) -> scalar``.
        students (Sequence[Tensor]): Student outputs of view 1 and view 2.
        teachers (Sequence[Tensor]): Teacher outputs of view 1 and view 2.

    Returns:
        Tensor: The averaged scalar loss.
    """
    if len(students) != 2 or len(teachers) != 2:
        raise ValueError(f'cross_view_average expects two views each, got '
                         f'{len(students)} student and {len(teachers)} '
                         f'teacher outputs.')
    # L = (l(s1, t2) + l(s2, t1)) / 2
    return 0.5 * (
        loss_fn(students[0], teachers[1]) + loss_fn(students[1], teachers[0]))
