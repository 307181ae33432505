# Copyright (c) slim_plugins contributors. All rights reserved.
"""tools/data/*: generators and Fashion-MNIST layout, read back through the
real mmpretrain / mmdet dataset classes."""
import gzip
import json
import os
import os.path as osp
import pickle
import struct

import numpy as np
import pytest
from conftest import REPO_ROOT, run_tool
from PIL import Image

DEBIAN_FASHION_MNIST = '/usr/share/datasets/fashion-mnist'
CIFAR = osp.join(REPO_ROOT, 'tools', 'data', 'make_tiny_cifar.py')
IMAGENET = osp.join(REPO_ROOT, 'tools', 'data', 'make_tiny_imagenet.py')
COCO = osp.join(REPO_ROOT, 'tools', 'data', 'make_tiny_coco.py')
FASHION = osp.join(REPO_ROOT, 'tools', 'data', 'prepare_fashion_mnist.py')


def read_tree(root: str) -> dict:
    """Relative path -> bytes of every file under ``root``."""
    tree = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                tree[osp.relpath(path, root)] = f.read()
    return tree


def no_md5(dataset_cls):
    """The dataset class with its md5 table relaxed to existence checks.

    mmpretrain's CIFAR classes compare every batch file with the md5 of the
    official release; generated files can only pass with ``md5=None``.
    """
    return type(
        f'NoMD5{dataset_cls.__name__}', (dataset_cls, ),
        dict(
            train_list=[[name, None] for name, _ in dataset_cls.train_list],
            test_list=[[name, None] for name, _ in dataset_cls.test_list]))


# ------------------------------------------------------------------ CIFAR


def test_tiny_cifar10_through_mmpretrain(tmp_path):
    datasets = pytest.importorskip('mmpretrain.datasets')
    out = str(tmp_path / 'c10')
    run_tool([
        CIFAR, '--out', out, '--num-train', '200', '--num-test', '40',
        '--seed', '1'
    ])
    folder = osp.join(out, 'cifar-10-batches-py')
    assert sorted(os.listdir(folder)) == [
        'batches.meta', 'data_batch_1', 'data_batch_2', 'data_batch_3',
        'data_batch_4', 'data_batch_5', 'test_batch'
    ]

    # The stock class rejects the files: their md5 is not the official one.
    with pytest.raises(RuntimeError, match='Cannot find CIFAR10'):
        datasets.CIFAR10(data_root=out, download=False)

    cifar10 = no_md5(datasets.CIFAR10)
    train = cifar10(data_root=out, split='train', download=False)
    test = cifar10(data_root=out, split='test', download=False)
    assert len(train) == 200 and len(test) == 40
    assert len(train.CLASSES) == 10
    labels = []
    for b in range(1, 6):
        with open(osp.join(folder, f'data_batch_{b}'), 'rb') as f:
            batch = pickle.load(f, encoding='latin1')
        assert batch['data'].dtype == np.uint8
        assert batch['data'].shape == (40, 3072)
        labels += batch['labels']
    assert [int(train.get_data_info(i)['gt_label'])
            for i in range(200)] == labels
    assert np.bincount(labels, minlength=10).tolist() == [20] * 10
    with open(osp.join(folder, 'batches.meta'), 'rb') as f:
        assert len(pickle.load(f, encoding='latin1')['label_names']) == 10

    x_train = np.stack([train.get_data_info(i)['img'] for i in range(200)])
    x_test = np.stack([test.get_data_info(i)['img'] for i in range(40)])
    assert x_train.shape == (200, 32, 32, 3) and x_train.dtype == np.uint8
    # Learnable: nearest class mean on raw pixels beats chance (0.1) by far.
    y_train = np.array(labels)
    y_test = np.array(test.get_gt_labels())
    x_train = x_train.reshape(200, -1).astype(np.float64)
    x_test = x_test.reshape(40, -1).astype(np.float64)
    means = np.stack([x_train[y_train == c].mean(0) for c in range(10)])
    dists = ((x_test[:, None] - means[None])**2).sum(-1)
    assert (dists.argmin(1) == y_test).mean() >= 0.8


