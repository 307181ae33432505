# RetinaNet R-50-FPN 1x with a US3L/SlimCLR backbone deployed at width 0.5,
# written as an mmdet config: mmdet's base, default_scope 'mmdet', our
# components pulled in with custom_imports and named with their scope.
# Run from the repository root with PYTHONPATH=$(pwd) (see README.md).
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
custom_imports = dict(
    imports=['slim_plugins', 'projects.slim_retinanet.slim_retinanet'],
    allow_failed_imports=False)

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='AutoNeckRetinaNet',  # this project's detector (mmdet registry)
    backbone=dict(
        _delete_=True,
        type='slim_plugins.DeployedSlimResNet',  # scoped: slim_plugins
        depth=50,
        width=0.5,
        channel_rule='int',
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='work_dirs/ssl_to_mmdet/backbone_w0.5.pth',
            prefix='backbone.')),
    neck=dict(in_channels='auto'))
