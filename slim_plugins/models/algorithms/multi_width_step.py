# Copyright (c) slim_plugins contributors. All rights reserved.
"""The one multi-width train step shared by every slimmable algorithm.

Per iteration the :class:`~slim_plugins.engine.hooks.WidthSamplingHook` chooses
the widths (sorted high to low) and hands them to the model with
:meth:`MultiWidthTrainMixin.set_train_widths`. The step then, for each width:
sets the width on the student modules, runs the loss forward, and either

* ``step_mode='accumulate'``: back-propagates the weighted loss and steps the
  optimizer once after the last width (US-Nets, SlimCLR). Under DDP only the
  last width's backward synchronises gradients; or
* ``step_mode='per_width'``: updates the parameters after every width, the
  momentum buffers being shared (the US3L reference implementation).

Forward and backward passes that DDP does not synchronise run sliced layers
as plain narrow ones and add their gradients into ``.grad`` in one batched
update (:func:`~slim_plugins.ops.in_place_slice_grads`), so a narrow width
costs gradient memory traffic in proportion to its width.
"""
import contextlib
from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper

from slim_plugins.engine.samplers import width_loss_weights
from slim_plugins.ops import in_place_slice_grads, slim_ops, using_width
from slim_plugins.utils.width_naming import width_suffix

STEP_MODES = ('accumulate', 'per_width')