def test_tiny_cifar100_through_mmpretrain(tmp_path):
    datasets = pytest.importorskip('mmpretrain.datasets')
    out = str(tmp_path / 'c100')
    run_tool([
        CIFAR, '--out', out, '--num-train', '30', '--num-test', '7', '--seed',
        '0', '--cifar100'
    ])
    folder = osp.join(out, 'cifar-100-python')
    assert sorted(os.listdir(folder)) == ['meta', 'test', 'train']
    cifar100 = no_md5(datasets.CIFAR100)
    train = cifar100(data_root=out, split='train', download=False)
    test = cifar100(data_root=out, split='test', download=False)
    assert len(train) == 30 and len(test) == 7
    assert len(train.CLASSES) == 100
    with open(osp.join(folder, 'train'), 'rb') as f:
        raw = pickle.load(f, encoding='latin1')
    assert train.get_gt_labels().tolist() == raw['fine_labels']
    assert raw['coarse_labels'] == [y // 5 for y in raw['fine_labels']]
    assert train.get_data_info(0)['img'].shape == (32, 32, 3)
    with open(osp.join(folder, 'meta'), 'rb') as f:
        meta = pickle.load(f, encoding='latin1')
    assert len(meta['fine_label_names']) == 100
    assert len(meta['coarse_label_names']) == 20


# --------------------------------------------------------------- ImageNet


def test_tiny_imagenet_through_mmpretrain(tmp_path):
    datasets = pytest.importorskip('mmpretrain.datasets')
    out = str(tmp_path / 'in')
    run_tool([
        IMAGENET, '--out', out, '--num-classes', '3', '--per-class', '4',
        '--val-per-class', '2', '--size', '24', '--seed', '0'
    ])
    with open(osp.join(out, 'meta', 'classes.txt')) as f:
        names = f.read().split()
    assert len(names) == 3

    # folder scan: class names come from the sub-folders
    scanned = datasets.CustomDataset(data_root=out, data_prefix='train')
    assert list(scanned.CLASSES) == names
    assert len(scanned) == 12
    assert np.bincount(scanned.get_gt_labels()).tolist() == [4, 4, 4]

    classes = osp.join(out, 'meta', 'classes.txt')
    for split, num in (('train', 12), ('val', 6)):
        dataset = datasets.ImageNet(
            data_root=out, split=split, classes=classes)
        assert dataset.ann_file.endswith(osp.join('meta', f'{split}.txt'))
        assert list(dataset.CLASSES) == names and len(dataset) == num
        for i in range(num):
            info = dataset.get_data_info(i)
            folder = osp.basename(osp.dirname(info['img_path']))
            assert names.index(folder) == info['gt_label']
            assert info['img_path'].endswith('.JPEG')
            with Image.open(info['img_path']) as img:
                assert img.size == (24, 24) and img.mode == 'RGB'

    annotated = datasets.CustomDataset(
        data_root=out, data_prefix='val', ann_file='meta/val.txt')
    assert annotated.get_gt_labels().tolist() == [0, 0, 1, 1, 2, 2]


# ------------------------------------------------------------------- COCO


def test_tiny_coco_through_mmdet(tmp_path):
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations
    from pycocotools.coco import COCO as CocoAPI
    out = str(tmp_path / 'coco')
    run_tool([
        COCO, '--out', out, '--num-train', '6', '--num-val', '3', '--size',
        '64', '80', '--seed', '0'
    ])
    with open(osp.join(out, 'annotations', 'instances_val.json')) as f:
        categories = json.load(f)['categories']
    assert [c['id'] for c in categories] == list(range(1, len(categories) + 1))
    classes = tuple(c['name'] for c in categories)
    assert len(classes) >= 3

    for split, num in (('train', 6), ('val', 3)):
        ann_file = osp.join(out, 'annotations', f'instances_{split}.json')
        dataset = CocoDataset(
            data_root=out,
            ann_file=f'annotations/instances_{split}.json',
            data_prefix=dict(img=f'{split}/'),
            metainfo=dict(classes=classes))
        coco = CocoAPI(ann_file)
        assert len(dataset) == num
        assert len(coco.getAnnIds()) == sum(
            len(dataset.get_data_info(i)['instances']) for i in range(num))
        load = LoadAnnotations(with_bbox=True, with_mask=True)
        for i in range(num):
            info = dataset.get_data_info(i)
            with Image.open(info['img_path']) as img:
                assert img.size == (80, 64)
            assert (info['height'], info['width']) == (64, 80)
            assert info['instances'], 'every image holds a shape'
            results = load(dict(info, ori_shape=(64, 80)))
            masks = results['gt_masks'].to_ndarray()
            for instance, mask, ann in zip(
                    info['instances'], masks,
                    coco.loadAnns(coco.getAnnIds(imgIds=info['img_id']))):
                assert instance['ignore_flag'] == 0 and ann['iscrowd'] == 0
                assert 0 <= instance['bbox_label'] < len(classes)
                # bbox is the tight box of the polygon, area its area
                poly = np.array(instance['mask'][0]).reshape(-1, 2)
                x1, y1, x2, y2 = instance['bbox']
                np.testing.assert_allclose([x1, y1, x2, y2],
                                           [*poly.min(0), *poly.max(0)],
                                           atol=0.02)
                xs, ys = poly[:, 0], poly[:, 1]
                shoelace = abs(
                    np.dot(xs, np.roll(ys, -1)) -
                    np.dot(np.roll(xs, -1), ys)) / 2
                assert ann['area'] == pytest.approx(shoelace, abs=0.02)
                # the rasterised mask agrees with box (within the pixel
                # grid) and area
                rows, cols = np.nonzero(mask)
                assert abs(cols.min() - x1) <= 2
                assert abs(cols.max() + 1 - x2) <= 2
                assert abs(rows.min() - y1) <= 2
                assert abs(rows.max() + 1 - y2) <= 2
                assert mask.sum() == pytest.approx(ann['area'], rel=0.2)


# ---------------------------------------------------------- Determinism

GENERATORS = {
    'cifar10': [CIFAR, '--num-train', '12', '--num-test', '4'],
    'cifar100': [CIFAR, '--num-train', '12', '--num-test', '4', '--cifar100'],
    'imagenet': [
        IMAGENET, '--num-classes', '2', '--per-class', '2', '--val-per-class',
        '1', '--size', '16'
    ],
    'coco': [COCO, '--num-train', '2', '--num-val', '1', '--size', '32', '40'],
}


@pytest.mark.parametrize('name', list(GENERATORS))
def test_generators_deterministic(tmp_path, name):
    trees = {}
    for run, seed in (('a', 3), ('b', 3), ('c', 4)):
        out = str(tmp_path / run)
        cwd = tmp_path / f'cwd_{run}'
        cwd.mkdir()
        run_tool([*GENERATORS[name], '--out', out, '--seed',
                  str(seed)],
                 cwd=str(cwd))
        assert not os.listdir(cwd), 'nothing is written outside --out'
        trees[run] = read_tree(out)
    assert trees['a'] and trees['a'] == trees['b']
    assert trees['a'].keys() == trees['c'].keys()
    assert trees['a'] != trees['c']


@pytest.mark.parametrize('args', [
    [CIFAR, '--num-train', '0'],
    [CIFAR, '--num-test', '-1', '--cifar100'],
    [IMAGENET, '--per-class', '0'],
    [IMAGENET, '--size', '4'],
    [COCO, '--num-val', '0'],
    [COCO, '--size', '8', '64'],
])
def test_generators_reject_invalid_args(tmp_path, args):
    out = tmp_path / 'out'
    result = run_tool([*args, '--out', str(out)], check=False)
    assert result.returncode != 0
    assert 'error:' in result.stderr and 'must be' in result.stderr
    assert args[1] in result.stderr  # names the option to change
    assert 'Traceback' not in result.stderr
    assert not out.exists()


# ---------------------------------------------------------- Fashion-MNIST


def write_idx(path: str, array: np.ndarray, magic: int) -> None:
    """Write ``array`` (uint8) as an idx file, gzipped for ``*.gz``."""
    data = struct.pack(f'>{array.ndim + 1}I', magic, *array.shape)
    data += array.astype(np.uint8).tobytes()
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'wb') as f:
        f.write(data)


