# Copyright (c) slim_plugins contributors. All rights reserved.
"""ColorJitter's hue step under numpy 2: mmcv 2.1.0 raises for a negative
shift; ours rotates the hue as numpy 1 did (uint8 wrap-around)."""
import mmcv
import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from slim_plugins.datasets.transforms import ColorJitter, adjust_hue
from slim_plugins.registry import TRANSFORMS


def _image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)


def _by_hand(img, hue_factor):
    # numpy 1: np.uint8(trunc(255 * f)) wraps a negative shift to 256 + s
    h, s, v = Image.fromarray(img[..., ::-1], 'RGB').convert('HSV').split()
    shift = int(hue_factor * 255) % 256
    hue = ((np.asarray(h).astype(np.int64) + shift) % 256).astype(np.uint8)
    rgb = Image.merge('HSV', (Image.fromarray(hue, 'L'), s, v)).convert('RGB')
    return np.asarray(rgb)[..., ::-1]


def test_negative_hue_by_hand_and_mmcv_fails_there():
    img = _image()
    with pytest.raises(OverflowError):
        mmcv.adjust_hue(img, -0.07, backend='pillow')
    np.testing.assert_array_equal(adjust_hue(img, -0.07), _by_hand(img, -0.07))


@pytest.mark.parametrize('hue', [0.0, 0.07, 0.2, 0.5])
def test_positive_hue_equals_mmcv(hue):
    img = _image()
    np.testing.assert_array_equal(
        adjust_hue(img, hue), mmcv.adjust_hue(img, hue, backend='pillow'))


def test_registered_in_the_package_scope():
    init_default_scope('slim_plugins')
    jitter = TRANSFORMS.build(
        dict(type='ColorJitter', brightness=0.4, contrast=0.4,
             saturation=0.4, hue=0.2))
    assert type(jitter) is ColorJitter
    np.random.seed(1)
    for _ in range(20):  # negative hue shifts are drawn too
        out = jitter(dict(img=_image()))['img']
        assert out.shape == (8, 8, 3) and out.dtype == np.uint8