class MultiWidthTrainMixin:
    """Mixin giving a ``BaseModel`` subclass the multi-width ``train_step``.

    The class using it must call :meth:`init_multi_width` in its ``__init__``
    and may override :meth:`prepare_multi_width_step` (e.g. to update an EMA
    teacher and compute its targets once per iteration) and
    :meth:`slimmable_modules` (the modules whose width is set; by default the
    backbone, neck and head, never a momentum teacher).

    During the loss forward of width ``widths[i]`` the attributes
    ``current_width``, ``current_width_index`` and ``current_step_widths``
    tell the algorithm which branch it is computing (e.g. the largest width
    as the teacher branch).
    """

    def init_multi_width(self,
                         step_mode: str = 'accumulate',
                         loss_weighting: Union[str, int] = 'uniform',
                         default_widths: Optional[Sequence[float]] = None
                         ) -> None:
        """Configure the step.

        Args:
            step_mode (str): ``'accumulate'`` or ``'per_width'``.
            loss_weighting (str | int): Option of
                :func:`~slim_plugins.engine.samplers.width_loss_weights`.
            default_widths (Sequence[float], optional): Widths used when no
                sampler hook sets them (e.g. single-width baselines).
        """
        if step_mode not in STEP_MODES:
            raise ValueError(f'step_mode={step_mode!r} is not supported; '
                             f'choose one of {STEP_MODES} in the model '
                             f'config.')
        self.step_mode = step_mode
        self.loss_weighting = loss_weighting
        self._train_widths: Optional[List[float]] = None
        self._named_widths = tuple(
            float(w) for w in (default_widths or ()))
        if default_widths is not None:
            self.set_train_widths(default_widths)
        self.current_width: Optional[float] = None
        self.current_width_index: Optional[int] = None
        self.current_step_widths: Optional[List[float]] = None

    # ------------------------------------------------------------------
    # widths
    # ------------------------------------------------------------------
    def set_train_widths(self, widths: Sequence[float]) -> None:
        """Set the widths of the next train step (sorted high to low)."""
        widths = [float(w) for w in widths]
        if not widths:
            raise ValueError('set_train_widths got an empty width list; a '
                             'step needs at least one width.')
        if len(set(widths)) != len(widths):
            raise ValueError(f'set_train_widths got duplicated widths '
                             f'{widths}; each width is trained once per '
                             f'step.')
        self._train_widths = sorted(widths, reverse=True)

    @property
    def train_widths(self) -> List[float]:
        if self._train_widths is None:
            raise RuntimeError(
                f'{type(self).__name__} has no train widths: add a '
                f'`WidthSamplingHook` to `custom_hooks` or set '
                f'`default_widths` in the model config.')
        return self._train_widths

    def slimmable_modules(self) -> List[nn.Module]:
        """Modules whose width follows the step's width (the student).

        By default the backbone, neck and head that hold slim ops; a
        momentum teacher is never among them, so it keeps its own width.
        """
        modules = [
            getattr(self, name, None) for name in ('backbone', 'neck', 'head')
        ]
        return [m for m in modules if m is not None and slim_ops(m)]

    def width_log_suffix(self, width: float, index: int) -> str:
        """Suffix of the per-width log keys of ``widths[index]``.

        A width of a fixed set (switchable widths, the ends of a universal
        range, ``default_widths``) is named by its value (``w0.25``);
        a width drawn at random from a range is named by its position in
        the step (``rand1``), so that the logged keys (and the message hub
        in checkpoints) do not grow with every new random width.
        """
        named = set(self._named_widths)
        for module in self.slimmable_modules():
            for op in slim_ops(module):
                state = op.width_state
                named.update(state.widths or state.width_range)
        if any(abs(width - w) < 1e-9 for w in named):
            return width_suffix(width)
        return f'rand{index}'

    @contextlib.contextmanager
    def student_width(self, width: float) -> Iterator[None]:
        """Set ``width`` on every slimmable module for the duration."""
        with contextlib.ExitStack() as stack:
            for module in self.slimmable_modules():
                stack.enter_context(using_width(module, width))
            yield

    # ------------------------------------------------------------------
    # the step
    # ------------------------------------------------------------------
    def prepare_multi_width_step(self, inputs: List[torch.Tensor],
                                 data_samples: list,
                                 widths: List[float]) -> None:
        """Called once per iteration before the first width; no-op here."""

    def multi_width_train_step(
        self,
        data: Union[dict, tuple, list],
        optim_wrapper: OptimWrapper,
        forward_module: Optional[nn.Module] = None
    ) -> Dict[str, torch.Tensor]:
        """Run all widths of one iteration and update the parameters.

        Args:
            data (dict | tuple | list): A batch from the dataloader.
            optim_wrapper (OptimWrapper): Updates the parameters (AMP and
                gradient clipping are handled by it).
            forward_module (nn.Module, optional): The module whose forward
                computes the loss: ``self``, or the DDP wrapper around it so
                that gradients are synchronised. Defaults to ``self``.

        Returns:
            Dict[str, torch.Tensor]: Log variables, with per-width entries
            such as ``loss@w0.25``.
        """
        forward_module = self if forward_module is None else forward_module
        widths = list(self.train_widths)
        weights = width_loss_weights(widths, self.loss_weighting)
        accumulate = self.step_mode == 'accumulate'
        if accumulate and optim_wrapper._accumulative_counts != 1:
            raise ValueError(
                'step_mode="accumulate" already accumulates over widths; '
                'set optim_wrapper.accumulative_counts=1.')

        with optim_wrapper.optim_context(forward_module):
            data = self.data_preprocessor(data, True)
        if isinstance(data, dict):
            inputs, data_samples = data['inputs'], data.get('data_samples')
        else:
            inputs, data_samples = data
        self.current_step_widths = widths
        self.prepare_multi_width_step(inputs, data_samples, widths)

        log_vars: Dict[str, torch.Tensor] = OrderedDict()
        total = 0.
        for index, (width, weight) in enumerate(zip(widths, weights)):
            last = index == len(widths) - 1
            skip_sync = accumulate and not last
            under_ddp = hasattr(forward_module, 'no_sync')
            sync_ctx = forward_module.no_sync() if (
                skip_sync and under_ddp) else contextlib.nullcontext()
            # DDP learns that a gradient is ready from autograd's hooks,
            # which in-place gradients bypass.
            in_place = skip_sync or not under_ddp
            self.current_width = width
            self.current_width_index = index
            with sync_ctx:
                with optim_wrapper.optim_context(forward_module), \
                        self.student_width(width), \
                        in_place_slice_grads(in_place):
                    losses = forward_module(
                        inputs, data_samples, mode='loss')
                loss, width_log = self.parse_losses(losses)
                weighted = loss * weight
                if accumulate:
                    optim_wrapper.backward(weighted)
                else:
                    optim_wrapper.update_params(weighted)
            total = total + weighted.detach()
            suffix = self.width_log_suffix(width, index)
            for name, value in width_log.items():
                log_vars[f'{name}@{suffix}'] = value
        if accumulate:
            optim_wrapper.step()
            optim_wrapper.zero_grad()
        self.current_width = self.current_width_index = None
        log_vars['loss'] = total
        return log_vars

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        """mmengine entry point: the multi-width step on ``self``."""
        return self.multi_width_train_step(data, optim_wrapper)
