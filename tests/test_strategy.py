"""gan_ddp averages exactly the stepping optimizer's gradients across processes (2-process gloo)."""

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from facegan.runtime.strategy import average_gradients
from helpers import free_port


def _worker(rank: int, world_size: int, port: int, results: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    stepping = torch.nn.Linear(3, 2)
    frozen = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(stepping.parameters(), lr=0.1)
    for parameter in stepping.parameters():
        parameter.grad = torch.full_like(parameter, float(rank + 1))  # rank 0: 1, rank 1: 2 -> mean 1.5
    frozen.weight.grad = torch.full_like(frozen.weight, float(rank + 1))
    average_gradients(optimizer, world_size)
    results[rank] = (stepping.weight.grad.clone(), stepping.bias.grad.clone(), frozen.weight.grad.clone())
    dist.destroy_process_group()


@pytest.mark.slow
def test_gradients_are_averaged_across_ranks():
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(2, free_port(), results), nprocs=2, join=True)
        results = dict(results)
    for rank in (0, 1):
        weight_grad, bias_grad, frozen_grad = results[rank]
        assert torch.all(weight_grad == 1.5) and torch.all(bias_grad == 1.5)
        assert torch.all(frozen_grad == rank + 1)  # another optimizer's gradients are left alone


def test_single_process_is_a_no_op():
    layer = torch.nn.Linear(2, 2)
    layer.weight.grad = torch.ones_like(layer.weight)
    average_gradients(torch.optim.SGD(layer.parameters(), lr=0.1), world_size=1)
    assert torch.all(layer.weight.grad == 1)
