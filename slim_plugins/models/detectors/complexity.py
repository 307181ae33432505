# Copyright (c) slim_plugins contributors. All rights reserved.
"""MACs and parameters of an mmdet detector, part by part and per width.

Everything runs on the ``meta`` device: shapes are exact, nothing is
allocated or computed, so a full-size Mask R-CNN at 800x1333 costs
milliseconds. MACs are those of every convolution, transposed convolution
(the mask head's upsampling) and linear layer, with the formulas of
:func:`slim_plugins.utils.flops.count_macs`; RoIAlign, NMS, BN, ReLU,
pooling and additions are not counted.

The cost of the RoI heads depends on how many proposals reach them, which
for a real image depends on the weights. It is reported for a fixed number
(mmdet's test-time defaults: 1000 proposals through the box head, 100
detections through the mask head) so that rows are comparable; it does not
depend on the backbone width, since the neck output is full-width.
"""
from typing import Any, Callable, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from slim_plugins.ops import slim_ops, using_width
from slim_plugins.utils.export import subnet_state_dict
from .slimmable_mask_rcnn import zero_pad_channels


class DetectorComplexity(NamedTuple):
    """Cost of a detector at one width (MACs for one image).

    Args:
        width (float, optional): Backbone width (None: not slim).
        backbone (int): MACs of the backbone.
        neck (int): MACs of the neck.
        dense_head (int): MACs of the RPN / dense head on every level.
        roi_head (int): MACs of the RoI heads on the fixed numbers of RoIs.
        backbone_params (int): Parameters the backbone uses at the width.
        params (int): Parameters of the detector at the width.
    """

    width: Optional[float]
    backbone: int
    neck: int
    dense_head: int
    roi_head: int
    backbone_params: int
    params: int

    @property
    def total(self) -> int:
        """MACs of the whole detector."""
        return self.backbone + self.neck + self.dense_head + self.roi_head


