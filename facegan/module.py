"""The LightningModule: orchestrates the alternating D and G updates. No GAN maths lives here
(that is the loss object's job) and no network is built here (they are injected)."""

from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from facegan.divergence import DivergenceMonitor
from facegan.rng import capture_rng_state, restore_rng_state

# A torch.optim class with its hyperparameters bound (Hydra `_partial_: true`), waiting for parameters.
OptimizerFactory = Callable[..., torch.optim.Optimizer]


class GAN(pl.LightningModule):
    """DCGAN training with manual optimisation: per batch one D step, then one G step.

    Lightning counts every optimizer.step() in `global_step`, so one batch advances it by
    `optimizer_steps_per_batch`; facegan's step-based settings (trainer.max_steps, sample and
    checkpoint intervals) count batches and are converted where they meet Lightning.
    """

    optimizer_steps_per_batch = 2

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: Any,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        num_sample_images: int = 64,
        sample_seed: int = 0,
        network_config: dict | None = None,
        channels_last: bool = False,
        compile_networks: bool = False,
        divergence: DivergenceMonitor | None = None,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.channels_last = channels_last
        if channels_last:  # NHWC weights; inputs follow in training_step
            generator.to(memory_format=torch.channels_last)
            discriminator.to(memory_format=torch.channels_last)
        if compile_networks:  # in place, so state_dict keys (and checkpoints) stay those of the eager networks
            generator.compile()
            discriminator.compile()
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.divergence = divergence or DivergenceMonitor()
        # network_config lets sample/export commands rebuild the networks from the checkpoint alone.
        self.save_hyperparameters("num_sample_images", "sample_seed", "network_config")
        # Fixed noise: the same z every epoch makes progress grids comparable; a buffer, so checkpoints keep it.
        noise_rng = torch.Generator().manual_seed(sample_seed)
        self.register_buffer("fixed_noise", torch.randn(num_sample_images, generator.latent_dim, generator=noise_rng))

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            self.generator_optimizer(self.generator.parameters()),
            self.discriminator_optimizer(self.discriminator.parameters()),
        ]

    @property
    def batches_done(self) -> int:
        """Training batches completed: the unit of facegan's step settings and TensorBoard's x-axis."""
        return self.global_step // self.optimizer_steps_per_batch

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def training_step(self, real: torch.Tensor, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        z = torch.randn(real.shape[0], self.generator.latent_dim, device=real.device)
        fake = self.generator(z)  # (B, 3, S, S); one G forward serves both updates, as in the DCGAN recipe

        # ---- Discriminator update: maximise log D(x) + log(1 - D(G(z))) ----
        self.toggle_optimizer(opt_d)
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake.detach())  # no gradient into G during D's step
        d_loss = self.loss.discriminator_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_loss.total)
        self._step(opt_d, "loss/d", d_loss.total)
        self.untoggle_optimizer(opt_d)

        # ---- Generator update: maximise log D(G(z)), i.e. the loss with flipped labels ----
        self.toggle_optimizer(opt_g)  # freezes D's parameters, so G's backward computes no D gradients
        g_loss = self.loss.generator_loss(self.discriminator(fake))
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(g_loss)
        self._step(opt_g, "loss/g", g_loss)
        self.untoggle_optimizer(opt_g)

        metrics = {
            "loss/d": d_loss.total,
            "loss/g": g_loss,
            "loss/d_real": d_loss.real,
            "loss/d_fake": d_loss.fake,
            "d/real": self.loss.score(real_logits).mean(),
            "d/fake": self.loss.score(fake_logits).mean(),
        }
        metrics = {name: value.detach() for name, value in metrics.items()}
        self.log_dict(metrics, on_step=True, on_epoch=False, prog_bar=False)
        # Epoch means are averaged over ranks once per epoch (sync_dist), never per step.
        epoch_metrics = {f"{name}_epoch": value for name, value in metrics.items()}
        self.log_dict(epoch_metrics, on_step=False, on_epoch=True, sync_dist=True)
        if self.batches_done % self.trainer.log_every_n_steps == 0:
            # Progress-bar values are turned into Python floats (a host sync): only at the log interval.
            self.log_dict({"d": metrics["loss/d"], "g": metrics["loss/g"]}, prog_bar=True, logger=False)
        if self.divergence.due(self.batches_done):
            self.divergence.check(self.current_epoch)

    def _step(self, optimizer, loss_name: str, loss: torch.Tensor) -> None:
        """optimizer.step(), watched for NaN/Inf. A dropped update still steps, with no gradients (a no-op
        for Adam), so Lightning's step count, and with it every batch-based interval, stays exact."""
        self.divergence.observe(loss_name, loss, self.batches_done)
        if not self.divergence.keep_update(loss):
            optimizer.zero_grad(set_to_none=True)
        optimizer.step()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.divergence.check(self.current_epoch)  # never let a diverged state overwrite a good checkpoint
        checkpoint["rng_states"] = capture_rng_state()  # the noise stream continues exactly on resume

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_states" in checkpoint:
            restore_rng_state(checkpoint["rng_states"])

    @torch.no_grad()
    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Images for z in eval mode (BatchNorm running statistics), restoring the previous mode."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(z.to(self.device))
        finally:
            self.generator.train(was_training)
