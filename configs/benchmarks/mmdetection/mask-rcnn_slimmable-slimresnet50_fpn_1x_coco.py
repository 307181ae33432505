# Slimmable Mask R-CNN R-50-FPN 1x (SlimCLR's benchmark/): a switchable-BN
# SlimResNet-50 backbone shared by the widths 1.0/0.75/0.5/0.25, all trained
# every iteration (gradients accumulated, one SGD step, clip 35); full-size
# FPN and heads shared by all widths; sub-width stage outputs zero-padded
# to the full channels. Tested at every width (bbox and segm mAP per width).
#
# 1. python tools/model_converters/ssl_to_mmdet.py PRETRAIN.pth --all-widths \
#        --out work_dirs/ssl_to_mmdet/backbone_all-widths.pth
# 2. bash tools/dist_train.sh THIS_CONFIG 8
# The backbone's switchable BNs are per-GPU BNs (mmengine's SyncBN
# conversion would replace them by plain layers, so no `sync_bn` here); the
# FPN and heads use SyncBN.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['slim_plugins'], allow_failed_imports=False)

widths = [1.0, 0.75, 0.5, 0.25]
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='slim_plugins.SlimmableMaskRCNN',
    default_widths=widths,
    step_mode='accumulate',
    loss_weighting='uniform',
    backbone=dict(
        _delete_=True,
        type='slim_plugins.SlimResNet',
        depth=50,
        stem='imagenet',
        width_mode='switchable',
        widths=widths,
        channel_rule='int',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/ssl_to_mmdet/backbone_all-widths.pth',
            prefix='backbone.')),
    neck=dict(in_channels='auto', norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
val_cfg = dict(type='slim_plugins.MultiWidthValLoop', widths=widths)
test_cfg = dict(type='slim_plugins.MultiWidthTestLoop', widths=widths)
# Under DDP the model's multi-width step must run through this wrapper.
model_wrapper_cfg = dict(
    type='slim_plugins.MultiWidthDistributedDataParallel',
    find_unused_parameters=True)
