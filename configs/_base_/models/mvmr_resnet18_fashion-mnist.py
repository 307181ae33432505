# MV-MR sized for 28x28 grey images on 2 CPU cores: the 1-channel ResNet-18
# of the other Fashion-MNIST configs (ImageNet stem, half the channels, 256
# features, zero-init residuals as MV-MR's), a projector 256-1024-1024-1024
# of the paper's form (2048-8192-8192-8192: [Linear without bias, BN, ReLU]
# x 2, Linear without bias), and four hand-crafted representations of x_o
# (ScatNet needs the optional kymatio; add
# dict(type='ScatteringRepresentation', image_size=28, scale=1 / 32)).
norm_mean, norm_std = [72.94], [90.0]
model = dict(
    type='MVMR',
    backbone=dict(
        type='ResNet',
        depth=18,
        in_channels=1,
        stem_channels=32,
        base_channels=32,
        norm_cfg=dict(type='BN'),
        zero_init_residual=True),
    neck=dict(
        type='NonLinearNeck',
        in_channels=256,
        hid_channels=1024,
        out_channels=1024,
        num_layers=3,
        with_bias=False,
        with_last_bn=False,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    representations=[
        dict(type='PixelRepresentation', scale=1 / 32),
        dict(
            type='AugmentedPixelRepresentation',
            mean=norm_mean,
            std=norm_std,
            scale=1 / 32),
        # 28 / 4 = 7x7 cells (the paper's 8x8 cells on 96x96 give 12x12).
        dict(type='HOGRepresentation', bins=24, pool_size=4),
        dict(type='LocalStdRepresentation', kernel_size=3),
    ],
    maximize_repr_dependence=True,
    image_size=28,
    in_channels=1)
