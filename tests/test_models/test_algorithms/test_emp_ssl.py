# Copyright (c) slim_plugins contributors. All rights reserved.
"""EMPSSL: the patch-major stack, the two loss terms, bad input, and one
iteration through tools/train.py on Fashion-MNIST-format data."""
import math
import os
import os.path as osp

import pytest
import torch
from conftest import REPO_ROOT, run_tool, write_tiny_fashion_mnist
from mmengine.config import Config
from mmengine.registry import init_default_scope

import slim_plugins  # noqa: F401
from slim_plugins.registry import MODELS

CONFIG = osp.join(REPO_ROOT, 'configs', 'emp_ssl',
                  'empssl_resnet18_1xb32-coslr-1e_fashion-mnist.py')


def _model():
    cfg = Config.fromfile(CONFIG)
    init_default_scope('slim_plugins')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def _patches(num_patches=3, batch=4):
    gen = torch.Generator().manual_seed(1)
    return [
        torch.randn(batch, 1, 28, 28, generator=gen)
        for _ in range(num_patches)
    ]


def test_loss_is_the_two_terms_of_the_patch_major_stack():
    model = _model().train()
    views = _patches()
    losses = model.loss(views)
    torch.manual_seed(0)
    z = model.embed(torch.cat(views))['z']
    inv = model.invariance_loss(z, 3)
    tcr = model.tcr_loss(z, 3)
    assert losses['loss_inv'].item() == pytest.approx(inv.item(), rel=1e-5)
    assert losses['loss_tcr'].item() == pytest.approx(tcr.item(), rel=1e-5)
    assert -200 <= losses['loss_inv'].item() <= 200
    assert losses['loss_tcr'].item() < 0
    assert torch.allclose(z.norm(dim=1), torch.ones(len(z)))
    (losses['loss_inv'] + losses['loss_tcr']).backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_rows_are_patch_major():
    # In eval mode BN uses running statistics, so each patch's embedding
    # does not depend on the rest of the stack: chunk i is patch i.
    model = _model().eval()
    views = _patches()
    with torch.no_grad():
        stacked = model.embed(torch.cat(views))['h']
        for i, view in enumerate(views):
            torch.testing.assert_close(
                stacked[i * 4:(i + 1) * 4], model.embed(view)['h'],
                atol=1e-5, rtol=1e-5)


def test_bad_input():
    model = _model()
    with pytest.raises(ValueError, match='1 patch'):
        model.loss(_patches(num_patches=1))
    cfg = Config.fromfile(CONFIG).model
    with pytest.raises(ValueError, match='min_patches=1'):
        MODELS.build(dict(cfg, min_patches=1))
    projector = dict(cfg.projector, in_channels=512)
    with pytest.raises(ValueError, match='gives 1024 features but the '
                       'projector takes 512'):
        MODELS.build(dict(cfg, projector=projector))


def test_one_iteration_through_the_train_tool(tmp_path):
    root = str(tmp_path / 'fashion')
    os.makedirs(root)
    write_tiny_fashion_mnist(root, num_train=8, num_test=4)
    work_dir = str(tmp_path / 'work')
    result = run_tool([
        'tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
        f'train_dataloader.dataset.data_root={root}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1'
    ])
    log = result.stdout + result.stderr
    assert 'Epoch(train) [1][2/2]' in log
    for name in ('loss_inv', 'loss_tcr'):
        value = float(log.split(f'{name}: ')[-1].split()[0])
        assert math.isfinite(value)
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))


SLIM_CONFIG = osp.join(
    REPO_ROOT, 'configs', 'emp_ssl',
    'slim-empssl_slim-resnet18_1xb32-coslr-1e_fashion-mnist.py')