def _conv_macs(module: nn.Module, args: Tuple[torch.Tensor, ...],
               output: torch.Tensor) -> int:
    # Conv: MACs = output elements * (C_in / groups) * k_h * k_w, with the
    # C_in actually fed in (a slim conv runs a leading slice of its weight).
    kernel = module.kernel_size[0] * module.kernel_size[1]
    return output.numel() * (args[0].shape[1] // module.groups) * kernel


def _deconv_macs(module: nn.Module, args: Tuple[torch.Tensor, ...],
                 output: torch.Tensor) -> int:
    # Transposed conv: every input element meets (C_out / groups) * k_h * k_w
    # weights, MACs = input elements * (C_out / groups) * k_h * k_w.
    kernel = module.kernel_size[0] * module.kernel_size[1]
    return args[0].numel() * (output.shape[1] // module.groups) * kernel


def _linear_macs(module: nn.Module, args: Tuple[torch.Tensor, ...],
                 output: torch.Tensor) -> int:
    # Linear: MACs = output elements * input features.
    return output.numel() * args[0].shape[-1]


MAC_RULES = ((nn.Conv2d, _conv_macs), (nn.ConvTranspose2d, _deconv_macs),
             (nn.Linear, _linear_macs))


def _macs(module: nn.Module, call: Callable[[], Any]) -> Tuple[int, Any]:
    """MACs of the layers of ``module`` while ``call()`` runs, its output.

    Counts every ``nn.Conv2d``, ``nn.ConvTranspose2d`` and ``nn.Linear`` in
    ``module`` (mmcv's wrappers and slim ops subclass them), with the
    channels of the tensors that really flow, for the whole batch.
    """
    total = [0]
    handles = []
    for layer in module.modules():
        for cls, rule in MAC_RULES:
            if isinstance(layer, cls):

                def hook(mod, args, output, rule=rule):
                    total[0] += rule(mod, args, output)

                handles.append(layer.register_forward_hook(hook))
                break
    try:
        with torch.no_grad():
            output = call()
    finally:
        for handle in handles:
            handle.remove()
    return total[0], output


def _roi_size(extractor: nn.Module) -> Tuple[int, int]:
    size = extractor.roi_layers[0].output_size
    return (size, size) if isinstance(size, int) else tuple(size)


def _roi_head_macs(roi_head: nn.Module, num_proposals: int,
                   num_masks: int) -> int:
    """MACs of the box (and mask) head of a StandardRoIHead-like head."""
    total = 0
    branches = (('bbox', num_proposals), ('mask', num_masks))
    for name, count in branches:
        head = getattr(roi_head, f'{name}_head', None)
        extractor = getattr(roi_head, f'{name}_roi_extractor', None)
        if head is None or count <= 0:
            continue
        if extractor is None:  # share_roi_extractor: the box extractor
            extractor = roi_head.bbox_roi_extractor
        feats = torch.empty(
            count, extractor.out_channels, *_roi_size(extractor),
            device='meta')
        shared = getattr(roi_head, 'shared_head', None)
        if shared is not None:
            macs, feats = _macs(shared, lambda: shared(feats))
            total += macs
        macs, _ = _macs(head, lambda: head(feats))
        total += macs
    return total


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _slim_params(backbone: nn.Module, width: float) -> int:
    """Parameters a slim backbone uses at ``width`` (its exported net)."""
    state = subnet_state_dict(backbone, width)
    names = {name for name, _ in backbone.named_parameters()}
    return sum(v.numel() for k, v in state.items() if k in names)


def detector_complexity(
        detector: nn.Module,
        input_shape: Tuple[int, int, int] = (3, 800, 1333),
        widths: Optional[Sequence[float]] = None,
        num_proposals: int = 1000,
        num_masks: int = 100) -> Tuple[DetectorComplexity, ...]:
    """MACs of a detector built on the ``meta`` device, part by part.

    Args:
        detector (nn.Module): An mmdet detector (``backbone``, optional
            ``neck``, ``rpn_head``/``bbox_head``, optional ``roi_head``),
            built on the ``meta`` device (``with torch.device('meta')``).
        input_shape (tuple[int, int, int]): ``(C, H, W)`` of one padded
            image. Defaults to ``(3, 800, 1333)``.
        widths (Sequence[float], optional): Widths of a slimmable backbone
            to evaluate; None for a backbone of one width.
        num_proposals (int): RoIs through the box head. Defaults to 1000.
        num_masks (int): RoIs through the mask head. Defaults to 100.

    Returns:
        tuple[DetectorComplexity]: One row per width (one row if ``widths``
        is None).
    """
    if widths is not None and not slim_ops(detector.backbone):
        raise ValueError(
            f'widths={list(widths)} given, but the backbone '
            f'{type(detector.backbone).__name__} is not slimmable; rebuild '
            'the detector per width instead (e.g. model.backbone.width).')
    rows = []
    for width in (widths if widths is not None else [None]):
        if width is None:
            rows.append(_one(detector, input_shape, None, num_proposals,
                             num_masks))
            continue
        with using_width(detector.backbone, width):
            rows.append(_one(detector, input_shape, float(width),
                             num_proposals, num_masks))
    return tuple(rows)


def _one(detector: nn.Module, input_shape: Tuple[int, int, int],
         width: Optional[float], num_proposals: int,
         num_masks: int) -> DetectorComplexity:
    detector = detector.eval()
    image = torch.empty(1, *input_shape, device='meta')
    backbone = detector.backbone
    backbone_macs, feats = _macs(backbone, lambda: backbone(image))
    full = getattr(detector, 'full_channels', None)
    if full is not None:  # slimmable detector: zero-pad as in its forward
        feats = zero_pad_channels(feats, full)
    neck_macs = 0
    neck = getattr(detector, 'neck', None)
    if neck is not None:
        neck_macs, feats = _macs(neck, lambda: neck(feats))
    dense = getattr(detector, 'rpn_head', None) or getattr(
        detector, 'bbox_head', None)
    dense_macs = 0
    if dense is not None:
        dense_macs, _ = _macs(dense, lambda: dense(feats))
    roi_head = getattr(detector, 'roi_head', None)
    roi_macs = 0 if roi_head is None else _roi_head_macs(
        roi_head, num_proposals, num_masks)
    if width is None:
        backbone_params = _params(backbone)
    else:
        backbone_params = _slim_params(backbone, width)
    params = _params(detector) - _params(backbone) + backbone_params
    return DetectorComplexity(width, backbone_macs, neck_macs, dense_macs,
                              roi_macs, backbone_params, params)
