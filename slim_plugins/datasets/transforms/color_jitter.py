# Copyright (c) slim_plugins contributors. All rights reserved.
"""mmpretrain's ``ColorJitter`` with a hue shift that works under numpy 2."""
from typing import Dict

import mmcv
import numpy as np
from mmpretrain.datasets.transforms import ColorJitter as MMPretrainColorJitter
from PIL import Image

from slim_plugins.registry import TRANSFORMS


def adjust_hue(img: np.ndarray, hue_factor: float,
               backend: str = 'pillow') -> np.ndarray:
    """Rotate the hue of a BGR ``uint8`` image by ``hue_factor`` turns.

    mmcv 2.1.0's pillow path adds ``np.uint8(hue_factor * 255)`` to the hue
    channel; under numpy 2 a negative factor makes that an ``OverflowError``
    (numpy 1 wrapped it to ``256 + shift``). This computes the same rotation
    with integer arithmetic: ``h' = (h + trunc(255 * hue_factor)) mod 256``.

    Args:
        img (ndarray): ``H x W x 3`` BGR image, ``uint8``.
        hue_factor (float): In ``[-0.5, 0.5]``.
        backend (str): ``'pillow'``; any other backend is mmcv's.

    Returns:
        ndarray: The image with its hue rotated.
    """
    if backend != 'pillow':
        return mmcv.adjust_hue(img, hue_factor, backend=backend)
    if not -0.5 <= hue_factor <= 0.5:
        raise ValueError(f'hue_factor={hue_factor} is not in [-0.5, 0.5].')
    if img.dtype != np.uint8 or img.ndim != 3:
        raise TypeError('adjust_hue expects an H x W x 3 uint8 image, got '
                        f'{img.dtype} with shape {img.shape}.')
    pil_image = Image.fromarray(img[..., ::-1], mode='RGB')
    h, s, v = pil_image.convert('HSV').split()
    shift = int(hue_factor * 255)
    # h' = (h + shift) mod 256: the uint8 wrap-around of the original
    hue = (np.asarray(h, dtype=np.int16) + shift) % 256
    h = Image.fromarray(hue.astype(np.uint8), 'L')
    rotated = Image.merge('HSV', (h, s, v)).convert('RGB')
    return np.asarray(rotated, dtype=img.dtype)[..., ::-1].copy()


@TRANSFORMS.register_module()
class ColorJitter(MMPretrainColorJitter):
    """mmpretrain's ``ColorJitter`` whose hue step works under numpy 2.

    Registered under the same name in the ``slim_plugins`` scope, so every
    config of this package gets it; brightness, contrast and saturation are
    mmcv's as before. Arguments are those of mmpretrain's ``ColorJitter``.
    """

    def transform(self, results: Dict) -> Dict:
        """Apply the four adjustments in a random order."""
        img = results['img']
        order, brightness, contrast, saturation, hue = self._rand_params()
        for index in order:
            if index == 0 and brightness is not None:
                img = mmcv.adjust_brightness(
                    img, brightness, backend=self.backend)
            elif index == 1 and contrast is not None:
                img = mmcv.adjust_contrast(img, contrast, backend=self.backend)
            elif index == 2 and saturation is not None:
                img = mmcv.adjust_color(
                    img, alpha=saturation, backend=self.backend)
            elif index == 3 and hue is not None:
                img = adjust_hue(img, hue, backend=self.backend)
        results['img'] = img
        return results
