"""How fast does a DataLoader deliver samples? Two side-by-side measurements.

1. ``num_workers``: samples per second for 0, 1 and 2 worker processes on a dataset whose
   ``__getitem__`` is CPU-bound pure Python (the same work on every run, no sleeping), with
   the workers already running, and once more with their start-up included.
2. Per-item versus batched fetch: ``batch_size=B`` (B calls of ``dataset[i]``, then
   ``default_collate``) against a ``BatchSampler`` passed as ``sampler`` with
   ``batch_size=None`` (one call of ``dataset[[i, j, ...]]`` per batch).

Every number is measured in the same run as the one it is compared with, and reported as a
ratio. The settings are timed in turn, ``repeats`` rounds, and each one's fastest run counts:
on a shared machine the slow runs measure the neighbours, and taking turns gives every
setting the same chance of a quiet moment.

Run it: ``python benchmarks/loader_throughput.py`` (``--quick`` for small sizes). The book's
chapter 06_dataloader imports it and calls the same functions with small sizes.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, SequentialSampler


class CpuHeavyDataset(Dataset):
    """Item ``i`` costs ``work`` iterations of a pure-Python loop, then becomes a tensor.

    The loop holds the interpreter (and its GIL) the whole time, like decoding or augmenting
    an image in Python would: only more processes make it faster.
    """

    def __init__(self, size: int, work: int = 2000) -> None:
        self.size = size
        self.work = work

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> torch.Tensor:
        acc = index
        for step in range(self.work):
            acc = (acc * 1103515245 + step) % 2147483647
        return torch.tensor([index, acc % 1000], dtype=torch.float32)


class ArrayDataset(Dataset):
    """Features and labels held in two tensors; an index may be an int or a list of ints.

    ``dataset[i]`` is one sample ``(x, y)``; ``dataset[[i, j, k]]`` is a whole batch
    ``(X, Y)`` cut out with one tensor indexing operation.
    """

    def __init__(self, size: int, features: int = 16, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.X = torch.randn(size, features, generator=generator)
        self.y = torch.randint(0, 10, (size,), generator=generator)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int | list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(index, list):
            rows = torch.tensor(index)
            return self.X[rows], self.y[rows]
        return self.X[index], self.y[index]


def per_item_loader(dataset: Dataset, batch_size: int) -> DataLoader:
    """The usual loader: ``batch_size`` calls of ``dataset[i]`` per batch, then collate."""
    return DataLoader(dataset, batch_size=batch_size)


def batched_loader(dataset: Dataset, batch_size: int) -> DataLoader:
    """One call of ``dataset[list_of_indices]`` per batch: a BatchSampler used as sampler."""
    sampler = BatchSampler(SequentialSampler(dataset), batch_size=batch_size, drop_last=False)
    return DataLoader(dataset, sampler=sampler, batch_size=None)


def batch_length(batch: Any) -> int:
    """Number of samples in a batch: the first dimension of its first tensor."""
    while not isinstance(batch, torch.Tensor):
        batch = batch[0] if isinstance(batch, Sequence) else next(iter(batch.values()))
    return len(batch)


def samples_per_second(make_loader: Callable[[], Iterable[Any]], repeats: int = 3) -> float:
    """Samples per second of one full pass over ``make_loader()``; the best of ``repeats``.

    The loader is built inside the timed region, so worker start-up is part of the cost.
    """
    return compare({"only": make_loader}, repeats)["only"]


def compare(makers: dict[str, Callable[[], Iterable[Any]]], repeats: int = 3) -> dict[str, float]:
    """Best samples/s of each loader, timed round-robin so every one sees the same load."""
    best = dict.fromkeys(makers, float("inf"))
    counts = dict.fromkeys(makers, 0)
    for _ in range(repeats):
        for name, make_loader in makers.items():
            start = time.perf_counter()
            counts[name] = sum(batch_length(batch) for batch in make_loader())
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: counts[name] / best[name] for name in makers}


def _with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["ratio"] = row["samples_per_s"] / rows[0]["samples_per_s"]
    return rows


def workers_table(
    size: int = 4000,
    work: int = 2000,
    batch_size: int = 32,
    workers: Iterable[int] = (0, 1, 2),
    repeats: int = 3,
    threads: int | None = 1,
    include_startup: bool = False,
) -> list[dict[str, Any]]:
    """Samples/s of a CPU-heavy dataset for each ``num_workers``, with the ratio to the first.

    By default the workers are started before timing (``persistent_workers=True`` and one
    untimed warm-up epoch), so the table compares loading speed; ``include_startup=True``
    builds a fresh loader for every timed epoch instead, start-up included.

    DataLoader runs every worker with one intra-op thread; ``threads=1`` (the default) gives
    the main process the same for the duration, so that ``num_workers=0`` is not slowed by
    thread hand-offs on each tiny tensor operation. ``threads=None`` leaves torch's setting.
    """
    dataset = CpuHeavyDataset(size, work)
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        if include_startup:
            makers = {
                n: lambda n=n: DataLoader(dataset, batch_size=batch_size, num_workers=n)
                for n in workers
            }
        else:
            loaders = {
                n: DataLoader(
                    dataset, batch_size=batch_size, num_workers=n, persistent_workers=n > 0
                )
                for n in workers
            }
            for loader in loaders.values():
                for _ in loader:  # warm-up epoch: starts the persistent workers
                    pass
            makers = {n: lambda loader=loader: loader for n, loader in loaders.items()}
        rates = compare(makers, repeats)
    finally:
        torch.set_num_threads(before)
    return _with_ratios([{"num_workers": n, "samples_per_s": rate} for n, rate in rates.items()])


def fetch_table(
    size: int = 20000, features: int = 16, batch_size: int = 64, repeats: int = 3
) -> list[dict[str, Any]]:
    """Samples/s of per-item and batched fetch from the same dataset, ratio to per-item."""
    dataset = ArrayDataset(size, features)
    rates = compare(
        {
            "per-item": lambda: per_item_loader(dataset, batch_size),
            "batched": lambda: batched_loader(dataset, batch_size),
        },
        repeats,
    )
    return _with_ratios([{"fetch": name, "samples_per_s": rate} for name, rate in rates.items()])


def machine_load() -> str:
    """The 1-minute load average and the core count: how busy the machine was."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: one line per row, numbers rounded for reading."""
    columns = list(rows[0])
    cells = [[_cell(row[column]) for column in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    args = parser.parse_args(argv)
    scale = 4 if args.quick else 1
    print(f"torch {torch.__version__}, {machine_load()} before measuring\n")
    print("CPU-heavy __getitem__, samples/s by num_workers (ratio to num_workers=0),")
    print("main process with 1 intra-op thread like the workers:")
    print(format_table(workers_table(size=4000 // scale)))
    print(f"\nthe same, main process with torch's default of {torch.get_num_threads()} threads:")
    print(format_table(workers_table(size=4000 // scale, threads=None)))
    print("\nthe same, 1 thread, a fresh loader per epoch (worker start-up included):")
    print(format_table(workers_table(size=4000 // scale, include_startup=True)))
    print("\nPer-item versus batched fetch, samples/s (ratio to per-item):")
    print(format_table(fetch_table(size=20000 // scale)))
    print(f"\n{machine_load()} after measuring")


if __name__ == "__main__":
    main()
