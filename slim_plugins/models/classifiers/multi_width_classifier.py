# Copyright (c) slim_plugins contributors. All rights reserved.
"""Image classifier trained and evaluated at several widths at once."""
import contextlib
from typing import Dict, Iterator, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit
from mmpretrain.models.classifiers import ImageClassifier
from torch.nn.modules.batchnorm import _BatchNorm

from slim_plugins.models.algorithms.multi_width_step import \
    MultiWidthTrainMixin
from slim_plugins.models.backbones.pretrained_loading import read_pretrained
from slim_plugins.ops import get_width, using_width
from slim_plugins.ops.slim_bn import _SlimBatchNormMixin
from slim_plugins.ops.switchable_bn import _SwitchableBatchNormMixin
from slim_plugins.registry import MODELS
from slim_plugins.utils.bn_calibration import (BANK_NAME,
                                               apply_calibrated_stats,
                                               get_bank)

BN_STATS = ('running_mean', 'running_var', 'num_batches_tracked')
_MAX_LISTED_KEYS = 20


def _is_shared_slim_bn(module: nn.Module) -> bool:
    """A BN shared by all widths (universal), as opposed to switchable."""
    return isinstance(module, _SlimBatchNormMixin) and not isinstance(
        module, _SwitchableBatchNormMixin)


def _list_keys(keys: List[str]) -> str:
    shown = ', '.join(keys[:_MAX_LISTED_KEYS])
    more = len(keys) - _MAX_LISTED_KEYS
    return f'[{shown}{f", ... and {more} more" if more > 0 else ""}]'