def synthetic_fashion_src(folder, num_train=5, num_test=3):
    """Tiny idx files: gzipped train split, raw test split."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, num, suffix in (('train', num_train, '.gz'), ('t10k', num_test,
                                                             '')):
        imgs = rng.integers(0, 256, size=(num, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=num, dtype=np.uint8)
        write_idx(
            osp.join(folder, f'{split}-images-idx3-ubyte{suffix}'), imgs, 2051)
        write_idx(
            osp.join(folder, f'{split}-labels-idx1-ubyte{suffix}'), labels,
            2049)
        arrays[split] = (imgs, labels)
    return arrays


def test_prepare_fashion_mnist_from_src(tmp_path):
    datasets = pytest.importorskip('mmpretrain.datasets')
    src, out, cwd = tmp_path / 'src', tmp_path / 'out', tmp_path / 'cwd'
    src.mkdir()
    cwd.mkdir()
    arrays = synthetic_fashion_src(str(src))
    run_tool([FASHION, '--src', str(src), '--out', str(out)], cwd=str(cwd))
    assert sorted(os.listdir(out)) == [
        't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte',
        'train-images-idx3-ubyte', 'train-labels-idx1-ubyte'
    ]
    assert not os.listdir(cwd), 'nothing is written outside --out'

    train = datasets.FashionMNIST(data_root=str(out), download=False)
    # mmpretrain 1.2.0 selects the split by test_mode, not by split
    test = datasets.FashionMNIST(
        data_root=str(out), split='test', test_mode=True, download=False)
    assert len(train) == 5 and len(test) == 3
    assert len(train.CLASSES) == 10
    for dataset, (imgs, labels) in ((train, arrays['train']),
                                    (test, arrays['t10k'])):
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            np.testing.assert_array_equal(info['img'], imgs[i])
            assert int(info['gt_label']) == labels[i]

    # idempotent: a second run copies nothing
    mtimes = {
        name: os.stat(out / name).st_mtime_ns
        for name in os.listdir(out)
    }
    again = run_tool([FASHION, '--src', str(src), '--out', str(out)])
    assert again.stdout.count('skipped') == 4
    assert mtimes == {
        name: os.stat(out / name).st_mtime_ns
        for name in os.listdir(out)
    }


@pytest.mark.skipif(
    not osp.isdir(DEBIAN_FASHION_MNIST),
    reason='Debian package dataset-fashion-mnist is not installed')
def test_prepare_fashion_mnist_from_debian(tmp_path):
    datasets = pytest.importorskip('mmpretrain.datasets')
    out = str(tmp_path / 'fm')
    run_tool([FASHION, '--out', out])
    assert osp.getsize(osp.join(
        out, 'train-images-idx3-ubyte')) == (16 + 60000 * 28 * 28)
    test = datasets.FashionMNIST(
        data_root=out, split='test', test_mode=True, download=False)
    assert len(test) == 10000
    assert test.get_data_info(0)['img'].shape == (28, 28)
    assert np.bincount(test.get_gt_labels()).tolist() == [1000] * 10


def test_prepare_fashion_mnist_missing_files(tmp_path):
    src, out = tmp_path / 'empty', tmp_path / 'out'
    src.mkdir()
    result = run_tool(
        [FASHION, '--src', str(src), '--out',
         str(out)], check=False)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert str(src) in result.stderr
    assert '--src DIR' in result.stderr
    assert 'apt-get install -y dataset-fashion-mnist' in result.stderr
    assert not out.exists()


def test_prepare_fashion_mnist_rejects_wrong_files(tmp_path):
    src, out = tmp_path / 'src', tmp_path / 'out'
    src.mkdir()
    synthetic_fashion_src(str(src))
    # a label file where an image file belongs
    write_idx(str(src / 't10k-images-idx3-ubyte'), np.zeros(3, np.uint8), 2049)
    result = run_tool(
        [FASHION, '--src', str(src), '--out',
         str(out)], check=False)
    assert result.returncode == 1
    assert 'magic number 2049' in result.stderr
    assert not out.exists()
