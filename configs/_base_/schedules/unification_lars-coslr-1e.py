# Unification's optimiser: SGD momentum 0.9, wd 1e-4 under LARS (eta 0.02,
# clip; 1-D parameters get neither LARS nor weight decay) and no weight
# decay on the gates; linear warm-up then cosine to 0. Sized here for one
# epoch (the paper: 10 warm-up epochs of 500).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='LARSSGD',
        lr=0.3,
        momentum=0.9,
        weight_decay=1e-4,
        eta=0.02,
        clip=True),
    paramwise_cfg=dict(custom_keys={'.gate.': dict(decay_mult=0.)}))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.01,
        by_epoch=False,
        begin=0,
        end=50),
    dict(
        type='CosineAnnealingLR',
        T_max=1,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
]
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=1)
auto_scale_lr = dict(base_batch_size=256)