@MODELS.register_module()
class MultiWidthImageClassifier(MultiWidthTrainMixin, ImageClassifier):
    """``ImageClassifier`` with the multi-width train step.

    Every iteration trains the classifier at each of the step's widths
    (``widths`` by default, or those a
    :class:`~slim_plugins.engine.hooks.WidthSamplingHook` sets), high to
    low, with the shared :class:`MultiWidthTrainMixin` step. With a frozen
    slimmable backbone and a
    :class:`~slim_plugins.models.heads.SwitchableLinearClsHead` this is the
    per-width linear probe of SlimCLR (B.7 of the spec) and US3L.

    A *universal* backbone (one BN shared by all widths, e.g.
    ``SlimResNet(width_mode='universal')``) whose BNs run in eval mode
    (frozen stages, ``norm_eval``, or evaluation) must normalise width ``w``
    with the statistics calibrated for ``w``: the training step
    (:meth:`student_width`) and :meth:`extract_feat` (prediction) load them
    from the backbone's calibration bank for the duration of the forward
    and restore the buffers afterwards; a width without calibrated
    statistics is an error, never a silent use of the shared running
    statistics. BNs in train mode keep normalising with batch statistics.
    This is consistent with :class:`~slim_plugins.engine.runners.
    MultiWidthValLoop`, which loads the same statistics per width.

    With ``strict_pretrained`` a backbone ``init_cfg`` of type
    ``Pretrained`` is loaded strictly (mmengine's loader only logs missing
    and unexpected keys): a checkpoint of another architecture raises a
    ValueError listing the keys before training starts. Missing or
    unexpected BN *statistics* of shared BNs are tolerated, since they are
    re-estimated by BN calibration (US3L pre-trains without them).

    Args:
        backbone (dict): Backbone config, typically a ``SlimResNet``.
        neck (dict, optional): Neck config. Defaults to None.
        head (dict, optional): Head config, typically a
            ``SwitchableLinearClsHead``. Defaults to None.
        widths (Sequence[float]): Widths trained every step unless a width
            sampler hook sets them. Defaults to ``(1.0, 0.75, 0.5, 0.25)``.
        step_mode (str): ``'accumulate'`` (one optimizer step per
            iteration) or ``'per_width'``. Defaults to ``'accumulate'``.
        loss_weighting (str | int): Per-width loss weights, see
            :func:`~slim_plugins.engine.samplers.width_loss_weights`.
            Defaults to ``'uniform'``.
        strict_pretrained (bool): Load a ``Pretrained`` backbone init
            strictly. Defaults to True.
        pretrained (str, optional): Checkpoint of the whole classifier (as
            in ``ImageClassifier``). Defaults to None.
        train_cfg (dict, optional): Batch augmentations (as in
            ``ImageClassifier``). Defaults to None.
        data_preprocessor (dict, optional): Defaults to
            ``ClsDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config. Defaults to None.

    Example:
        >>> import torch
        >>> from slim_plugins.ops import using_width
        >>> from slim_plugins.registry import MODELS
        >>> model = MODELS.build(dict(
        ...     type='MultiWidthImageClassifier',
        ...     backbone=dict(type='SlimResNet', depth=18, base_channels=8,
        ...                   stem_channels=8, width_mode='switchable'),
        ...     neck=dict(type='GlobalAveragePooling'),
        ...     head=dict(type='SwitchableLinearClsHead', num_classes=10,
        ...               in_channels=64)))
        >>> model.train_widths
        [1.0, 0.75, 0.5, 0.25]
        >>> with using_width(model, 0.5):
        ...     model(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self,
                 backbone: dict,
                 neck: Optional[dict] = None,
                 head: Optional[dict] = None,
                 widths: Sequence[float] = (1.0, 0.75, 0.5, 0.25),
                 step_mode: str = 'accumulate',
                 loss_weighting: Union[str, int] = 'uniform',
                 strict_pretrained: bool = True,
                 pretrained: Optional[str] = None,
                 train_cfg: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        # Built from our registry (which falls back to mmpretrain's), so that
        # bare slim_plugins names also work without a default scope.
        backbone, neck, head = (
            MODELS.build(cfg) if isinstance(cfg, (dict, list)) else cfg
            for cfg in (backbone, neck, head))
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            train_cfg=train_cfg,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        if not self.slimmable_modules():
            raise ValueError(
                'MultiWidthImageClassifier has no slimmable module: build '
                'the backbone (e.g. SlimResNet), neck or head from '
                'slim_plugins ops, or use ImageClassifier for a fixed width.')
        self.init_multi_width(step_mode, loss_weighting, widths)
        for width in self.train_widths:
            for module in self.slimmable_modules():
                try:
                    with using_width(module, width):
                        pass
                except ValueError as e:
                    raise ValueError(
                        f'MultiWidthImageClassifier(widths={list(widths)}): '
                        f'{e}') from e
        self.strict_pretrained = strict_pretrained
        self._stats_width: Optional[float] = None

    # ------------------------------------------------------------------
    # calibrated BN statistics of a universal backbone
    # ------------------------------------------------------------------
    def _frozen_shared_bns(self) -> List[nn.Module]:
        """Shared slim BNs of the backbone that use running statistics."""
        return [
            m for m in self.backbone.modules() if _is_shared_slim_bn(m)
            and m.track_running_stats and not m.training
        ]

    @contextlib.contextmanager
    def calibrated_stats(self,
                         width: Optional[float] = None) -> Iterator[None]:
        """Run the backbone with the calibrated BN statistics of ``width``.

        A no-op unless the backbone has shared BNs in eval mode. Running
        statistics of BNs in train mode are left as they were; those of
        eval-mode BNs are restored on exit by re-binding the buffers (not
        in place), so a backward pass after the block still sees the
        statistics its forward used.

        Args:
            width (float, optional): Defaults to the backbone's width.

        Raises:
            ValueError: If ``width`` has no calibrated statistics.
        """
        if not self._frozen_shared_bns():
            yield
            return
        if width is None:
            width = get_width(self.backbone)
        if self._stats_width is not None and abs(self._stats_width -
                                                 width) < 1e-6:
            yield
            return
        bank = get_bank(self.backbone)
        if bank is None or not bank.has(width):
            held = bank.widths() if bank is not None else []
            raise ValueError(
                f'{type(self).__name__}: the backbone shares its BNs across '
                f'widths ({type(self.backbone).__name__}, universal) and they '
                f'run in eval mode (frozen or evaluating), so width '
                f'{width:g} must use its calibrated BN statistics, but the '
                f'backbone has none for it (calibrated: {held or "none"}). '
                f'Calibrate every width before training and testing: add '
                f'dict(type="BNCalibrationHook", widths=..., '
                f'before_train=True) to `custom_hooks`, or run '
                f'tools/calibrate_bn.py on the pretrained checkpoint and '
                f'probe from its output.')
        bns = [
            m for m in self.backbone.modules()
            if isinstance(m, _BatchNorm) and m.track_running_stats
        ]
        saved = {
            bn: (bn.running_mean.clone(), bn.running_var.clone())
            for bn in bns
        }
        apply_calibrated_stats(self.backbone, width)
        with torch.no_grad():
            for bn, (mean, var) in saved.items():
                if bn.training:
                    bn.running_mean.copy_(mean)
                    bn.running_var.copy_(var)
        previous, self._stats_width = self._stats_width, width
        try:
            yield
        finally:
            self._stats_width = previous
            for bn, (mean, var) in saved.items():
                if not bn.training:
                    bn.running_mean = mean
                    bn.running_var = var

    @contextlib.contextmanager
    def student_width(self, width: float) -> Iterator[None]:
        """Set ``width`` on the slimmable modules, with its BN statistics."""
        with super().student_width(width), self.calibrated_stats(width):
            yield

    def extract_feat(self, inputs: torch.Tensor, stage: str = 'neck'):
        """Features at the current width (calibrated BN statistics).

        Args:
            inputs (Tensor): ``(N, C, H, W)`` images.
            stage (str): ``'backbone'``, ``'neck'`` or ``'pre_logits'``.

        Returns:
            tuple | Tensor: As ``ImageClassifier.extract_feat``.
        """
        with self.calibrated_stats():
            return super().extract_feat(inputs, stage)

    # ------------------------------------------------------------------
    # strict pretrained loading
    # ------------------------------------------------------------------
    def init_weights(self) -> None:
        """Initialise; load a ``Pretrained`` backbone strictly if asked."""
        init_cfg = getattr(self.backbone, 'init_cfg', None)
        cfgs = [init_cfg] if isinstance(init_cfg, dict) else list(init_cfg
                                                                  or [])
        pretrained = [
            cfg for cfg in cfgs
            if cfg.get('type') in ('Pretrained', PretrainedInit)
        ]
        if not self.strict_pretrained or not pretrained or self._is_init:
            super().init_weights()
            return
        others = [cfg for cfg in cfgs if cfg not in pretrained]
        self.backbone.init_cfg = others or None
        try:
            super().init_weights()
        finally:
            self.backbone.init_cfg = init_cfg
        for cfg in pretrained:
            self._load_backbone_strictly(cfg)

    def _load_backbone_strictly(self, cfg: dict) -> None:
        filename = cfg.get('checkpoint')
        prefix = cfg.get('prefix')
        state = read_pretrained(filename, prefix,
                                cfg.get('map_location', 'cpu'))
        problems = self._mismatches(state)
        if problems:
            raise ValueError(
                f'pretrained checkpoint {filename!r} (prefix {prefix!r}) '
                f'does not fit the backbone '
                f'{type(self.backbone).__name__}:\n  ' +
                '\n  '.join(problems) +
                '\nCheck the backbone config (depth, stem, in_channels, '
                'channels, width_mode/widths, channel_rule) against the '
                'architecture the checkpoint was trained with, or set '
                'model.strict_pretrained=False to load what matches.')
        self.backbone.load_state_dict(dict(state), strict=False)
        print_log(
            f'loaded backbone from {filename} (prefix {prefix!r}), strict',
            logger='current')

    def _mismatches(self, state: Dict[str, torch.Tensor]) -> List[str]:
        """Missing / unexpected / mis-shaped keys, BN statistics aside."""
        bank = BANK_NAME + '.'
        own = {
            k: v
            for k, v in self.backbone.state_dict().items()
            if not k.startswith(bank)
        }
        given = {k for k in state if not k.startswith(bank)}
        modules = dict(self.backbone.named_modules())

        def recalibrated(key: str) -> bool:
            owner, _, leaf = key.rpartition('.')
            return leaf in BN_STATS and _is_shared_slim_bn(
                modules.get(owner))

        missing = sorted(k for k in set(own) - given if not recalibrated(k))
        unexpected = sorted(
            k for k in given - set(own) if not recalibrated(k))
        shapes = sorted(
            f'{k}: {tuple(state[k].shape)} in checkpoint, '
            f'{tuple(own[k].shape)} in model' for k in given & set(own)
            if tuple(state[k].shape) != tuple(own[k].shape))
        problems = []
        if missing:
            problems.append(
                f'missing keys ({len(missing)}): {_list_keys(missing)}')
        if unexpected:
            problems.append(f'unexpected keys ({len(unexpected)}): '
                            f'{_list_keys(unexpected)}')
        if shapes:
            problems.append(
                f'shape mismatches ({len(shapes)}): {_list_keys(shapes)}')
        return problems
