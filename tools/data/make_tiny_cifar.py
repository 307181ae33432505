# Copyright (c) slim_plugins contributors. All rights reserved.
"""Write a tiny synthetic CIFAR-10/100 in the real python-pickle format.

The layout matches the official archives, so mmpretrain's ``CIFAR10`` and
``CIFAR100`` parse it (after relaxing their md5 table, see the note)::

    OUT/cifar-10-batches-py/              OUT/cifar-100-python/
    ├── batches.meta                      ├── meta
    ├── data_batch_1 ... data_batch_5     ├── train
    └── test_batch                        └── test

Each batch is a pickled dict with ``data`` (uint8, ``N x 3072``, the R, G and
B planes of a 32x32 image one after the other), ``labels`` (CIFAR-10) or
``fine_labels`` + ``coarse_labels`` (CIFAR-100, coarse = fine // 5),
``filenames`` and ``batch_label``.

Every class has its own pattern (a hue and an oriented sine grating of a
class-specific frequency); a sample is its class pattern, randomly shifted,
with random contrast, brightness and Gaussian noise, so a small classifier
can learn the labels. Outputs depend only on the arguments: the same
``--seed`` gives byte-identical files.

Note:
    mmpretrain 1.2.0's ``CIFAR10._check_integrity`` compares the md5 of
    every batch file with the md5 of the official release, and on mismatch
    tries to download the archive (``download=True``) or raises
    ``RuntimeError`` (``download=False``). Synthetic files never match, and
    the class offers no argument to skip the check. The one override point is
    its ``train_list``/``test_list`` tables of ``[filename, md5]`` pairs:
    ``_check_integrity`` only checks the existence of an entry whose md5 is
    ``None``. So read these files through a subclass that sets the md5s to
    ``None``, e.g.::

        class TinyCIFAR10(CIFAR10):
            train_list = [[name, None] for name, _ in CIFAR10.train_list]
            test_list = [[name, None] for name, _ in CIFAR10.test_list]

    The md5 of ``batches.meta``/``meta`` is checked only when no class names
    are given, which never happens with the built-in ``METAINFO``.

Example:
    python tools/data/make_tiny_cifar.py --out data/tiny_cifar10 \
        --num-train 500 --num-test 100 --seed 0
"""
import argparse
import math
import os
import os.path as osp
import pickle
import sys
from typing import Dict, List, Optional

import numpy as np

CIFAR10_FOLDER = 'cifar-10-batches-py'
CIFAR100_FOLDER = 'cifar-100-python'
CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog',
                   'frog', 'horse', 'ship', 'truck')
NUM_CIFAR10_BATCHES = 5
NUM_FINE_PER_COARSE = 5  # CIFAR-100: 20 superclasses of 5 classes each
IMG_SIZE = 32
PICKLE_PROTOCOL = 2  # the protocol of the official python-2 pickles


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    """Convert one HSV colour (each in [0, 1]) to RGB in [0, 1]."""
    i = int(h * 6) % 6
    f = h * 6 - math.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return np.array(rgb, dtype=np.float64)


