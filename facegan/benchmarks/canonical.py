"""The canonical plain-PyTorch DCGAN loop, kept as the yardstick for `scripts/benchmark.py`.

It has the shape of pytorch/examples dcgan/main.py, which users compare facegan with: torchvision
ImageFolder with JPEG decoding in DataLoader workers, a Sigmoid at the end of D with nn.BCELoss,
Adam(2e-4, betas (0.5, 0.999)), fp32 NCHW eager execution, and `.item()` host syncs every step for
its log line. The networks are facegan's (identical to the examples' architecture), so the two
loops do the same arithmetic and differ only in how they feed and drive it.

    python -m facegan.benchmarks.canonical --dataroot ~/celeba --image-size 32 --epochs 10
"""

import argparse
import time
from collections.abc import Callable

import torch
import torchvision.datasets as dset
import torchvision.transforms as transforms
from torch import nn

from facegan.models import Discriminator, Generator

EXAMPLES_BATCH_SIZE = 64  # dcgan/main.py's --batchSize default: the loop as its users run it


def make_loader(dataroot: str, image_size: int, batch_size: int, workers: int) -> torch.utils.data.DataLoader:
    dataset = dset.ImageFolder(
        root=dataroot,
        transform=transforms.Compose(
            [
                transforms.Resize(image_size),
                transforms.CenterCrop(image_size),
                transforms.ToTensor(),
                transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
            ]
        ),
    )
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)


def train(
    loader: torch.utils.data.DataLoader,
    image_size: int,
    device: torch.device,
    nz: int = 100,
    ngf: int = 64,
    ndf: int = 64,
    epochs: int = 1,
    max_batches: int | None = None,
    on_batch_end: Callable[[int], bool] | None = None,
    quiet: bool = False,
) -> nn.Module:
    """The examples' loop, returning its generator. `on_batch_end(batch_number)` lets a benchmark time it from
    outside, and stop it by returning True."""
    netG = Generator(latent_dim=nz, image_size=image_size, base_channels=ngf).to(device)
    netD = nn.Sequential(Discriminator(image_size=image_size, base_channels=ndf), nn.Sigmoid()).to(device)
    criterion = nn.BCELoss()
    fixed_noise = torch.randn(64, nz, device=device)
    real_label, fake_label = 1.0, 0.0
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))

    batches = 0
    for epoch in range(epochs):
        for i, data in enumerate(loader, 0):
            ############################
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            ###########################
            netD.zero_grad()
            real_cpu = data[0].to(device)
            batch_size = real_cpu.size(0)
            label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)
            output = netD(real_cpu)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()

            noise = torch.randn(batch_size, nz, device=device)
            fake = netG(noise)
            label.fill_(fake_label)
            output = netD(fake.detach())
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optimizerD.step()

            ############################
            # (2) Update G network: maximize log(D(G(z)))
            ###########################
            netG.zero_grad()
            label.fill_(real_label)  # fake labels are real for generator cost
            output = netD(fake)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optimizerG.step()

            if not quiet and i % 50 == 0:
                print(
                    f"[{epoch}/{epochs}][{i}/{len(loader)}] Loss_D: {errD.item():.4f} Loss_G: {errG.item():.4f} "
                    f"D(x): {D_x:.4f} D(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}"
                )
            batches += 1
            if on_batch_end is not None and on_batch_end(batches):
                return netG
            if max_batches is not None and batches >= max_batches:
                return netG
        if not quiet:
            with torch.no_grad():
                netG(fixed_noise)  # the examples save this grid every epoch; the forward pass is its cost
    return netG


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataroot", required=True, help="a folder with a sub-folder of images (ImageFolder)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=EXAMPLES_BATCH_SIZE)
    parser.add_argument("--nz", type=int, default=100)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    started = time.perf_counter()
    loader = make_loader(args.dataroot, args.image_size, args.batch_size, args.workers)
    train(loader, args.image_size, torch.device(args.device), args.nz, args.ngf, args.ndf, epochs=args.epochs)
    print(f"canonical DCGAN: {args.epochs} epochs in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