def test_slim_step_trains_every_width_and_distils_the_narrower():
    cfg = Config.fromfile(SLIM_CONFIG)
    init_default_scope('slim_plugins')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.set_train_widths([1.0, 0.5, 0.25])
    views = _patches(num_patches=2)
    optim = torch.optim.SGD(model.parameters(), lr=0.0)
    from mmengine.optim import OptimWrapper
    log = model.train_step(dict(inputs=views, data_samples=None),
                           OptimWrapper(optim))
    # 0.5 is drawn inside the range, so it is logged by position (rand1).
    tcr = sorted(k for k in log if k.startswith('loss_tcr@'))
    assert tcr == ['loss_tcr@rand1', 'loss_tcr@w0.25', 'loss_tcr@w1']
    assert all(math.isfinite(log[k].item()) for k in tcr)
    distill = sorted(k for k in log if k.startswith('loss_distill@'))
    assert distill == ['loss_distill@rand1', 'loss_distill@w0.25']
    assert all(log[k].item() > 0 for k in distill)
    # The widest width's loss is the plain EMP-SSL loss at that width (on
    # the normalised patches, as the step sees them; lr 0: same weights).
    normalised = model.data_preprocessor(
        dict(inputs=views, data_samples=None), True)['inputs']
    with torch.no_grad():
        z = model.embed(torch.cat(normalised))['z']
    assert log['loss_inv@w1'].item() == pytest.approx(
        model.invariance_loss(z, 2).item(), rel=1e-5)
    with pytest.raises(ValueError, match='distill_weight=-1'):
        MODELS.build(dict(cfg.model, distill_weight=-1))


def test_slim_config_trains_through_the_tool(tmp_path):
    root = str(tmp_path / 'fashion')
    os.makedirs(root)
    write_tiny_fashion_mnist(root, num_train=8, num_test=4)
    result = run_tool([
        'tools/train.py', SLIM_CONFIG, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={root}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'default_hooks.logger.interval=1'
    ])
    log = result.stdout + result.stderr
    assert 'loss_distill@w0.25' in log and 'loss_tcr@w1' in log


@pytest.mark.parametrize('config', sorted(
    osp.basename(p) for p in __import__('glob').glob(
        osp.join(REPO_ROOT, 'configs', 'emp_ssl', '*.py'))))
def test_every_config_builds(config):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'emp_ssl', config))
    init_default_scope('slim_plugins')
    MODELS.build(cfg.model)
    (views, ) = [t for t in cfg.train_dataloader.dataset.pipeline
                 if t.type == 'MultiView']
    assert views.num_views >= 2


def test_cifar_patch_pipeline_runs_one_iteration(tmp_path, tiny_cifar10):
    # The paper's colour augmentations on real CIFAR pickles (tiny), 4
    # patches of 4 images, the full-size model: one step of tools/train.py.
    config = osp.join(REPO_ROOT, 'configs', 'emp_ssl',
                      'empssl_resnet18_1xb100-20p-coslr-1e_cifar10.py')
    result = run_tool([
        'tools/train.py', config, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={tiny_cifar10}',
        'train_dataloader.dataset.type=UncheckedCIFAR10',
        'train_dataloader.dataset.indices=4', 'train_dataloader.batch_size=4',
        'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.0.num_views=4',
        'default_hooks.logger.interval=1'
    ])
    log = result.stdout + result.stderr
    assert 'Epoch(train) [1][1/1]' in log
    assert math.isfinite(float(log.split('loss_tcr: ')[-1].split()[0]))


def test_imagenet100_recipe_runs_one_iteration(tmp_path):
    # An ImageNet-style folder of real JPEG files (two classes), 4 patches
    # of 4 images at 64x64 instead of 20 at 224: one step of tools/train.py
    # through the recipe's loader, bicubic crops and colour augmentations.
    from PIL import Image
    gen = torch.Generator().manual_seed(0)
    for i in range(4):
        folder = tmp_path / 'imagenet100' / 'train' / f'n0{i % 2}'
        folder.mkdir(parents=True, exist_ok=True)
        pixels = torch.randint(0, 256, (80, 96, 3), generator=gen)
        Image.fromarray(pixels.to(torch.uint8).numpy()).save(
            folder / f'{i}.JPEG')
    config = osp.join(REPO_ROOT, 'configs', 'emp_ssl',
                      'empssl_resnet18_1xb100-20p-coslr-1e_in100.py')
    result = run_tool([
        'tools/train.py', config, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={tmp_path / "imagenet100"}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'train_dataloader.dataset.pipeline.1.num_views=4',
        'train_dataloader.dataset.pipeline.1.transforms.0.0.scale=64',
        'default_hooks.logger.interval=1'
    ])
    log = result.stdout + result.stderr
    assert 'Epoch(train) [1][1/1]' in log
    assert math.isfinite(float(log.split('loss_tcr: ')[-1].split()[0]))


