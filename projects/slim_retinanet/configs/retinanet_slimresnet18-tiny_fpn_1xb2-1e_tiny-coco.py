# CPU-sized variant of retinanet_slimresnet50-w0.5_fpn_1x_coco.py on the
# tiny synthetic COCO set (python tools/data/make_tiny_coco.py --out
# data/tiny_coco): SlimResNet-18 with 16 base channels at width 0.5, a
# 16-channel FPN and head, 96x96 images.
_base_ = './retinanet_slimresnet50-w0.5_fpn_1x_coco.py'

data_root = 'data/tiny_coco/'
classes = ('circle', 'square', 'triangle', 'star')
model = dict(
    backbone=dict(
        depth=18,
        channel_rule='divisible8',
        stem_channels=16,
        base_channels=16,
        init_cfg=dict(
            checkpoint='work_dirs/ssl_to_mmdet/tiny_backbone_w0.5.pth')),
    neck=dict(out_channels=16),
    bbox_head=dict(
        num_classes=len(classes),
        in_channels=16,
        feat_channels=16,
        stacked_convs=2,
        anchor_generator=dict(octave_base_scale=2)),
    test_cfg=dict(nms_pre=200, max_per_img=20))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(96, 96), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
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
default_hooks = dict(
    logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=1))
log_processor = dict(window_size=1)
