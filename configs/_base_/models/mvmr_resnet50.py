# MV-MR: ResNet-50 (zero-init residuals, h = 2048-d), projector
# 2048-8192-8192-8192 ([Linear without bias, BN, ReLU] x 2, Linear without
# bias, no normalisation of z) and the five hand-crafted representations of
# the original, computed on x_o: pixels, ScatNet (kymatio Scattering2D J=2,
# L=8; optional package), a second augmentation of the pixels, HOG (24 bins,
# 8x8 cells) and the 3x3 local standard deviation. The pixel-like ones are
# divided by 32 as the original does. Set `image_size` (and ScatNet's) to the
# crop size of the dataset config.
image_size = 96
norm_mean = [123.675, 116.28, 103.53]
norm_std = [58.395, 57.12, 57.375]
model = dict(
    type='MVMR',
    backbone=dict(
        type='ResNet',
        depth=50,
        zero_init_residual=True),
    neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=8192,
        out_channels=8192,
        num_layers=3,
        with_bias=False,
        with_last_bn=False,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    representations=[
        dict(type='PixelRepresentation', scale=1 / 32),
        dict(
            type='ScatteringRepresentation',
            image_size=image_size,
            J=2,
            L=8,
            scale=1 / 32),
        dict(
            type='AugmentedPixelRepresentation',
            mean=norm_mean,
            std=norm_std,
            scale=1 / 32),
        dict(type='HOGRepresentation', bins=24, pool_size=8),
        dict(type='LocalStdRepresentation', kernel_size=3),
    ],
    maximize_repr_dependence=True,
    image_size=image_size,
    in_channels=3)
