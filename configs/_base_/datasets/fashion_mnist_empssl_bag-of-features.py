# EMP-SSL's bag-of-features evaluation on Fashion-MNIST, CPU-sized: every
# image is the mean pre-feature h of 16 patches drawn with the training
# augmentation (the paper: 128), then a linear probe on the cached features
# (SGD 0.03, momentum 0.9, wd 5e-5, batch 100, cosine, 100 epochs as the
# paper: cheap on cached features) and a weighted kNN (k 20, T 0.07).
_base_ = ['./fashion_mnist_bs32_empssl.py']

eval_patches = 16
eval_pipeline = [
    dict(
        type='MultiView',
        num_views=eval_patches,
        transforms=[{{_base_.patch_pipeline}}]),
    dict(type='PackInputs'),
]
eval_dataset = dict(
    type={{_base_.dataset_type}},
    data_root={{_base_.data_root}},
    pipeline=eval_pipeline)
eval_dataloader = dict(
    batch_size=50,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'))
test_dataloader = dict(
    eval_dataloader, dataset=dict(eval_dataset, test_mode=True))
test_cfg = dict(
    type='BagOfFeaturesTestLoop',
    # The probe and the kNN memory: the train split, the same patches.
    train_dataloader=dict(
        eval_dataloader, dataset=dict(eval_dataset, test_mode=False)),
    probe=dict(lr=0.03, momentum=0.9, weight_decay=5e-5, batch_size=100,
               epochs=100),
    knn=dict(k=20, temperature=0.07))
test_evaluator = dict(type='Accuracy', topk=(1, ))
# An evaluation config: nothing is trained by the runner.
train_dataloader = None
