"""A real gloo process group: DistributedSampler shares out the data, DDP agrees on gradients."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from autograder import distributed_demo
from autograder.course import REPO

WORLD_SIZE, SIZE, BATCH = 3, 10, 2


@pytest.fixture(scope="module")
def reports():
    return distributed_demo.run(world_size=WORLD_SIZE, size=SIZE, batch_size=BATCH, epochs=2)


def test_every_rank_reports_from_its_own_process_group(reports):
    assert [r.rank for r in reports] == list(range(WORLD_SIZE))
    assert all(r.world_size == WORLD_SIZE for r in reports)


def test_each_rank_gets_what_a_sampler_given_rank_and_num_replicas_gives(reports):
    """Inside the group the sampler asked the group; outside, we pass rank and num_replicas."""
    dataset = distributed_demo.make_dataset(SIZE)
    for report in reports:
        sampler = DistributedSampler(dataset, num_replicas=WORLD_SIZE, rank=report.rank)
        for epoch, seen in enumerate(report.indices):
            sampler.set_epoch(epoch)
            assert seen == list(sampler), (report.rank, epoch)


def test_ranks_together_cover_the_dataset_with_padding(reports):
    per_rank = math.ceil(SIZE / WORLD_SIZE)
    for epoch in range(2):
        shares = [r.indices[epoch] for r in reports]
        assert all(len(share) == per_rank for share in shares)
        everything = sorted(i for share in shares for i in share)
        assert set(everything) == set(range(SIZE))
        assert len(everything) == per_rank * WORLD_SIZE  # 12: two indices appear twice
    assert reports[0].indices[0] != reports[0].indices[1], "set_epoch gave a new shuffle"


def test_ddp_gradients_are_identical_and_the_mean_of_the_local_ones(reports):
    local = torch.stack([r.local_grad for r in reports])
    assert not torch.allclose(local[0], local[1]), "each rank saw different data"
    for report in reports:
        assert torch.equal(report.ddp_grad, reports[0].ddp_grad)
        assert torch.equal(report.weight_after_step, reports[0].weight_after_step)
    torch.testing.assert_close(reports[0].ddp_grad, local.mean(0))


def test_the_ddp_gradient_is_the_gradient_on_all_ranks_batches_at_once(reports):
    dataset = distributed_demo.make_dataset(SIZE)
    batch = [i for r in reports for i in r.batch]
    assert all(len(r.batch) == BATCH for r in reports)
    _, x, y = dataset[batch]
    model = distributed_demo.make_model()
    nn.functional.mse_loss(model(x), y).backward()
    torch.testing.assert_close(reports[0].ddp_grad, distributed_demo.flat_grad(model))


@pytest.mark.slow
def test_spawned_processes_import_the_worker_from_the_module():
    """With "spawn", each rank is a fresh interpreter that imports the worker by name.

    Run from a fresh interpreter too: spawning from inside a pytest-xdist worker can hang.
    """
    result = subprocess.run(
        [sys.executable, "-m", "autograder.distributed_demo", "2", "spawn"],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    spawned = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["rank"] for r in spawned] == [0, 1]
    together = [i for r in spawned for i in r["indices"][0]]
    assert len(together) == 10 and set(together) == set(range(10))
    assert spawned[0]["ddp_grad"] == spawned[1]["ddp_grad"]


def test_runs_back_to_back_all_finish():
    """A rank that hangs on its way out (seen here in 3 runs of 16 before ranks exited at once)
    would make the book build and this test time out."""
    for _ in range(12):
        reports = distributed_demo.run(world_size=WORLD_SIZE, size=SIZE, timeout=30)
        assert len(reports) == WORLD_SIZE
