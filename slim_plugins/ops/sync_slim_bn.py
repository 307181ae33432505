# Copyright (c) slim_plugins contributors. All rights reserved.
"""Batch normalisation with statistics synchronised across ranks.

``torch.nn.SyncBatchNorm`` cannot slice or switch, and mmengine's
``sync_bn='torch'`` replaces every ``BatchNorm`` subclass by it, so a slim or
switchable BN would lose its width logic. The layers here are the slim and
switchable BNs of :mod:`slim_plugins.ops` (subclasses, same state-dict keys)
whose *training* statistics are computed over the union of the batches of
all ranks of a process group:

* every rank computes, per active channel, its local mean, its sum of
  squared deviations ``M2`` and its sample count;
* one differentiable ``all_gather`` collects them and every rank combines
  them exactly (parallel variance formula, no ``E[x^2] - E[x]^2``
  cancellation);
* the backward pass all-reduces the gradient of the gathered statistics,
  so the gradients equal those of one process on the whole batch.

This uses only ``torch.distributed`` collectives, so it runs with gloo on
CPU as well as with NCCL on GPU (torch's ``SyncBatchNorm`` needs CUDA to
train). Outside a process group of more than one rank, in eval mode, or
with ``track_running_stats=False`` in eval mode, the layers behave exactly
like their unsynchronised parents (local statistics), as torch's layer does.
Use :func:`slim_plugins.utils.convert_sync_batchnorm` to convert a model.
"""
from typing import Any, List, Optional

import torch
import torch.distributed as dist
from torch.nn.modules.batchnorm import _BatchNorm

from .slim_bn import SlimBatchNorm1d, SlimBatchNorm2d
from .switchable_bn import SwitchableBatchNorm1d, SwitchableBatchNorm2d


class _AllGather(torch.autograd.Function):
    """``all_gather`` into a ``(world_size, ...)`` tensor, differentiable.

    Every rank's output depends on every rank's input, so the gradient of
    the input of rank ``r`` is the sum over ranks of the output gradient's
    row ``r``: an all-reduce followed by taking the own row.
    """

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        ctx.rank = dist.get_rank(group)
        tensor = tensor.contiguous()
        gathered = [
            torch.empty_like(tensor)
            for _ in range(dist.get_world_size(group))
        ]
        dist.all_gather(gathered, tensor, group=group)
        return torch.stack(gathered)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, group=ctx.group)
        return grad[ctx.rank], None