def test_official_imagenet100_schedule_is_periodic():
    # The bug reproduced by the -official-tmax config: T_max of 5000
    # iterations, so the learning rate is 0 at 5000 and back at its peak at
    # 10 000 (of ~12 600 real iterations).
    from mmengine.optim.scheduler import CosineAnnealingLR
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'emp_ssl',
                 'empssl_resnet18_1xb100-200p-coslr-10e_in100-official-'
                 'tmax.py'))
    (sched_cfg, ) = cfg.param_scheduler
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))],
                                lr=0.3)
    kwargs = {k: v for k, v in sched_cfg.items() if k != 'type'}
    scheduler = CosineAnnealingLR(optimizer, **kwargs)
    lrs = {}
    for step in range(10001):
        lrs[step] = optimizer.param_groups[0]['lr']
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.3)
    assert lrs[5000] == pytest.approx(0.0, abs=1e-9)
    assert lrs[10000] == pytest.approx(0.3, rel=1e-6)


def _shard_worker(rank: int, world_size: int, port: int, data_root: str,
                  out_dir: str) -> None:
    from conftest import gloo_group
    os.environ.pop('CUDA_VISIBLE_DEVICES', None)
    torch.set_num_threads(1)
    with gloo_group(rank, world_size, port):
        _record_shard(rank, data_root, out_dir)


def _record_shard(rank: int, data_root: str, out_dir: str) -> None:
    """One epoch of the Fashion-MNIST EMP-SSL loader on this rank: which
    images it got and how their patches were packed."""
    import json

    from mmengine.runner import Runner
    init_default_scope('slim_plugins')
    cfg = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'emp_ssl',
                 'empssl_resnet18_1xb32-coslr-1e_fashion-mnist.py'))
    loader_cfg = cfg.train_dataloader
    loader_cfg.update(batch_size=4, num_workers=0, persistent_workers=False)
    loader_cfg.dataset.data_root = data_root
    loader = Runner.build_dataloader(loader_cfg, seed=0)
    batches = []
    for batch in loader:
        patches = batch['inputs']
        batches.append(
            dict(
                images=[int(s.sample_idx) for s in batch['data_samples']],
                patches=len(patches),
                shapes=[list(p.shape) for p in patches]))
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(batches, f)


def test_ddp_shards_by_image_never_by_patch(tmp_path):
    # Two gloo ranks: each gets whole images, all 8 patches of each, packed
    # as one tensor per patch index (patch-major); no image on both ranks.
    import json

    import torch.distributed as dist
    from conftest import free_port, spawn_workers
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip('torch.distributed with gloo is not available')
    data_root = tmp_path / 'fashion_mnist'
    data_root.mkdir()
    write_tiny_fashion_mnist(str(data_root), num_train=16)
    spawn_workers(_shard_worker,
                  (2, free_port(), str(data_root), str(tmp_path)),
                  timeout=180)
    seen = {}
    for rank in (0, 1):
        batches = json.loads((tmp_path / f'rank{rank}.json').read_text())
        assert len(batches) == 2  # 8 images per rank, batches of 4
        for batch in batches:
            assert batch['patches'] == 8
            assert batch['shapes'] == [[4, 1, 28, 28]] * 8
            seen.setdefault(rank, []).extend(batch['images'])
    assert not set(seen[0]) & set(seen[1])
    assert sorted(seen[0] + seen[1]) == list(range(16))


def test_solarize_threshold_192_only_in_its_own_config():
    def solarize(name):
        cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'emp_ssl', name))
        (views, ) = [t for t in cfg.train_dataloader.dataset.pipeline
                     if t.type == 'MultiView']
        (step, ) = [t for t in views.transforms[0] if t.type == 'Solarize']
        return step.thr, views.num_views
    assert solarize('empssl_resnet18_1xb100-20p-coslr-1e_cifar10.py') == (
        128, 20)
    assert solarize('empssl_resnet18_1xb100-20p-coslr-1e_cifar10-'
                    'solarize192.py') == (192, 20)
