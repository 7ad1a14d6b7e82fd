"""``train.torch.processes: N``: the torch model trained by N processes under torch's launcher.

``python -m train`` with N > 1 starts ``python -m torch.distributed.run --standalone
--nproc-per-node N -m train`` (what ``torchrun`` runs) and waits for it; each of the N workers
runs the train stage with the model wrapped in ``DistributedDataParallel`` (gloo on the CPU,
NCCL on CUDA, one GPU per worker). torch_model/README.md (Several processes): multi-node use, what equals what.

What each worker does differently from a single process (``torch_model.loop`` calls these):

- every optimizer step has the same micro-batches as with one process (the same examples, the
  same schedule), and rank r takes rows r, r + N, ... of each micro-batch (``shard``), padded
  to the whole micro-batch's width;
- its summed loss is divided by the step's examples over all ranks, times N (``loss_divisor``):
  DDP averages the gradients over the N ranks, so the averaged gradient is the single-process
  step's, within float tolerance (the sums run in another order);
- at the start of each virtual epoch its torch generator (dropout) is seeded from (seed,
  virtual epoch, rank) (``seed_virtual_epoch``): a resumed run draws what an uninterrupted one
  drew, whichever rank was killed. So runs with the same N give the same bytes; another N
  draws other dropout masks (with ``dropout: 0`` every N takes the same steps, within float
  tolerance);
- rank 0 alone writes checkpoints, ``model/`` and the metrics; the other ranks end after the
  last virtual epoch (``finish``).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import subprocess
import sys

import numpy as np
import torch
import torch.distributed as dist

from common.errors import PipelineError
from common.stage import exit_now

log = logging.getLogger(__name__)
# torch.distributed.run sets these in every worker it starts.
RANK_ENV, WORLD_ENV, LOCAL_RANK_ENV = "RANK", "WORLD_SIZE", "LOCAL_RANK"


@dataclasses.dataclass(frozen=True)
class World:
    """This process's place among the run's processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def current_world() -> World:
    """The world torch.distributed.run describes in the environment, or a single process."""
    size = int(os.environ.get(WORLD_ENV, "1"))
    if size <= 1:
        return World()
    return World(int(os.environ[RANK_ENV]), size, int(os.environ.get(LOCAL_RANK_ENV, "0")))


def launch_command(processes: int, module: str = "train") -> list[str]:
    """``torchrun --standalone --nproc-per-node N -m module``, as this interpreter runs it."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # a rendezvous on this machine (a free loopback port)
        f"--nproc-per-node={processes}",
        "--max-restarts=0",  # a killed worker fails the stage; dvc repro resumes from the checkpoint
        "-m",
        module,
    ]


def launch_if_asked(processes: int, model: str) -> bool:
    """With ``train.model: torch`` and ``processes`` > 1, outside torchrun: run the stage under
    torch.distributed.run and return True (the workers wrote the outputs); else False."""
    if model != "torch" or processes <= 1 or current_world().distributed:
        return False
    command = launch_command(processes)
    log.info("torch: %d processes under torch.distributed.run", processes)
    # The workers must not wait for a terminal's progress bar; they log as this stage does.
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise PipelineError(
            f"train.torch.processes: {processes} processes under torch.distributed.run failed (exit "
            f"{done.returncode}); the checkpoint of the last virtual epoch resumes the run"
        )
    return True


def setup(device: torch.device) -> tuple[World, torch.device]:
    """Join the run's process group (gloo on the CPU, NCCL on CUDA); each worker takes the GPU
    of its local rank. A single process is left as it is."""
    world = current_world()
    if not world.distributed:
        return world, device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(minutes=30))
    return world, device


def wrap(model: torch.nn.Module, world: World, device: torch.device) -> torch.nn.Module:
    """The module the optimizer steps go through: ``model`` in DDP when distributed."""
    if not world.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def shard(rows: int, world: World) -> np.ndarray | slice:
    """This rank's rows of a micro-batch of ``rows``: r, r + N, ... (maybe none); a single
    process takes them all (a slice: the same tensors as before there were ranks)."""
    return np.arange(world.rank, rows, world.size) if world.distributed else slice(None)


def loss_divisor(examples: int, world: World) -> float | None:
    """What a rank divides its summed loss by, so that DDP's mean of the ranks' gradients is
    the gradient of the step's summed loss over ``examples`` (all ranks' examples); None for a
    single process (``accumulated_step`` divides by its own examples, as it always has)."""
    return examples / world.size if world.distributed else None


def total(value: float, world: World) -> float:
    """``value`` summed over the ranks (a virtual epoch's train loss)."""
    if not world.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(tensor)
    return float(tensor[0])


def seed_virtual_epoch(seed: int, virtual_epoch: int, world: World) -> None:
    """Distributed: seed this rank's torch generator for the virtual epoch about to run."""
    if world.distributed:
        state = np.random.SeedSequence([seed, virtual_epoch, world.rank]).generate_state(1, np.uint64)
        torch.manual_seed(int(state[0] >> np.uint64(1)))


def finish(world: World) -> None:
    """After the last virtual epoch: rank 0 leaves the group and goes on (it writes ``model/``
    and the metrics, alone); the other ranks exit here, at once. They have nothing to write,
    and their interpreter shutdown beside gloo's threads hung once in this project's test runs."""
    if not world.distributed:
        return
    dist.barrier()
    if world.is_main:
        dist.destroy_process_group()
        return
    exit_now(0)
