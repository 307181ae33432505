# Copyright (c) slim_plugins contributors. All rights reserved.
"""Write a tiny synthetic ImageNet-style class-folder dataset.

Layout (the first of the two formats documented by mmpretrain's
``ImageNet``, plus its ``meta/*.txt`` annotation files)::

    OUT/
    ├── train/n00000000/n00000000_0.JPEG ...
    ├── val/n00000000/ILSVRC2012_val_00000001.JPEG ...
    └── meta/
        ├── train.txt    # "n00000000/n00000000_0.JPEG 0", relative to train/
        ├── val.txt      # "n00000000/ILSVRC2012_val_00000001.JPEG 0"
        └── classes.txt  # one class (folder) name per line, in label order

Readers:

* ``CustomDataset(data_root=OUT, data_prefix='train')`` scans the folders
  and takes the class names from them (sorted, equal to ``classes.txt``).
* ``ImageNet(data_root=OUT, split='val', classes=OUT + '/meta/classes.txt')``
  reads ``meta/val.txt``. Pass the class names: ``ImageNet`` otherwise
  keeps the 1000 ImageNet names, and a folder scan (no annotation file)
  then fails its "number of subfolders" check.

Class ``c`` has a hue and grating orientation of its own and a shape
(disc, square, triangle) of kind ``c % 3``; samples vary position, phase,
size and noise, so a classifier can learn the labels. Equal ``--seed``
values give byte-identical files.

Example:
    python tools/data/make_tiny_imagenet.py --out data/tiny_imagenet \
        --num-classes 10 --per-class 20 --size 64 --seed 0
"""
import argparse
import math
import os
import os.path as osp
import sys
from typing import List, Optional

import numpy as np
from PIL import Image, ImageDraw

JPEG_QUALITY = 90
MIN_SIZE = 16


def class_names(num_classes: int) -> List[str]:
    """WordNet-id-like folder names, ``n00000000``, ``n00000001``, ..."""
    return [f'n{c:08d}' for c in range(num_classes)]


def render_image(label: int, num_classes: int, size: int,
                 rng: np.random.Generator) -> Image.Image:
    """Render one sample of class ``label``.

    Args:
        label (int): Class index.
        num_classes (int): Number of classes (spreads the hues).
        size (int): Image height and width in pixels.
        rng (np.random.Generator): Random generator.

    Returns:
        PIL.Image.Image: An RGB image of ``size x size``.
    """
    hue = label / num_classes
    colour = np.array(
        [0.5 + 0.4 * math.cos(2 * math.pi * (hue + k / 3)) for k in range(3)])
    theta = math.pi * ((label * (math.sqrt(5) - 1) / 2) % 1.0)
    freq = 2 * math.pi * (1 + label % 3) / size * 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    wave = np.sin(freq * (xx * math.cos(theta) + yy * math.sin(theta)) +
                  rng.uniform(0, 2 * math.pi))
    img = 255 * (0.5 + 0.3 * wave)[..., None] * colour
    img = img + rng.normal(0, 10, size=img.shape)
    pil = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))

    # a class-specific shape in the complementary colour
    radius = size * rng.uniform(0.15, 0.3)
    cx, cy = rng.uniform(radius, size - radius, size=2)
    fill = tuple(int(v) for v in np.rint(255 * (1 - colour)))
    draw = ImageDraw.Draw(pil)
    kind = label % 3
    if kind == 0:
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius],
                     fill=fill)
    elif kind == 1:
        draw.rectangle([cx - radius, cy - radius, cx + radius, cy + radius],
                       fill=fill)
    else:
        draw.polygon([(cx + radius * math.cos(a), cy + radius * math.sin(a))
                      for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)],
                     fill=fill)
    return pil


