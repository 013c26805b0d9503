"""A data-parallel strategy that suits a G/D pair under manual optimisation.

Lightning's default DDP wraps the whole LightningModule in one DistributedDataParallel. A GAN step
runs two backward passes per forward, and D's pass leaves G's parameters without gradients, so
DDP fails ("parameters that were not used in producing the loss") unless find_unused_parameters
scans the autograd graph on every backward, which is slow. Here the module is not wrapped: every
rank starts from rank 0's weights, and just before each optimizer step the gradients of exactly
that optimizer's parameters are averaged across ranks in one flat all-reduce. Same maths as DDP,
one collective per update, no graph scan.
"""

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from pytorch_lightning.overrides.distributed import _sync_module_states
from pytorch_lightning.strategies import DDPStrategy
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

STRATEGY_NAME = "gan_ddp"


def average_gradients(optimizer: torch.optim.Optimizer, world_size: int) -> None:
    """All-reduce (mean) the gradients of the optimizer's parameters, batched into one flat buffer."""
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if not grads or world_size == 1:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat.div_(world_size)
    for grad, averaged in zip(grads, _unflatten_dense_tensors(flat, grads)):
        grad.copy_(averaged)


class GANDDPStrategy(DDPStrategy):
    """DDP processes and launcher, with gradient averaging per optimizer step instead of a DDP wrapper."""

    strategy_name = STRATEGY_NAME

    def configure_ddp(self) -> None:
        # No wrapper: start every rank from rank 0's weights and buffers (e.g. the fixed noise).
        _sync_module_states(self.model)

    def optimizer_step(self, optimizer: Any, closure: Callable[[], Any], model: Any = None, **kwargs: Any) -> Any:
        average_gradients(optimizer, self.world_size)
        return super().optimizer_step(optimizer, closure, model, **kwargs)
