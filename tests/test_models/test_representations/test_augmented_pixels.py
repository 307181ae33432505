# Copyright (c) slim_plugins contributors. All rights reserved.
"""AugmentedPixelRepresentation: per-sample vs batch-shared draws, the
normalisation round trip, bad input."""
import pytest
import torch

from slim_plugins.models.representations import AugmentedPixelRepresentation

MEAN, STD = [72.94], [90.0]


def _identical_images(batch=6, channels=1, size=16):
    gen = torch.Generator().manual_seed(0)
    image = torch.randn(1, channels, size, size, generator=gen)
    return image.expand(batch, -1, -1, -1).contiguous()


def test_per_sample_draws_differ_and_the_original_shares_one_draw():
    images = _identical_images()
    torch.manual_seed(0)
    per_sample = AugmentedPixelRepresentation(MEAN, STD)(images)
    # Identical inputs: different crops / flips / blurs per image.
    assert not torch.allclose(per_sample[0], per_sample[1])
    torch.manual_seed(0)
    shared = AugmentedPixelRepresentation(MEAN, STD,
                                          per_sample=False)(images)
    # One draw for the batch: identical inputs stay identical.
    for image in shared[1:]:
        torch.testing.assert_close(image, shared[0])
    assert not torch.allclose(shared[0], images[0])


def test_no_randomness_is_the_identity_through_the_normalisation():
    gen = torch.Generator().manual_seed(0)
    # In the range of normalised [0, 1] pixels, so the clamp changes nothing.
    images = (torch.rand(3, 3, 12, 12, generator=gen) * 255 -
              torch.tensor([120., 110., 100.]).view(1, 3, 1, 1)) / 60.
    rep = AugmentedPixelRepresentation(
        [120., 110., 100.], [60., 60., 60.],
        crop_scale=(1., 1.), flip_prob=0., jitter_prob=0.,
        grayscale_prob=0., blur_sigma=None, scale=0.5)
    torch.testing.assert_close(rep(images), images * 0.5, atol=1e-5,
                               rtol=1e-5)


def test_jitter_acts_on_the_unnormalised_image_unless_told():
    # Brightness x2 on [0, 1] pixels, then renormalised: a pixel at the
    # mean (0.5) saturates to 1.0; on the normalised tensor (the original)
    # the same factor doubles the normalised value and clamps it at 1.
    images = torch.full((2, 1, 8, 8), 0.0)
    kwargs = dict(crop_scale=(1., 1.), flip_prob=0., jitter_prob=1.,
                  jitter=(0., 0., 0., 0.), grayscale_prob=0.,
                  blur_sigma=None)
    rep = AugmentedPixelRepresentation([127.5], [127.5], **kwargs)
    rep.jitter = ((2., 2.), 0., 0., 0.)
    torch.testing.assert_close(rep(images), torch.ones_like(images))
    original = AugmentedPixelRepresentation([127.5], [127.5],
                                            augment_normalized=True,
                                            **kwargs)
    original.jitter = ((2., 2.), 0., 0., 0.)
    torch.testing.assert_close(original(images), torch.zeros_like(images))


def test_bad_input():
    with pytest.raises(ValueError, match='mean has 3 channels, std 1'):
        AugmentedPixelRepresentation([1., 2., 3.], [1.])
    with pytest.raises(ValueError, match='flip_prob=2'):
        AugmentedPixelRepresentation(MEAN, STD, flip_prob=2)
    with pytest.raises(ValueError, match='std=.*positive'):
        AugmentedPixelRepresentation(MEAN, [0.])
    with pytest.raises(ValueError, match='images have 3 channels, mean/std '
                       '1'):
        AugmentedPixelRepresentation(MEAN, STD)(torch.zeros(2, 3, 8, 8))
