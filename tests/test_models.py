import pytest
import torch
from torch import nn

from facegan.models import Discriminator, Generator, num_resolution_blocks


@pytest.mark.parametrize("size", [32, 64, 128])
def test_generator_maps_z_to_images_in_tanh_range(size):
    generator = Generator(latent_dim=100, image_size=size, base_channels=8)
    images = generator(torch.randn(4, 100))
    assert images.shape == (4, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1


@pytest.mark.parametrize("size", [32, 64, 128])
def test_discriminator_gives_one_logit_per_image(size):
    discriminator = Discriminator(image_size=size, base_channels=8)
    logits = discriminator(torch.randn(5, 3, size, size) * 3)
    assert logits.shape == (5,)
    # Logits, not probabilities: no Sigmoid inside, and values leave [0, 1] for scaled-up weights.
    assert not any(isinstance(layer, nn.Sigmoid) for layer in discriminator.modules())
    with torch.no_grad():
        for parameter in discriminator.parameters():
            parameter.mul_(50)
    assert (discriminator(torch.randn(5, 3, size, size)).abs() > 1).any()


def test_depth_grows_one_block_per_doubling():
    counts = {}
    for size in (32, 64, 128):
        counts[size] = sum(
            isinstance(m, nn.ConvTranspose2d) for m in Generator(image_size=size, base_channels=4).modules()
        )
        batch_norms = sum(
            isinstance(m, nn.BatchNorm2d) for m in Discriminator(image_size=size, base_channels=4).modules()
        )
        assert batch_norms == num_resolution_blocks(size)
    assert counts[64] == counts[32] + 1 and counts[128] == counts[64] + 1
    # pytorch/examples' 64x64 generator: 5 transposed convs, widths 512-256-128-64 for ngf=64
    widths = [m.out_channels for m in Generator(image_size=64).modules() if isinstance(m, nn.ConvTranspose2d)]
    assert widths == [512, 256, 128, 64, 3]


def test_first_discriminator_layer_has_no_batchnorm_and_no_pooling():
    discriminator = Discriminator(image_size=64)
    first_block = discriminator.net[0]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in first_block.modules())
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d)) for m in discriminator.modules())
    slopes = {m.negative_slope for m in discriminator.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}


def test_dcgan_init_statistics():
    torch.manual_seed(0)
    generator = Generator(image_size=64)
    conv_weights = torch.cat([m.weight.flatten() for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)])
    bn_weights = torch.cat([m.weight.flatten() for m in generator.modules() if isinstance(m, nn.BatchNorm2d)])
    bn_biases = torch.cat([m.bias.flatten() for m in generator.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(conv_weights.mean()) < 1e-3 and abs(conv_weights.std() - 0.02) < 1e-3
    assert abs(bn_weights.mean() - 1) < 5e-3 and abs(bn_weights.std() - 0.02) < 5e-3
    assert torch.all(bn_biases == 0)
    first_conv = Discriminator(image_size=64).net[0][0]
    assert torch.all(first_conv.bias == 0)


@pytest.mark.parametrize("size", [0, 24, 48, 8, 2048])
def test_impossible_image_size_is_a_clear_error(size):
    with pytest.raises(ValueError, match=f"image_size={size}.*power of two"):
        Generator(image_size=size)