def _check_args(num_classes: int, per_class: int, val_per_class: int,
                size: int) -> None:
    """Raise ``ValueError`` for arguments that give no usable dataset."""
    for name, value, low in (('num_classes', num_classes,
                              1), ('per_class', per_class,
                                   1), ('val_per_class', val_per_class, 1),
                             ('size', size, MIN_SIZE)):
        if not isinstance(value, int) or value < low:
            raise ValueError(
                f'{name} (--{name.replace("_", "-")}) must be an integer '
                f'>= {low}, but got {value!r}.')


def make_tiny_imagenet(out_dir: str,
                       num_classes: int = 10,
                       per_class: int = 10,
                       val_per_class: int = 2,
                       size: int = 64,
                       seed: int = 0) -> List[str]:
    """Write a tiny ImageNet-style dataset with annotation files.

    Args:
        out_dir (str): Output folder (the ``data_root``).
        num_classes (int): Number of classes. Defaults to 10.
        per_class (int): Training images per class. Defaults to 10.
        val_per_class (int): Validation images per class. Defaults to 2.
        size (int): Image height and width, at least 16. Defaults to 64.
        seed (int): Random seed; equal seeds give byte-identical files.
            Defaults to 0.

    Returns:
        list[str]: The class (folder) names in label order.

    Raises:
        ValueError: If a count is below 1 or ``size`` below 16.

    Example:
        >>> names = make_tiny_imagenet('/tmp/tiny_in', 3, 4, 1, 32, seed=0)
        >>> names
        ['n00000000', 'n00000001', 'n00000002']
    """
    _check_args(num_classes, per_class, val_per_class, size)
    rng = np.random.default_rng(seed)
    names = class_names(num_classes)
    meta_dir = osp.join(out_dir, 'meta')
    os.makedirs(meta_dir, exist_ok=True)
    val_index = 0
    for split, num in (('train', per_class), ('val', val_per_class)):
        lines = []
        total = num_classes * num
        for label, name in enumerate(names):
            os.makedirs(osp.join(out_dir, split, name), exist_ok=True)
            for i in range(num):
                if split == 'train':
                    filename = f'{name}/{name}_{i}.JPEG'
                else:
                    val_index += 1
                    filename = f'{name}/ILSVRC2012_val_{val_index:08d}.JPEG'
                render_image(label, num_classes, size, rng).save(
                    osp.join(out_dir, split, filename), quality=JPEG_QUALITY)
                lines.append(f'{filename} {label}\n')
            print(f'[{split}] {len(lines)}/{total} images', flush=True)
        with open(osp.join(meta_dir, f'{split}.txt'), 'w') as f:
            f.writelines(lines)
    with open(osp.join(meta_dir, 'classes.txt'), 'w') as f:
        f.writelines(f'{name}\n' for name in names)
    print(
        f'Tiny ImageNet ({num_classes} classes, {per_class} train + '
        f'{val_per_class} val per class, {size}x{size}) written to '
        f'{out_dir}',
        flush=True)
    return names


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse command line arguments."""
    parser = argparse.ArgumentParser(
        description='Write a tiny synthetic ImageNet-style dataset '
        '(train/<class>/*.JPEG, val/<class>/*.JPEG, meta/{train,val,'
        "classes}.txt) for mmpretrain's CustomDataset and ImageNet.")
    parser.add_argument(
        '--out', required=True, help='output folder (the data_root)')
    parser.add_argument(
        '--num-classes',
        type=int,
        default=10,
        help='number of classes (default: 10)')
    parser.add_argument(
        '--per-class',
        type=int,
        default=10,
        help='training images per class (default: 10)')
    parser.add_argument(
        '--val-per-class',
        type=int,
        default=2,
        help='validation images per class (default: 2)')
    parser.add_argument(
        '--size',
        type=int,
        default=64,
        help=f'image height and width, >= {MIN_SIZE} (default: 64)')
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the command line tool."""
    args = parse_args(argv)
    try:
        make_tiny_imagenet(args.out, args.num_classes, args.per_class,
                           args.val_per_class, args.size, args.seed)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main()
