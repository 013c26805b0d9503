"""Each training process's own random streams: seeded from `seed` and the process's global rank, captured
into checkpoints per rank and restored on resume.

Every process builds its networks after `seed_everything(seed)`, so all start from the same weights (and the
gan_ddp strategy copies rank 0's anyway). Once Lightning has given each process its rank, `seed_process`
moves the process to a stream of its own, `seed * world_size + rank` (StyleGAN2-ADA's rule): with several
processes each one draws its own z, DiffAugment transforms and penalty mixes, so N processes train on N
different sets of fakes; with one process the stream is `seed` itself.

States are stored as tensors and plain Python values only, so checkpoints still load with
torch.load(weights_only=True), Lightning's default.
"""

import logging
import random

import numpy as np
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


def process_seed(seed: int, rank: int, world_size: int) -> int:
    """The seed of process `rank` of `world_size`: distinct for every rank of a run."""
    return seed * world_size + rank


def seed_process(seed: int, rank: int, world_size: int) -> None:
    """Seed torch (CPU and every CUDA device), NumPy and Python's `random` for this process's stream."""
    own = process_seed(seed, rank, world_size)
    torch.manual_seed(own)
    np.random.seed(own % 2**32)
    random.seed(own)


def capture_rng_state() -> dict:
    """This process's generators: torch's CPU and CUDA ones, NumPy's and Python's."""
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gaussian),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def capture_all_ranks() -> list[dict]:
    """Every process's state, in rank order (a collective: every process of the run calls it together)."""
    own = capture_rng_state()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [own]
    states: list[dict | None] = [None] * dist.get_world_size()
    dist.all_gather_object(states, own)
    return states


def restore_own_rank(states: list[dict], seed: int, rank: int, world_size: int) -> None:
    """Continue this process's saved stream; a run resumed on more processes than it was saved from starts the
    extra ranks on fresh streams of their own (the run can no longer repeat itself exactly, and says so)."""
    if len(states) != world_size and rank == 0:
        log.warning(
            "The checkpoint holds the random streams of %d process(es), this run has %d: the resumed run will not "
            "repeat the uninterrupted one exactly",
            len(states),
            world_size,
        )
    if rank < len(states):
        restore_rng_state(states[rank])
    else:
        seed_process(seed, rank, world_size)
