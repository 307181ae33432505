# Runtime shared by every slim_plugins config.
default_scope = 'slim_plugins'
# Lets other projects' tools (mmpretrain/mmdet train.py) run these configs too.
custom_imports = dict(imports=['slim_plugins'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Checkpoints are written whole or not at all (a killed run never
    # leaves a truncated one to resume from).
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=2,
        backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='VisualizationHook', enable=False),
    # Checkpoints load under torch's restricted unpickler, whichever tool
    # runs the config.
    checkpoint_loading=dict(type='CheckpointLoadingHook'),
    # Saves the random generators in checkpoints; --resume continues them.
    rng_state=dict(type='RNGStateHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
