# Copyright (c) slim_plugins contributors. All rights reserved.
"""Write a tiny synthetic COCO-format instance-segmentation dataset.

Shapes of four classes (``circle``, ``square``, ``triangle``, ``star``) with
random size, rotation and colour are drawn, without overlap, on textured
backgrounds (a colour gradient, sine texture and noise). Layout::

    OUT/
    ├── annotations/
    │   ├── instances_train.json
    │   └── instances_val.json
    ├── train/000000000001.jpg ...
    └── val/000000000001.jpg ...

Every annotation has a polygon ``segmentation`` (the exact polygon that was
drawn; a circle is a 32-gon), ``bbox`` = the tight ``[x, y, w, h]`` box of
the polygon, ``area`` = the polygon's area (shoelace formula), and
``iscrowd`` 0. Category ids are 1..4 in the order of :data:`CLASSES`.

Read it with mmdet::

    CocoDataset(data_root=OUT, ann_file='annotations/instances_train.json',
                data_prefix=dict(img='train/'),
                metainfo=dict(classes=CLASSES))

Equal ``--seed`` values give byte-identical files.

Example:
    python tools/data/make_tiny_coco.py --out data/tiny_coco \
        --num-train 40 --num-val 10 --size 128 128 --seed 0
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ('circle', 'square', 'triangle', 'star')
MIN_SIZE = 32
CIRCLE_VERTICES = 32
JPEG_QUALITY = 90
MAX_PLACEMENT_TRIES = 50

Polygon = List[Tuple[float, float]]


def shape_polygon(kind: str, cx: float, cy: float, radius: float,
                  angle: float) -> Polygon:
    """Vertices of a shape inscribed in the circle ``(cx, cy, radius)``.

    Args:
        kind (str): One of :data:`CLASSES`.
        cx (float): Centre x in pixels.
        cy (float): Centre y in pixels.
        radius (float): Circumradius in pixels.
        angle (float): Rotation in radians.

    Returns:
        list[tuple[float, float]]: The polygon's vertices rounded to 0.01 px,
        so that drawing and annotation use the very same numbers.
    """
    if kind == 'circle':
        radii = [radius] * CIRCLE_VERTICES
    elif kind == 'square':
        radii = [radius] * 4
    elif kind == 'triangle':
        radii = [radius] * 3
    elif kind == 'star':
        radii = [radius, 0.45 * radius] * 5
    else:
        raise ValueError(f'Unknown shape {kind!r}; choose from {CLASSES}.')
    step = 2 * math.pi / len(radii)
    return [(round(cx + r * math.cos(angle + i * step),
                   2), round(cy + r * math.sin(angle + i * step), 2))
            for i, r in enumerate(radii)]


def polygon_area(points: Polygon) -> float:
    """Area of a simple polygon.

    Shoelace formula: ``A = |sum_i (x_i * y_{i+1} - x_{i+1} * y_i)| / 2``.

    Args:
        points (list[tuple[float, float]]): Vertices in order.

    Returns:
        float: The enclosed area.
    """
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    return float(
        abs(np.dot(xs, np.roll(ys, -1)) - np.dot(np.roll(xs, -1), ys)) / 2)


def polygon_bbox(points: Polygon) -> List[float]:
    """Tight ``[x, y, w, h]`` box of a polygon (COCO convention)."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return [
        round(min(xs), 2),
        round(min(ys), 2),
        round(max(xs) - min(xs), 2),
        round(max(ys) - min(ys), 2)
    ]


