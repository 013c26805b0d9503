"""The LightningModule: orchestrates the alternating D and G updates. No GAN maths lives here
(that is the loss object's job) and no network is built here (they are injected)."""

import logging
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from facegan.gan.divergence import DivergenceMonitor
from facegan.gan.ema import EMAGenerator
from facegan.gan.schedule import UpdateSchedule
from facegan.runtime.random_streams import capture_all_ranks, restore_own_rank, seed_process

log = logging.getLogger(__name__)

# A torch.optim class with its hyperparameters bound (Hydra `_partial_: true`), waiting for parameters.
OptimizerFactory = Callable[..., torch.optim.Optimizer]
# A batch of images -> the same batch as D should see it (facegan.gan.augment.DiffAugment).
Augment = Callable[[torch.Tensor], torch.Tensor]
# EMAGenerator with its settings bound (functools.partial), waiting for G.
EMAFactory = Callable[[nn.Module], EMAGenerator]


class GAN(pl.LightningModule):
    """GAN training with manual optimisation: per batch one D step, then one G step (on the batches
    facegan.gan.schedule picks: every batch, or every `loss.n_critic`-th).

    Lightning counts every optimizer.step() in `global_step`, so one batch advances it by one or two;
    facegan's step-based settings (trainer.max_steps, sample and checkpoint intervals) count batches, and
    `schedule` converts where they meet Lightning.
    With `ema`, `generator_ema` (facegan/gan/ema.py) is the moving average of G's weights, and sample() uses it.
    """

    optimizer_steps_per_batch = UpdateSchedule.optimizer_steps_per_batch

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        loss: Any,
        generator_optimizer: OptimizerFactory,
        discriminator_optimizer: OptimizerFactory,
        num_sample_images: int,
        seed: int,
        divergence: DivergenceMonitor,
        network_config: dict | None = None,
        channels_last: bool = False,
        compile_networks: bool = False,
        compile_mode: str = "default",
        ema: EMAFactory | None = None,
        augment: Augment | None = None,
    ):
        super().__init__()
        self.automatic_optimization = False
        self.channels_last = channels_last
        if channels_last:  # NHWC weights; inputs follow in training_step
            generator.to(memory_format=torch.channels_last)
            discriminator.to(memory_format=torch.channels_last)
        # The average starts as G's copy, made before compiling: it is only ever sampled, eager is fine.
        generator_ema = ema(generator) if ema is not None else None
        if compile_networks:  # in place, so state_dict keys (and checkpoints) stay those of the eager networks
            generator.compile(mode=compile_mode)
            if not loss.needs_double_backward:  # a gradient penalty: torch.compile has no double backward
                discriminator.compile(mode=compile_mode)
        self.generator = generator
        self.generator_ema = generator_ema  # state_dict keys generator_ema.* (ema.AVERAGE_KEYS): sample.py reads them
        self.discriminator = discriminator
        self.loss = loss
        self.schedule = UpdateSchedule(loss.n_critic)
        self.augment = augment
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.divergence = divergence
        self.progress_bar_values: dict[str, float] = {}  # loss/d and loss/g as of the last log interval
        # network_config lets sample/export commands rebuild the networks from the checkpoint alone. Not for the
        # logger: TensorBoard's HParams tab shows the run's settings (facegan/callbacks/hparams.py) instead.
        self.seed = seed  # each process's training stream derives from it (facegan/runtime/random_streams.py)
        self.save_hyperparameters("num_sample_images", "seed", "network_config", logger=False)
        # Fixed noise: the same z every epoch makes progress grids comparable; a buffer, so checkpoints keep it.
        noise_rng = torch.Generator().manual_seed(seed)
        self.register_buffer("fixed_noise", torch.randn(num_sample_images, generator.latent_dim, generator=noise_rng))
        self._fixed_noise_samples: tuple[int, torch.Tensor] | None = None  # (batches_done, images), see below

    def setup(self, stage: str) -> None:
        # Runs once every process knows its rank, after the networks were built alike and before a checkpoint's
        # streams are restored (on_load_checkpoint), which then take over.
        seed_process(self.seed, self.global_rank, self.trainer.world_size)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [
            self.generator_optimizer(self.generator.parameters()),
            self.discriminator_optimizer(self.discriminator.parameters()),
        ]

    @property
    def batches_done(self) -> int:
        """Training batches completed: the unit of facegan's step settings and TensorBoard's x-axis."""
        return self.schedule.batches_done(self.global_step)

    def _seen_by_discriminator(self, images: torch.Tensor) -> torch.Tensor:
        """The images as D sees them: augmented (fresh random transforms on every call) when augment is set."""
        return images if self.augment is None else self.augment(images)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def training_step(self, real: torch.Tensor, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        batch = self.batches_done  # read before the first update moves global_step
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        update_generator = self.schedule.updates_generator(batch)
        z = torch.randn(real.shape[0], self.generator.latent_dim, device=real.device)
        with torch.set_grad_enabled(update_generator):  # a batch without G update needs no graph through G
            fake = self.generator(z)  # (B, 3, S, S); one G forward serves both updates, as in the DCGAN recipe

        # ---- Discriminator update: the loss's D objective on real and generated images ----
        self.toggle_optimizer(opt_d)
        real_seen = self._seen_by_discriminator(real)
        fake_seen = self._seen_by_discriminator(fake.detach())  # no gradient into G during D's step
        d_loss, real_logits, fake_logits = self.loss.discriminator_objective(self.discriminator, real_seen, fake_seen)
        d_total = d_loss.total
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(d_total)
        self._step(opt_d, "loss/d", d_total, batch)
        self.untoggle_optimizer(opt_d)

        metrics = {
            "loss/d": d_total,
            "loss/d_real": d_loss.real,
            "loss/d_fake": d_loss.fake,
            "d/real": self.loss.score(real_logits).mean(),
            "d/fake": self.loss.score(fake_logits).mean(),
        }
        if d_loss.penalty is not None:
            metrics["loss/d_penalty"] = d_loss.penalty

        if update_generator:
            # ---- Generator update: the loss's G objective on D's view of the same generated images ----
            self.toggle_optimizer(opt_g)  # freezes D's parameters, so G's backward computes no D gradients
            g_loss = self.loss.generator_loss(self.discriminator(self._seen_by_discriminator(fake)))
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(g_loss)
            self._step(opt_g, "loss/g", g_loss, batch)
            self.untoggle_optimizer(opt_g)
            metrics["loss/g"] = g_loss
            if self.generator_ema is not None:
                global_batch = real.shape[0] * self.trainer.world_size
                images_seen = (batch + 1) * global_batch
                self.generator_ema.update(self.generator, images_seen, self.loss.n_critic * global_batch)

        batches_done = batch + 1
        metrics = {name: value.detach() for name, value in metrics.items()}
        self.log_dict(metrics, on_step=True, on_epoch=False, prog_bar=False)
        # Epoch means are averaged over ranks once per epoch (sync_dist), never per step.
        epoch_metrics = {f"{name}_epoch": value for name, value in metrics.items()}
        self.log_dict(epoch_metrics, on_step=False, on_epoch=True, sync_dist=True)
        if batches_done % self.trainer.log_every_n_steps == 0:
            # Read back for the progress bar (GANProgressBar) in one host sync, only at the log interval: Lightning
            # would convert prog_bar=True values to floats on every batch.
            shown = [(short, name) for short, name in (("d", "loss/d"), ("g", "loss/g")) if name in metrics]
            values = torch.stack([metrics[name].float() for _, name in shown]).tolist()
            # update, not replace: with loss.n_critic > 1 a batch without G update keeps G's last value
            self.progress_bar_values.update({short: round(value, 4) for (short, _), value in zip(shown, values)})
        if self.divergence.due(batches_done):
            self.divergence.check(self.current_epoch)

    def _step(self, optimizer, loss_name: str, loss: torch.Tensor, batch: int) -> None:
        """optimizer.step(), watched for NaN/Inf. A dropped update still steps, with no gradients (a no-op
        for Adam), so Lightning's step count, and with it every batch-based interval, stays exact."""
        self.divergence.observe(loss_name, loss, batch)
        if not self.divergence.keep_update(loss):
            optimizer.zero_grad(set_to_none=True)
        optimizer.step()

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.divergence.check(self.current_epoch)  # never let a diverged state overwrite a good checkpoint
        # Every process's stream, so each continues exactly on resume (a collective: all processes save together).
        checkpoint["rng_states"] = capture_all_ranks()
        if self.generator_ema is not None:
            self.generator_ema.save_into(checkpoint["state_dict"])

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "rng_states" in checkpoint and self._trainer is not None:
            saved = checkpoint["rng_states"]
            states = saved if isinstance(saved, list) else [saved]  # facegan 0.1.0 saved one process's state
            restore_own_rank(states, self.seed, self.global_rank, self.trainer.world_size)
        EMAGenerator.match_checkpoint(checkpoint["state_dict"], switched_on=self.generator_ema is not None)
        self._fixed_noise_samples = None  # new weights

    def fixed_noise_samples(self) -> torch.Tensor:
        """sample(fixed_noise), computed once per batch count: the callbacks that draw it after an epoch
        (the grid PNG, the GIF frame, real_vs_fake.png at the end) share one generator pass."""
        if self._fixed_noise_samples is None or self._fixed_noise_samples[0] != self.batches_done:
            self._fixed_noise_samples = (self.batches_done, self.sample(self.fixed_noise))
        return self._fixed_noise_samples[1]

    @torch.no_grad()
    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Images for z from the EMA generator when there is one, else from G; in eval mode (BatchNorm
        running statistics), restoring the previous mode."""
        generator = self.generator if self.generator_ema is None else self.generator_ema.sampling_network()
        was_training = generator.training
        generator.eval()
        try:
            # A copy: a network compiled with CUDA graphs (compile_mode=reduce-overhead) writes every call's
            # output into the same memory, and callers keep samples across later calls.
            return generator(z.to(self.device)).clone()
        finally:
            generator.train(was_training)
