# Mask R-CNN R-50-FPN 1x transfer of a slim backbone deployed at width 0.25
# (see mask-rcnn_slimresnet50-w1.0_fpn_1x_coco.py). Weights:
# python tools/model_converters/ssl_to_mmdet.py PRETRAIN.pth --width 0.25 \
#     --out work_dirs/ssl_to_mmdet/backbone_w0.25.pth
_base_ = './mask-rcnn_slimresnet50-w1.0_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        width=0.25,
        init_cfg=dict(
            checkpoint='work_dirs/ssl_to_mmdet/backbone_w0.25.pth')))