def distributed_world_size(group: Optional[Any] = None) -> int:
    """Ranks in ``group`` (1 without an initialised process group).

    Args:
        group (ProcessGroup, optional): Defaults to the default group.

    Returns:
        int: The world size of the group.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group)


def sync_batch_norm(x: torch.Tensor,
                    running_mean: Optional[torch.Tensor],
                    running_var: Optional[torch.Tensor],
                    weight: Optional[torch.Tensor],
                    bias: Optional[torch.Tensor],
                    momentum: float,
                    eps: float,
                    group: Optional[Any] = None) -> torch.Tensor:
    """Training-mode batch norm over the union of all ranks' batches.

    Statistics are accumulated in float32 for half-precision inputs.

    Args:
        x (Tensor): Input of shape ``(N, C, ...)``.
        running_mean (Tensor, optional): ``(C,)`` buffer updated in place.
        running_var (Tensor, optional): ``(C,)`` buffer updated in place
            with the unbiased variance.
        weight (Tensor, optional): ``(C,)`` scale.
        bias (Tensor, optional): ``(C,)`` shift.
        momentum (float): Running-stat update factor.
        eps (float): Added to the variance.
        group (ProcessGroup, optional): Ranks to synchronise over. Defaults
            to the default group.

    Returns:
        Tensor: The normalised input, same shape and dtype as ``x``.
    """
    channels = x.size(1)
    dims: List[int] = [0, *range(2, x.dim())]
    shape = (1, channels) + (1, ) * (x.dim() - 2)
    xs = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    count = xs.numel() // channels
    local_mean = xs.sum(dims) / max(count, 1)
    local_m2 = (xs - local_mean.view(shape)).pow(2).sum(dims)
    stats = torch.cat(
        [local_mean, local_m2,
         local_mean.new_full((1, ), count)])
    gathered = _AllGather.apply(stats, group)
    means = gathered[:, :channels]
    m2s = gathered[:, channels:2 * channels]
    counts = gathered[:, 2 * channels:]
    total = counts.sum()
    # mean = sum_r n_r m_r / n ; M2 = sum_r [M2_r + n_r (m_r - mean)^2]
    mean = (counts * means).sum(0) / total
    m2 = m2s.sum(0) + (counts * (means - mean).pow(2)).sum(0)
    var = m2 / total
    if running_mean is not None and running_var is not None:
        with torch.no_grad():
            running_mean.mul_(1 - momentum).add_(
                mean.detach().to(running_mean.dtype), alpha=momentum)
            unbiased = m2.detach() / (total - 1).clamp_min(1)
            running_var.mul_(1 - momentum).add_(
                unbiased.to(running_var.dtype), alpha=momentum)
    out = (xs - mean.view(shape)) * torch.rsqrt(var + eps).view(shape)
    if weight is not None:
        out = out * weight.view(shape)
    if bias is not None:
        out = out + bias.view(shape)
    return out.to(x.dtype)


def _momentum(bn: _BatchNorm) -> float:
    """Running-stat factor of this step (counts the batch, like torch)."""
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            momentum = 1.0 / float(bn.num_batches_tracked)
    return momentum


class _SyncMixin:
    """Synchronise training statistics over ``process_group``.

    ``process_group`` (None: the default group) is set by the converter.
    """

    process_group: Optional[Any] = None

    def need_sync(self) -> bool:
        """Whether this forward uses cross-rank statistics."""
        return self.training and distributed_world_size(self.process_group) > 1

    def _sync_forward(self, x: torch.Tensor, channels: int) -> torch.Tensor:
        """Training forward on the first ``channels`` channels."""
        self._check_input_dim(x)
        if x.size(1) != channels:
            raise ValueError(f'{type(self).__name__} expects {channels} '
                             f'channels at the current width, got input of '
                             f'shape {tuple(x.shape)}.')
        momentum = _momentum(self)
        tracked = self.track_running_stats
        return sync_batch_norm(
            x, self.running_mean[:channels] if tracked else None,
            self.running_var[:channels] if tracked else None,
            self.weight[:channels] if self.affine else None,
            self.bias[:channels] if self.affine else None, momentum, self.eps,
            self.process_group)


class _SyncSlimMixin(_SyncMixin):
    """Sync version of a shared slim BN (``_SlimBatchNormMixin``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise the active slice with cross-rank statistics."""
        if not self.need_sync():
            return super().forward(x)
        return self._sync_forward(x, self.active_features())


class _SyncSwitchableMixin(_SyncSlimMixin):
    """Sync version of a switchable BN.

    The largest width's BN (the layer itself) is synchronised here; the
    private BNs of the other widths are plain BN children that the converter
    turns into synchronised layers too.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` with the current width's (synchronised) BN."""
        if not self.need_sync():
            return super().forward(x)
        bn = self._bn_for(self.width_state.width)
        if bn is not None:
            return bn(x)
        return self._sync_forward(x, self.active_features())


class SyncSlimBatchNorm2d(_SyncSlimMixin, SlimBatchNorm2d):
    """:class:`~slim_plugins.ops.SlimBatchNorm2d` with cross-rank statistics.

    Built by :func:`slim_plugins.utils.convert_sync_batchnorm`; the same
    arguments as :class:`~slim_plugins.ops.SlimBatchNorm2d` also build it
    directly (``process_group`` is then the default group).
    """


class SyncSlimBatchNorm1d(_SyncSlimMixin, SlimBatchNorm1d):
    """:class:`~slim_plugins.ops.SlimBatchNorm1d` with cross-rank statistics.

    See :class:`SyncSlimBatchNorm2d`.
    """


class SyncSwitchableBatchNorm2d(_SyncSwitchableMixin, SwitchableBatchNorm2d):
    """:class:`~slim_plugins.ops.SwitchableBatchNorm2d`, cross-rank stats.

    Built by :func:`slim_plugins.utils.convert_sync_batchnorm`, which also
    converts the private BN of every other width in ``switch_bns``.
    """


class SyncSwitchableBatchNorm1d(_SyncSwitchableMixin, SwitchableBatchNorm1d):
    """:class:`~slim_plugins.ops.SwitchableBatchNorm1d`, cross-rank stats.

    See :class:`SyncSwitchableBatchNorm2d`.
    """


class AllGatherSyncBatchNorm(_SyncMixin, _BatchNorm):
    """A plain sync BN that also trains on CPU (gloo).

    Same statistics and state-dict keys as ``torch.nn.SyncBatchNorm``, for
    any input of shape ``(N, C, ...)``; built by
    :func:`slim_plugins.utils.convert_sync_batchnorm` with
    ``implementation='slim'``. torch's layer uses fused CUDA kernels and is
    the better choice on GPUs; this one works on every device and backend.

    Args:
        num_features (int): Channels ``C``.
        eps (float): Added to the variance. Defaults to 1e-5.
        momentum (float, optional): Running-stat momentum; None for a
            cumulative average. Defaults to 0.1.
        affine (bool): Learnable scale and shift. Defaults to True.
        track_running_stats (bool): Track running statistics. Defaults to
            True.
        process_group (ProcessGroup, optional): Ranks to synchronise over.
            Defaults to the default group.
    """

    def __init__(self,
                 num_features: int,
                 eps: float = 1e-5,
                 momentum: Optional[float] = 0.1,
                 affine: bool = True,
                 track_running_stats: bool = True,
                 process_group: Optional[Any] = None) -> None:
        super().__init__(num_features, eps, momentum, affine,
                         track_running_stats)
        self.process_group = process_group

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f'expected an input of at least 2 dims (N, C, '
                             f'...), got shape {tuple(x.shape)}.')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` with cross-rank statistics when training."""
        if not self.need_sync():
            return super().forward(x)
        return self._sync_forward(x, self.num_features)


#: The synchronised class of each slim BN class (exact types).
SYNC_SLIM_BN = {
    SlimBatchNorm1d: SyncSlimBatchNorm1d,
    SlimBatchNorm2d: SyncSlimBatchNorm2d,
    SwitchableBatchNorm1d: SyncSwitchableBatchNorm1d,
    SwitchableBatchNorm2d: SyncSwitchableBatchNorm2d,
}

__all__ = [
    'AllGatherSyncBatchNorm', 'SYNC_SLIM_BN', 'SyncSlimBatchNorm1d',
    'SyncSlimBatchNorm2d', 'SyncSwitchableBatchNorm1d',
    'SyncSwitchableBatchNorm2d', 'distributed_world_size', 'sync_batch_norm'
]
