"""One optimizer step of a small TextCNN, as the train stage's ranks take it under DDP.

Run by torch_model/tests/test_torch_distributed.py through torch's own launcher:
``python -m torch.distributed.run --standalone --nproc-per-node 2 torch_model/tests/ddp_step.py OUT``.
Every rank takes its shard of each micro-batch (``torch_model.distributed.shard``), divides its loss
as ``torch_model.distributed.loss_divisor`` says and steps through DistributedDataParallel; rank 0
saves the loss summed over the ranks, the averaged gradients and the updated weights to OUT.
``micro_batches()`` is the step's data, which the test also gives a single process.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from torch_model import distributed
from torch_model.data import pad_batch
from torch_model.loop import accumulated_step
from torch_model.model import Architecture, TextCNN, configure_determinism

# Sizes with odd counts and a micro-batch of one row: rank 1 gets fewer rows, once none.
SIZES, WIDTHS = (5, 1, 9), (3, 11, 6)


def micro_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The step's micro-batches (padded ids, labels), the same in every process."""
    rng = np.random.default_rng(0)
    batches = []
    for rows, width in zip(SIZES, WIDTHS, strict=True):
        sequences = [rng.integers(2, 30, size=rng.integers(1, width + 1)) for _ in range(rows)]
        labels = torch.from_numpy(rng.integers(0, 2, size=rows).astype(np.float32))
        batches.append((pad_batch(sequences), labels))
    return batches


def model() -> TextCNN:
    torch.manual_seed(0)
    return TextCNN(Architecture(vocab_size=30, embedding_dim=8, channels=6, kernel_size=3, dropout=0.0))


def optimizer_of(net: torch.nn.Module) -> torch.optim.Optimizer:
    # Plain SGD: its update is proportional to the gradient, so a wrongly scaled gradient shows.
    return torch.optim.SGD(net.parameters(), lr=0.5)


def main(out: Path) -> None:
    configure_determinism(1)
    world, device = distributed.setup(torch.device("cpu"))
    net = model()
    trainer = distributed.wrap(net, world, device)
    batches = micro_batches()
    shards = []
    for ids, labels in batches:
        rows = distributed.shard(len(labels), world)
        shards.append((ids[rows], labels[rows]))
    divisor = distributed.loss_divisor(sum(len(labels) for _, labels in batches), world)
    loss = distributed.total(accumulated_step(trainer, optimizer_of(trainer), shards, divisor), world)
    if world.is_main:
        torch.save(
            {
                "world_size": world.size,
                "loss": loss,
                "grads": {name: p.grad.clone() for name, p in net.named_parameters()},
                "params": {name: p.detach().clone() for name, p in net.named_parameters()},
            },
            out,
        )
    distributed.finish(world)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
