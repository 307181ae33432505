# Mask R-CNN R-50-FPN 1x transfer of a slim (US3L / SlimCLR) backbone
# deployed at one width: SSL transfer protocol (SyncBN everywhere,
# norm_eval=False, frozen_stages=-1, Shared4Conv1FC box head), single-scale
# 1333x800 and the 1x schedule as in SlimCLR's benchmark/ (its lr 0.08 for
# 64 images = mmdet's 0.02 for 16).
#
# 1. python tools/model_converters/ssl_to_mmdet.py PRETRAIN.pth --width 1.0 \
#        --out work_dirs/ssl_to_mmdet/backbone_w1.0.pth
# 2. bash tools/dist_train.sh THIS_CONFIG 8
# The FPN's in_channels are derived from the backbone ('auto'), so the
# w0.75/w0.5/w0.25 configs change only the width and the weights.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['slim_plugins'], allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='slim_plugins.DeployedMaskRCNN',
    backbone=dict(
        _delete_=True,
        type='slim_plugins.DeployedSlimResNet',
        depth=50,
        width=1.0,
        # 'int' is SlimCLR's rule, 'divisible8' US3L's; they agree at
        # 0.25/0.5/0.75/1.0. Must match the converted checkpoint.
        channel_rule='int',
        stem='imagenet',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/ssl_to_mmdet/backbone_w1.0.pth',
            prefix='backbone.')),
    neck=dict(in_channels='auto', norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))
