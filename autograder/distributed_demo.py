"""A real ``torch.distributed`` run on CPU: one gloo process group, a ``DistributedSampler`` per
rank, and one ``DistributedDataParallel`` training step.

``run(world_size)`` starts ``world_size`` processes with ``torch.multiprocessing.start_processes``.
With the ``"spawn"`` start method each new interpreter imports its target function by module and
name, which is why it lives in a module and not in a notebook cell. The default, ``"fork"``,
copies the parent instead: torch is already imported, so the run takes about a second rather
than one torch import per rank. Each rank writes what it saw to a scratch folder; ``run`` reads
the files back and returns one :class:`RankReport` per rank.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401 - DDP imports it on first use; import once here, not per rank
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset


@dataclass
class RankReport:
    """What one process saw."""

    rank: int
    world_size: int
    indices: list[list[int]]  # this rank's share of the dataset, one list per epoch
    batch: list[int]  # the indices of the batch used for the training step
    local_grad: torch.Tensor  # gradient of this rank's loss alone (weight and bias, flattened)
    ddp_grad: torch.Tensor  # gradient after DistributedDataParallel's all-reduce
    weight_after_step: torch.Tensor  # parameters after one SGD step


def make_dataset(size: int, features: int = 3, seed: int = 0) -> TensorDataset:
    """A small regression dataset; the same on every rank because the seed is."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(size, features, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])[:features] + 0.1 * torch.randn(
        size, 1, generator=generator
    )
    return TensorDataset(torch.arange(size), x, y)


def make_model(features: int = 3, seed: int = 0) -> nn.Module:
    """The model every rank starts from (DDP would broadcast rank 0's anyway)."""
    torch.manual_seed(seed)
    return nn.Linear(features, 1)


def flat_grad(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()])


def _worker(
    rank: int,
    world_size: int,
    init_file: str,
    scratch: str,
    size: int,
    batch_size: int,
    epochs: int,
    seed: int,
    timeout: float,
) -> None:
    """Runs in each spawned process; ``rank`` comes first, as ``mp.spawn`` passes it."""
    torch.set_num_threads(1)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=timeout),
    )
    try:
        dataset = make_dataset(size)
        # No num_replicas or rank: the sampler asks the process group, as in a real job.
        sampler = DistributedSampler(dataset, seed=seed)
        loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler)
        indices = []
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            indices.append([int(i) for batch in loader for i in batch[0]])

        sampler.set_epoch(0)
        batch_ids, x, y = next(iter(loader))
        model = make_model(seed=seed)
        alone = copy.deepcopy(model)
        nn.functional.mse_loss(alone(x), y).backward()

        ddp = DistributedDataParallel(model)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
        nn.functional.mse_loss(ddp(x), y).backward()  # the all-reduce happens in here
        ddp_grad = flat_grad(model)
        optimizer.step()
        report = RankReport(
            rank=rank,
            world_size=world_size,
            indices=indices,
            batch=batch_ids.tolist(),
            local_grad=flat_grad(alone).detach(),
            ddp_grad=ddp_grad.detach().clone(),
            weight_after_step=torch.cat([p.detach().reshape(-1) for p in model.parameters()]),
        )
        torch.save(report.__dict__, Path(scratch) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()
    # Leave at once: now and then (3 runs in 16 here) one rank hung in the destructors that
    # run after this function returns, although its report was written and the group destroyed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run(
    world_size: int = 3,
    size: int = 10,
    batch_size: int = 2,
    epochs: int = 2,
    seed: int = 0,
    start_method: str = "fork",
    timeout: float = 60.0,
) -> list[RankReport]:
    """Start a gloo group of ``world_size`` CPU processes and return each rank's report.

    Raises ``TimeoutError`` (after stopping the processes) when they have not all finished
    within ``timeout`` seconds, rather than hanging on a rank that never joined the group.
    """
    with tempfile.TemporaryDirectory() as scratch:
        init_file = Path(scratch) / "rendezvous"
        context = mp.start_processes(
            _worker,
            args=(world_size, str(init_file), scratch, size, batch_size, epochs, seed, timeout),
            nprocs=world_size,
            join=False,
            start_method=start_method,
        )
        deadline = time.monotonic() + timeout
        while not context.join(timeout=0.5):
            if time.monotonic() > deadline:
                for process in context.processes:
                    process.terminate()
                raise TimeoutError(f"the {world_size} ranks did not finish in {timeout} s")
        return [
            RankReport(**torch.load(Path(scratch) / f"rank{rank}.pt")) for rank in range(world_size)
        ]


def main(argv: list[str]) -> None:
    """``python -m autograder.distributed_demo [WORLD_SIZE] [START_METHOD]``: JSON per rank."""
    world_size = int(argv[0]) if argv else 3
    start_method = argv[1] if len(argv) > 1 else "fork"
    for report in run(world_size=world_size, start_method=start_method):
        summary = {
            "rank": report.rank,
            "world_size": report.world_size,
            "indices": report.indices,
            "ddp_grad": report.ddp_grad.tolist(),
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main(sys.argv[1:])
