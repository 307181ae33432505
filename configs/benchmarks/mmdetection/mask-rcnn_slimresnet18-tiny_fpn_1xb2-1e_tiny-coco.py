# CPU-sized Mask R-CNN on the tiny synthetic COCO-format set
# (python tools/data/make_tiny_coco.py --out data/tiny_coco): a
# SlimResNet-18 with 16 base channels deployed at one width, 16-channel FPN
# and heads, 96x96 images, one epoch. Same structure and protocol as
# mask-rcnn_slimresnet50-w*_fpn_1x_coco.py; for smoke tests and examples.
#   python tools/model_converters/ssl_to_mmdet.py PRETRAIN.pth --width 0.25 \
#       --out work_dirs/ssl_to_mmdet/tiny_backbone_w0.25.pth
#   python tools/train.py THIS_CONFIG --cfg-options model.backbone.width=0.25 \
#       model.backbone.init_cfg.checkpoint=work_dirs/ssl_to_mmdet/tiny_backbone_w0.25.pth
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['slim_plugins'], allow_failed_imports=False)

data_root = 'data/tiny_coco/'
classes = ('circle', 'square', 'triangle', 'star')
image_scale = (96, 96)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='slim_plugins.DeployedMaskRCNN',
    backbone=dict(
        _delete_=True,
        type='slim_plugins.DeployedSlimResNet',
        depth=18,
        width=1.0,
        channel_rule='divisible8',
        stem='imagenet',
        stem_channels=16,
        base_channels=16,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/ssl_to_mmdet/tiny_backbone_w1.0.pth',
            prefix='backbone.')),
    neck=dict(in_channels='auto', out_channels=16, norm_cfg=norm_cfg),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=16),
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            in_channels=16,
            conv_out_channels=16,
            fc_out_channels=32,
            num_classes=len(classes),
            norm_cfg=norm_cfg),
        mask_roi_extractor=dict(out_channels=16),
        mask_head=dict(
            num_convs=2,
            in_channels=16,
            conv_out_channels=16,
            num_classes=len(classes),
            norm_cfg=norm_cfg)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=200, max_per_img=100),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(
        rpn=dict(nms_pre=200, max_per_img=100), rcnn=dict(max_per_img=20)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=1, val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=1))
log_processor = dict(window_size=1)
