# SlimCLR-MoCoV3's linear evaluation (spec B.6-B.7): the MoCoV2 protocol
# with SGD lr 0.4 (no weight decay), a cosine over 90 epochs, 8 GPUs x 128.
_base_ = ['./slim-resnet50_switchable-linear-4xb256-steplr-100e_in1k.py']
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = dict(batch_size=128)
optim_wrapper = dict(optimizer=dict(lr=0.4))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=90, by_epoch=True, begin=0, end=90)
]
train_cfg = dict(max_epochs=90)