def class_patterns(num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Draw the pattern parameters of every class.

    Class ``c`` gets a hue of ``c / num_classes`` (shifted by a random
    offset) and a sine grating whose orientation and frequency depend on
    ``c``, so neighbouring classes differ in colour and texture.

    Args:
        num_classes (int): Number of classes.
        rng (np.random.Generator): Random generator for the offsets.

    Returns:
        np.ndarray: Per class ``(r, g, b, theta, freq, phase)`` with the
        colour in [0, 1], shape ``(C, 6)``.
    """
    hue_offset = rng.random()
    golden = (math.sqrt(5) - 1) / 2
    patterns = np.empty((num_classes, 6))
    for c in range(num_classes):
        patterns[c, :3] = _hsv_to_rgb((hue_offset + c / num_classes) % 1.0,
                                      0.75, 0.9)
        patterns[c, 3] = math.pi * ((c * golden) % 1.0)  # orientation
        patterns[c, 4] = 2 * math.pi * (1 + c % 4) / IMG_SIZE  # frequency
        patterns[c, 5] = rng.random() * 2 * math.pi  # phase
    return patterns


def render_samples(patterns: np.ndarray, labels: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Render noisy instances of the class patterns.

    Each sample is its class grating with a random phase shift (a
    translation), random contrast and brightness, and Gaussian noise.

    Args:
        patterns (np.ndarray): Class parameters from :func:`class_patterns`.
        labels (np.ndarray): Class index of every sample, shape ``(N, )``.
        rng (np.random.Generator): Random generator.

    Returns:
        np.ndarray: Images as uint8, shape ``(N, 32, 32, 3)``.
    """
    yy, xx = np.mgrid[0:IMG_SIZE, 0:IMG_SIZE].astype(np.float64)
    imgs = np.empty((len(labels), IMG_SIZE, IMG_SIZE, 3), dtype=np.uint8)
    for i, label in enumerate(labels):
        r, g, b, theta, freq, phase = patterns[label]
        phase += rng.uniform(-math.pi / 2, math.pi / 2)
        wave = np.sin(freq * (xx * math.cos(theta) + yy * math.sin(theta)) +
                      phase)
        shade = 0.55 + 0.35 * rng.uniform(0.7, 1.0) * wave  # in [0.2, 0.9]
        img = 255 * shade[..., None] * np.array([r, g, b])
        img = img + rng.uniform(-20, 20) + rng.normal(0, 12, size=img.shape)
        imgs[i] = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return imgs


def _balanced_labels(num: int, num_classes: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Labels covering the classes as evenly as possible, shuffled."""
    return rng.permutation(np.arange(num) % num_classes)


def _to_rows(imgs: np.ndarray) -> np.ndarray:
    """HWC uint8 images -> CIFAR rows (R plane, G plane, B plane)."""
    return np.ascontiguousarray(imgs.transpose(0, 3, 1,
                                               2)).reshape(len(imgs), -1)


def _dump(obj: dict, path: str) -> None:
    """Pickle ``obj`` to ``path`` with the protocol of the official files."""
    with open(path, 'wb') as f:
        pickle.dump(obj, f, protocol=PICKLE_PROTOCOL)


def _check_args(num_train: int, num_test: int) -> None:
    """Raise ``ValueError`` for sample counts a loader cannot use."""
    for name, value in (('num_train', num_train), ('num_test', num_test)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(
                f'{name} (--{name.replace("_", "-")}) must be an integer '
                f'>= 1, but got {value!r}.')


def make_tiny_cifar(out_dir: str,
                    num_train: int = 500,
                    num_test: int = 100,
                    seed: int = 0,
                    cifar100: bool = False) -> str:
    """Write a tiny CIFAR-10/100 in the official pickle format.

    Args:
        out_dir (str): Folder to pass as ``data_root`` to mmpretrain's
            ``CIFAR10``/``CIFAR100``; the batches go into
            ``cifar-10-batches-py`` or ``cifar-100-python`` inside it.
        num_train (int): Number of training images. Defaults to 500.
        num_test (int): Number of test images. Defaults to 100.
        seed (int): Random seed; equal seeds give byte-identical files.
            Defaults to 0.
        cifar100 (bool): Write CIFAR-100 (100 fine / 20 coarse classes)
            instead of CIFAR-10. Defaults to False.

    Returns:
        str: The folder holding the batch files.

    Raises:
        ValueError: If ``num_train`` or ``num_test`` is below 1.

    Example:
        >>> folder = make_tiny_cifar('/tmp/tiny_cifar', 50, 10, seed=1)
        >>> sorted(os.listdir(folder))[:2]
        ['batches.meta', 'data_batch_1']
    """
    _check_args(num_train, num_test)
    num_classes = 100 if cifar100 else 10
    rng = np.random.default_rng(seed)
    patterns = class_patterns(num_classes, rng)
    splits: Dict[str, Dict[str, np.ndarray]] = {}
    for split, num in (('train', num_train), ('test', num_test)):
        labels = _balanced_labels(num, num_classes, rng)
        print(
            f'[{split}] rendering {num} images of {num_classes} classes',
            flush=True)
        splits[split] = dict(
            labels=labels,
            rows=_to_rows(render_samples(patterns, labels, rng)))

    folder = osp.join(out_dir, CIFAR100_FOLDER if cifar100 else CIFAR10_FOLDER)
    os.makedirs(folder, exist_ok=True)
    if cifar100:
        _write_cifar100(folder, splits)
    else:
        _write_cifar10(folder, splits)
    print(
        f'Tiny CIFAR-{num_classes} ({num_train} train, {num_test} test) '
        f'written to {folder}',
        flush=True)
    return folder


def _filenames(labels: np.ndarray, start: int, names: List[str]) -> list:
    """CIFAR-style file names such as ``'synthetic_cat_s_000012.png'``."""
    return [
        f'synthetic_{names[label]}_s_{start + i:06d}.png'
        for i, label in enumerate(labels)
    ]


def _write_cifar10(folder: str, splits: Dict[str, Dict]) -> None:
    """Write ``data_batch_1..5``, ``test_batch`` and ``batches.meta``."""
    names = list(CIFAR10_CLASSES)
    train = splits['train']
    bounds = np.linspace(0, len(train['labels']),
                         NUM_CIFAR10_BATCHES + 1).round().astype(int)
    for b in range(NUM_CIFAR10_BATCHES):
        lo, hi = bounds[b], bounds[b + 1]
        labels = train['labels'][lo:hi]
        _dump(
            {
                'batch_label':
                f'training batch {b + 1} of {NUM_CIFAR10_BATCHES}',
                'labels': [int(x) for x in labels],
                'data': train['rows'][lo:hi],
                'filenames': _filenames(labels, int(lo), names),
            }, osp.join(folder, f'data_batch_{b + 1}'))
        print(f'  data_batch_{b + 1}: {hi - lo} images', flush=True)
    test = splits['test']
    _dump(
        {
            'batch_label': 'testing batch 1 of 1',
            'labels': [int(x) for x in test['labels']],
            'data': test['rows'],
            'filenames': _filenames(test['labels'], 0, names),
        }, osp.join(folder, 'test_batch'))
    _dump(
        {
            'num_cases_per_batch': int(bounds[1] - bounds[0]),
            'label_names': names,
            'num_vis': IMG_SIZE * IMG_SIZE * 3,
        }, osp.join(folder, 'batches.meta'))


def _write_cifar100(folder: str, splits: Dict[str, Dict]) -> None:
    """Write ``train``, ``test`` and ``meta`` with fine and coarse labels."""
    fine_names = [f'class_{i:02d}' for i in range(100)]
    coarse_names = [
        f'superclass_{i:02d}' for i in range(100 // NUM_FINE_PER_COARSE)
    ]
    for split, batch_label in (('train', 'training batch 1 of 1'),
                               ('test', 'testing batch 1 of 1')):
        labels = splits[split]['labels']
        _dump(
            {
                'filenames': _filenames(labels, 0, fine_names),
                'batch_label': batch_label,
                'fine_labels': [int(x) for x in labels],
                'coarse_labels':
                [int(x) // NUM_FINE_PER_COARSE for x in labels],
                'data': splits[split]['rows'],
            }, osp.join(folder, split))
    _dump({
        'fine_label_names': fine_names,
        'coarse_label_names': coarse_names
    }, osp.join(folder, 'meta'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse command line arguments."""
    parser = argparse.ArgumentParser(
        description='Write a tiny synthetic CIFAR-10/100 in the official '
        "python-pickle format (readable by mmpretrain's CIFAR10/CIFAR100 "
        'once their md5 table is relaxed, see the module docstring).')
    parser.add_argument(
        '--out', required=True, help='output folder (the data_root)')
    parser.add_argument(
        '--num-train',
        type=int,
        default=500,
        help='number of training images (default: 500)')
    parser.add_argument(
        '--num-test',
        type=int,
        default=100,
        help='number of test images (default: 100)')
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)')
    parser.add_argument(
        '--cifar100',
        action='store_true',
        help='write CIFAR-100 (100 fine, 20 coarse classes) instead of '
        'CIFAR-10')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the command line tool."""
    args = parse_args(argv)
    try:
        make_tiny_cifar(args.out, args.num_train, args.num_test, args.seed,
                        args.cifar100)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main()
