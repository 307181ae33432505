# Reproduces a bug of the original (spec 2.9.2), for comparison only: its
# ImageNet-100 schedule tests the dataset name "imagenet-100" while the
# command line passes "imagenet100", so the cosine's T_max assumes 50 000
# images per epoch (500 iterations of 100) instead of the real ~126 000.
# The cosine is periodic past T_max: the learning rate reaches 0 at about
# 40 % of training, climbs back to the peak at 80 %, then decays again.
# The parent config (correct schedule) is the one to use.
_base_ = ['./empssl_resnet18_1xb100-200p-coslr-10e_in100.py']
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=500 * 10,
        by_epoch=False,
        begin=0,
        end=10**9)
]
