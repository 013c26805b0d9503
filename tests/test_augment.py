"""DiffAugment: shapes, dtypes and memory format kept, gradients pass through, each transform does its job."""

import pytest
import torch

from facegan.assembly import build_module
from facegan.errors import ConfigError
from facegan.gan.augment import DiffAugment, cutout, translation
from helpers import compose_train


@pytest.mark.parametrize("policy", [["color"], ["translation"], ["cutout"], ["color", "translation", "cutout"]])
def test_shape_kept_and_gradients_reach_the_input(policy):
    torch.manual_seed(0)
    images = (torch.rand(4, 3, 16, 16) * 2 - 1).requires_grad_(True)
    augmented = DiffAugment(policy)(images)
    assert augmented.shape == images.shape and augmented.dtype == images.dtype
    augmented.square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0  # G learns through the augmentation


def test_bfloat16_and_channels_last_are_kept():
    images = torch.rand(2, 3, 16, 16, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    augmented = DiffAugment()(images)
    assert augmented.dtype == torch.bfloat16
    assert augmented.is_contiguous(memory_format=torch.channels_last)


def test_translation_shifts_each_image_and_fills_with_zero():
    torch.manual_seed(1)
    images = torch.rand(6, 3, 16, 16) + 1  # no zeros of its own
    shifted = translation(images, ratio=0.125)  # up to 2 pixels each way
    for image, result in zip(images, shifted):
        matches = []
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                expected = torch.zeros_like(image)
                rows_to, rows_from = slice(max(dy, 0), 16 + min(dy, 0)), slice(max(-dy, 0), 16 + min(-dy, 0))
                cols_to, cols_from = slice(max(dx, 0), 16 + min(dx, 0)), slice(max(-dx, 0), 16 + min(-dx, 0))
                expected[:, rows_to, cols_to] = image[:, rows_from, cols_from]
                matches.append(torch.equal(result, expected))
        assert sum(matches) == 1


def test_cutout_zeroes_one_square_of_at_most_half_the_size():
    torch.manual_seed(2)
    images = torch.ones(32, 3, 16, 16)
    for image in cutout(images, ratio=0.5):
        zero = image[0] == 0  # (H, W); the same square in every channel
        assert torch.equal(zero.expand(3, 16, 16), image == 0)
        rows, cols = zero.any(dim=1).nonzero().flatten(), zero.any(dim=0).nonzero().flatten()
        assert 1 <= len(rows) <= 8 and 1 <= len(cols) <= 8  # an 8x8 square, clipped where it crosses an edge
        assert int(zero.sum()) == len(rows) * len(cols)  # a filled rectangle
        assert len(rows) >= 4 and len(cols) >= 4  # at least half of it inside the image, each way


def test_each_call_draws_new_transforms():
    images = torch.rand(8, 3, 16, 16) * 2 - 1
    augment = DiffAugment()
    assert not torch.equal(augment(images), augment(images))


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"policy": ["colour"]}, "augment.policy=\\['colour'\\]"),
        ({"policy": []}, "augment.policy=\\[\\]"),
        ({"cutout_ratio": 1.5}, "augment.cutout_ratio=1.5"),
    ],
)
def test_bad_settings_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DiffAugment(**kwargs)


def test_config_choice_reaches_the_module():
    assert build_module(compose_train("data=synthetic")).augment is None  # augment=none, the default
    module = build_module(compose_train("data=synthetic", "augment=diffaugment", "augment.policy=[translation]"))
    assert isinstance(module.augment, DiffAugment) and module.augment.policy == ("translation",)
