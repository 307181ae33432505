# CPU-sized slimmable Mask R-CNN on the tiny COCO-format set: the
# tiny detector of mask-rcnn_slimresnet18-tiny_fpn_1xb2-1e_tiny-coco.py with
# a switchable-BN SlimResNet-18 (widths 1.0 and 0.25 trained every
# iteration, zero-padded into one shared FPN) and a test loop reporting
# bbox/segm mAP per width. Full-size recipe:
# mask-rcnn_slimmable-slimresnet50_fpn_1x_coco.py.
#   python tools/model_converters/ssl_to_mmdet.py PRETRAIN.pth --all-widths \
#       --out work_dirs/ssl_to_mmdet/tiny_backbone_all-widths.pth
_base_ = './mask-rcnn_slimresnet18-tiny_fpn_1xb2-1e_tiny-coco.py'

widths = [1.0, 0.25]
model = dict(
    type='slim_plugins.SlimmableMaskRCNN',
    default_widths=widths,
    step_mode='accumulate',
    loss_weighting='uniform',
    backbone=dict(
        _delete_=True,
        type='slim_plugins.SlimResNet',
        depth=18,
        stem='imagenet',
        stem_channels=16,
        base_channels=16,
        width_mode='switchable',
        widths=widths,
        channel_rule='divisible8',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/ssl_to_mmdet/tiny_backbone_all-widths.pth',
            prefix='backbone.')))

optim_wrapper = dict(clip_grad=dict(max_norm=35, norm_type=2))
val_cfg = dict(type='slim_plugins.MultiWidthValLoop', widths=widths)
test_cfg = dict(type='slim_plugins.MultiWidthTestLoop', widths=widths)
model_wrapper_cfg = dict(
    type='slim_plugins.MultiWidthDistributedDataParallel',
    find_unused_parameters=True)