def textured_background(height: int, width: int,
                        rng: np.random.Generator) -> np.ndarray:
    """A colour gradient plus a sine texture, float in [0, 255].

    Args:
        height (int): Image height.
        width (int): Image width.
        rng (np.random.Generator): Random generator.

    Returns:
        np.ndarray: Background of shape ``(height, width, 3)``.
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    direction = rng.uniform(0, 2 * math.pi)
    ramp = xx * math.cos(direction) + yy * math.sin(direction)
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    start, end = rng.uniform(30, 225, size=(2, 3))
    img = start + ramp[..., None] * (end - start)
    freq = rng.uniform(0.05, 0.3, size=2)
    texture = np.sin(freq[0] * xx +
                     rng.uniform(0, 6.3)) * np.sin(freq[1] * yy +
                                                   rng.uniform(0, 6.3))
    return img + 20 * texture[..., None]


def render_image(
        height: int, width: int, max_objects: int, rng: np.random.Generator
) -> Tuple[Image.Image, List[Tuple[int, Polygon]]]:
    """Draw non-overlapping shapes on a textured background.

    Args:
        height (int): Image height.
        width (int): Image width.
        max_objects (int): Upper bound of shapes per image (at least one is
            always drawn).
        rng (np.random.Generator): Random generator.

    Returns:
        tuple[PIL.Image.Image, list]: The RGB image, and the
        ``(label, polygon)`` of each drawn shape.
    """
    background = textured_background(height, width, rng)
    pil = Image.fromarray(
        np.clip(np.rint(background), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(pil)
    short = min(height, width)
    placed: List[Tuple[float, float, float]] = []
    objects = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        label = int(rng.integers(len(CLASSES)))
        for _ in range(MAX_PLACEMENT_TRIES):
            radius = rng.uniform(0.1, 0.25) * short
            cx = rng.uniform(radius + 1, width - radius - 1)
            cy = rng.uniform(radius + 1, height - radius - 1)
            if all(
                    math.hypot(cx - x, cy - y) > radius + r + 2
                    for x, y, r in placed):
                break
        else:
            continue  # the image is full
        placed.append((cx, cy, radius))
        polygon = shape_polygon(CLASSES[label], cx, cy, radius,
                                rng.uniform(0, 2 * math.pi))
        fill = tuple(int(v) for v in rng.integers(0, 256, size=3))
        draw.polygon(polygon, fill=fill)
        objects.append((label, polygon))
    noisy = np.asarray(
        pil, dtype=np.float64) + rng.normal(
            0, 6, size=(height, width, 3))
    image = Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
    return image, objects


def _check_args(num_train: int, num_val: int, size: Sequence[int],
                max_objects: int) -> None:
    """Raise ``ValueError`` for arguments that give no usable dataset."""
    checks = (('num_train', num_train, 1), ('num_val', num_val, 1),
              ('max_objects', max_objects, 1))
    for name, value, low in checks:
        if not isinstance(value, int) or value < low:
            raise ValueError(
                f'{name} (--{name.replace("_", "-")}) must be an integer '
                f'>= {low}, but got {value!r}.')
    if len(size) != 2 or any(not isinstance(v, int) or v < MIN_SIZE
                             for v in size):
        raise ValueError(f'size (--size H W) must be two integers >= '
                         f'{MIN_SIZE}, but got {tuple(size)!r}.')


def make_split(out_dir: str, split: str, num_images: int, height: int,
               width: int, max_objects: int, rng: np.random.Generator) -> Dict:
    """Render the images of one split and return its COCO dict.

    Args:
        out_dir (str): Dataset root; images go to ``out_dir/split``.
        split (str): Split name, ``'train'`` or ``'val'``.
        num_images (int): Number of images.
        height (int): Image height.
        width (int): Image width.
        max_objects (int): Upper bound of shapes per image.
        rng (np.random.Generator): Random generator.

    Returns:
        dict: The COCO annotation dict of the split.
    """
    img_dir = osp.join(out_dir, split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    report_every = max(1, num_images // 10)
    for img_id in range(1, num_images + 1):
        image, objects = render_image(height, width, max_objects, rng)
        file_name = f'{img_id:012d}.jpg'
        image.save(osp.join(img_dir, file_name), quality=JPEG_QUALITY)
        images.append(
            dict(id=img_id, file_name=file_name, height=height, width=width))
        for label, polygon in objects:
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    category_id=label + 1,
                    segmentation=[[c for point in polygon for c in point]],
                    area=round(polygon_area(polygon), 2),
                    bbox=polygon_bbox(polygon),
                    iscrowd=0))
        if img_id % report_every == 0 or img_id == num_images:
            print(f'[{split}] {img_id}/{num_images} images', flush=True)
    return dict(
        info=dict(
            description=f'tiny synthetic shapes ({split})',
            version='1.0',
            year=2024),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[
            dict(id=i + 1, name=name, supercategory='shape')
            for i, name in enumerate(CLASSES)
        ])


def make_tiny_coco(out_dir: str,
                   num_train: int = 40,
                   num_val: int = 10,
                   size: Sequence[int] = (128, 128),
                   seed: int = 0,
                   max_objects: int = 4) -> Dict[str, str]:
    """Write a tiny COCO-format instance-segmentation dataset.

    Args:
        out_dir (str): Output folder (the ``data_root``).
        num_train (int): Number of training images. Defaults to 40.
        num_val (int): Number of validation images. Defaults to 10.
        size (Sequence[int]): Image ``(height, width)``, each at least 32.
            Defaults to ``(128, 128)``.
        seed (int): Random seed; equal seeds give byte-identical files.
            Defaults to 0.
        max_objects (int): Upper bound of shapes per image. Defaults to 4.

    Returns:
        dict[str, str]: The annotation file of each split.

    Raises:
        ValueError: If a count is below 1 or a side below 32.

    Example:
        >>> anns = make_tiny_coco('/tmp/tiny_coco', 4, 2, (64, 96), seed=0)
        >>> anns['val']
        '/tmp/tiny_coco/annotations/instances_val.json'
    """
    size = tuple(size)
    _check_args(num_train, num_val, size, max_objects)
    height, width = size
    rng = np.random.default_rng(seed)
    ann_dir = osp.join(out_dir, 'annotations')
    os.makedirs(ann_dir, exist_ok=True)
    ann_files = {}
    for split, num in (('train', num_train), ('val', num_val)):
        coco = make_split(out_dir, split, num, height, width, max_objects, rng)
        ann_files[split] = osp.join(ann_dir, f'instances_{split}.json')
        with open(ann_files[split], 'w') as f:
            json.dump(coco, f)
    print(
        f'Tiny COCO ({num_train} train, {num_val} val, {height}x{width}, '
        f'classes {CLASSES}) written to {out_dir}',
        flush=True)
    return ann_files


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse command line arguments."""
    parser = argparse.ArgumentParser(
        description='Write a tiny synthetic COCO-format instance '
        f'segmentation dataset of shapes {CLASSES} (train/, val/, '
        'annotations/instances_{train,val}.json).')
    parser.add_argument(
        '--out', required=True, help='output folder (the data_root)')
    parser.add_argument(
        '--num-train',
        type=int,
        default=40,
        help='number of training images (default: 40)')
    parser.add_argument(
        '--num-val',
        type=int,
        default=10,
        help='number of validation images (default: 10)')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=[128, 128],
        metavar=('H', 'W'),
        help=f'image height and width, each >= {MIN_SIZE} '
        '(default: 128 128)')
    parser.add_argument(
        '--max-objects',
        type=int,
        default=4,
        help='upper bound of shapes per image (default: 4)')
    parser.add_argument(
        '--seed', type=int, default=0, help='random seed (default: 0)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the command line tool."""
    args = parse_args(argv)
    try:
        make_tiny_coco(args.out, args.num_train, args.num_val, args.size,
                       args.seed, args.max_objects)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)


if __name__ == '__main__':
    main()
