# Unification, STL-10 (train + unlabeled as an image folder,
# data/stl10/train/), the paper's recipe at t = 0.5: the ImageNet-100 one at
# 96x96 (dense 3.33E8 MACs; the paper: dense 85.75 / gated 85.72 at 48.41 %).
_base_ = ['./dual-vicreg-t0.5_gated-resnet18_2xb256-amp-coslr-500e_in100.py']
crop_size = 96
view_pipeline = [
    dict(
        type='RandomResizedCrop',
        scale=crop_size,
        crop_ratio_range=(0.2, 1.),
        backend='pillow'),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.2,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
    dict(type='Solarize', thr=128, prob=0.1),
    dict(type='RandomFlip', prob=0.5),
]
train_dataloader = dict(
    dataset=dict(
        data_root='data/stl10',
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[view_pipeline, view_pipeline]),
            dict(type='PackInputs'),
        ]))
