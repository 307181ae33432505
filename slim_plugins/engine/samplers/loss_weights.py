# Copyright (c) slim_plugins contributors. All rights reserved.
"""Per-width loss weights of a multi-width step (SlimCLR, IJCV 2024).

SlimCLR (`Zhao et al. <https://arxiv.org/abs/2209.15525>`_) re-weights the
loss of each width by the size of the network. The options keep the
reference numbering (``slim_loss_weighted``) so that configs can be
compared; ``W`` is the set of widths of the step, ``w_max`` its largest:

* ``'uniform'`` (or 0): every weight 1.
* 1: ``w / sum(W)``.
* 2: ``w``.
* 3: ``|W| * w / sum(W)``.
* 5 (the SlimCLR setting): ``1 + sum(W \\ {w_max})`` for ``w_max``, 1 for the
  others. ``[1, .75, .5, .25] -> [2.5, 1, 1, 1]``.
* 6: ``1 + sum(w' in W, w' < w)`` (one plus the total of the narrower
  widths), then renormalised so that the weights sum to ``|W|``.
* 7: ``1 + max(W \\ {w_max})`` for ``w_max``, 1 for the others.

Unlike the reference, weights are not rounded to 3 decimals.
"""
from typing import List, Sequence, Union

OPTIONS = ('uniform', 0, 1, 2, 3, 5, 6, 7)


def width_loss_weights(widths: Sequence[float],
                       option: Union[int, str] = 5) -> List[float]:
    """Loss weight of each width of a multi-width step.

    Args:
        widths (Sequence[float]): Distinct widths of the step, any order.
        option (int | str): One of ``'uniform'``, 0, 1, 2, 3, 5, 6, 7 (see
            the module docstring). Defaults to 5.

    Returns:
        List[float]: One weight per width, in the order of ``widths``.

    Example:
        >>> width_loss_weights([1.0, 0.75, 0.5, 0.25], 5)
        [2.5, 1.0, 1.0, 1.0]
    """
    if isinstance(option, bool) or option not in OPTIONS:
        raise ValueError(f'width_loss_weights: option={option!r} is not '
                         f'supported; choose one of {OPTIONS} '
                         f'(`loss_weighting` in the model config).')
    values = [float(w) for w in widths]
    if not values:
        raise ValueError('width_loss_weights: `widths` is empty; a step '
                         'needs at least one width.')
    if len(set(values)) != len(values):
        raise ValueError(f'width_loss_weights: widths={values} has '
                         f'duplicates; each width is trained once per step.')
    if any(w <= 0 for w in values):
        raise ValueError(f'width_loss_weights: widths={values} must all be '
                         f'> 0.')
    num, total, w_max = len(values), sum(values), max(values)
    others = [w for w in values if w != w_max]

    if option in ('uniform', 0):
        return [1.0] * num
    if option == 1:
        # lam_w = w / sum(W)
        return [w / total for w in values]
    if option == 2:
        # lam_w = w
        return list(values)
    if option == 3:
        # lam_w = |W| * w / sum(W)
        return [num * w / total for w in values]
    if option == 5:
        # lam_max = 1 + sum_{w != w_max} w, others 1
        return [1.0 + sum(others) if w == w_max else 1.0 for w in values]
    if option == 6:
        # lam_w = |W| * r_w / sum(r), r_w = 1 + sum_{v < w} v
        raw = [1.0 + sum(v for v in values if v < w) for w in values]
        return [num * r / sum(raw) for r in raw]
    # option 7: lam_max = 1 + max_{w != w_max} w, others 1
    bonus = max(others) if others else 0.0
    return [1.0 + bonus if w == w_max else 1.0 for w in values]
