"""What `training/train.py` needs that is worth testing on its own: the paper's schedules as pure functions of the
step, a deterministic step-indexed batch sampler (exact resume, sharded across processes), atomic `checkpoint-{step}`
directories with pruning by step number, and health statistics of the tokenizer and the slots."""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")


# ---- schedules (paper §4 / Table 6; SLATE's `cosine_anneal` and `linear_warmup`) ---------------------------------
def cosine_anneal(step: int, start_value: float, end_value: float, num_steps: int, start_step: int = 0) -> float:
    """`start_value` until `start_step`, then half a cosine down to `end_value` over `num_steps`, then `end_value`.
    Used for the DVAE temperature τ (1.0 → 0.1) and the QSA query noise σ (1 → 0)."""
    if num_steps <= 0:
        return end_value if step >= start_step else start_value
    progress = min(max((step - start_step) / num_steps, 0.0), 1.0)
    return end_value + 0.5 * (start_value - end_value) * (1.0 + math.cos(math.pi * progress))


def linear_warmup(step: int, num_steps: int, start_step: int = 0) -> float:
    """Learning-rate factor: 0 until `start_step`, then linear up to 1 over `num_steps`, then 1."""
    if step < start_step:
        return 0.0
    if num_steps <= 0:
        return 1.0
    return min((step - start_step) / num_steps, 1.0)


def linear_cooldown(step: int, total_steps: int, num_steps: int) -> float:
    """Learning-rate factor of a warm-up–stable–decay run: 1, then linear down over the last `num_steps` of
    `total_steps` (step `total_steps - 1`, the last update, gets 1/num_steps); 1 throughout when `num_steps` is 0."""
    if num_steps <= 0:
        return 1.0
    return min(max((total_steps - step) / num_steps, 0.0), 1.0)


def resolve_num_steps(spec: str | float | int, total_steps: int, name: str) -> int:
    """A number of steps given absolutely ("3000") or as a fraction of the run ("0.05" or "5%")."""
    text = str(spec).strip()
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise ValueError(
            f"`{name}` must be a step count or a fraction of the run (e.g. 3000, 0.05, 5%), got {spec!r}"
        ) from None
    if value < 0:
        raise ValueError(f"`{name}` must be >= 0, got {spec!r}")
    if text.endswith("%") or value < 1.0:
        return round(value * total_steps)
    if value != int(value):
        raise ValueError(f"`{name}` must be an integer step count or a fraction below 1, got {spec!r}")
    return int(value)


@dataclass
class PlateauHalver:
    """Halves the learning rate when the monitored loss has not improved by `threshold` (relative) for `patience`
    consecutive evaluations (the 3D Shapes recipe of SLATE). `factor` multiplies the main learning rate."""

    patience: int = 4
    threshold: float = 1e-3
    factor: float = 1.0
    best: float = math.inf
    num_bad: int = 0

    def update(self, loss: float) -> float:
        if loss < self.best * (1.0 - self.threshold):
            self.best, self.num_bad = loss, 0
        else:
            self.num_bad += 1
            if self.num_bad >= self.patience:
                self.factor, self.num_bad = self.factor * 0.5, 0
        return self.factor

    def state_dict(self) -> dict:
        return {"factor": self.factor, "best": self.best, "num_bad": self.num_bad}

    def load_state_dict(self, state: dict) -> None:
        self.factor, self.best, self.num_bad = state["factor"], state["best"], state["num_bad"]


# ---- data order ---------------------------------------------------------------------------------------------------
class StepBatchSampler(torch.utils.data.Sampler):
    """Yields this process's batches of dataset indices, from global batch `start_batch` on.

    Global batch b holds `batch_size · num_processes` indices of the permutation of epoch ⌊b / batches_per_epoch⌋,
    a `torch.randperm` seeded with `seed + epoch`; process `rank` takes its `batch_size` slice. The order is a pure
    function of (seed, b), so a resumed run continues the same sequence and every process sees distinct data.
    The last incomplete global batch of an epoch is dropped.
    """

    def __init__(
        self,
        dataset_size: int,
        batch_size: int,
        seed: int,
        num_processes: int = 1,
        rank: int = 0,
        start_batch: int = 0,
        num_batches: int | None = None,
    ):
        global_batch = batch_size * num_processes
        if dataset_size < global_batch:
            raise ValueError(
                f"the dataset has {dataset_size} rows, fewer than one global batch "
                f"({batch_size} per process × {num_processes} processes)"
            )
        self.dataset_size, self.batch_size, self.seed = dataset_size, batch_size, seed
        self.num_processes, self.rank = num_processes, rank
        self.start_batch, self.num_batches = start_batch, num_batches
        self.batches_per_epoch = dataset_size // global_batch

    def __iter__(self) -> Iterator[list[int]]:
        batch, order, order_epoch = self.start_batch, None, None
        while self.num_batches is None or batch < self.start_batch + self.num_batches:
            epoch, position = divmod(batch, self.batches_per_epoch)
            if epoch != order_epoch:  # one permutation per epoch, not per batch
                order = torch.randperm(self.dataset_size, generator=torch.Generator().manual_seed(self.seed + epoch))
                order_epoch = epoch
            start = (position * self.num_processes + self.rank) * self.batch_size
            yield order[start : start + self.batch_size].tolist()
            batch += 1

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("an endless StepBatchSampler has no length")
        return self.num_batches


# ---- checkpoints --------------------------------------------------------------------------------------------------
def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete `checkpoint-{step}` directories of `output_dir`, sorted by step number (not by name)."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in output_dir.iterdir() if p.is_dir() and (m := CHECKPOINT_PATTERN.match(p.name))
    ]
    return [path for _, path in sorted(found)]


def checkpoint_step(path: str | Path) -> int:
    match = CHECKPOINT_PATTERN.match(Path(path).name)
    if match is None:
        raise ValueError(f"`resume_from_checkpoint` must name a `checkpoint-<step>` directory, got {str(path)!r}")
    return int(match.group(1))


def partial_checkpoint_dir(output_dir: str | Path, step: int) -> Path:
    """Where checkpoint `step` is written before `finalize_checkpoint` renames it; `list_checkpoints` ignores it."""
    return Path(output_dir) / f".tmp-checkpoint-{step}"


def remove_partial_checkpoints(output_dir: str | Path) -> list[Path]:
    """Deletes what a crash during a save left behind (`.tmp-checkpoint-*`); returns what it removed."""
    stale = sorted(Path(output_dir).glob(".tmp-checkpoint-*"))
    for path in stale:
        shutil.rmtree(path)
    return stale


def finalize_checkpoint(output_dir: str | Path, step: int) -> Path:
    """Renames the fully written `.tmp-checkpoint-{step}` to `checkpoint-{step}` (one atomic `os.replace`)."""
    final = Path(output_dir) / f"checkpoint-{step}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(partial_checkpoint_dir(output_dir, step), final)
    return final


def prune_checkpoints(output_dir: str | Path, total_limit: int | None) -> list[Path]:
    """Deletes the lowest-step checkpoints until at most `total_limit` remain; returns what it removed."""
    if total_limit is None:
        return []
    checkpoints = list_checkpoints(output_dir)
    removed = checkpoints[: max(len(checkpoints) - total_limit, 0)]
    for path in removed:
        shutil.rmtree(path)
    return removed


# ---- health of the tokenizer and the slots (learning_notes.md: watch these from the first hundred steps) -----------
def codes_in_use(tokens: torch.Tensor) -> int:
    """Number of distinct DVAE codes in `tokens` (B,L)."""
    return int(torch.unique(tokens).numel())


def slot_usage(slot_masks: torch.Tensor, min_fraction: float = 0.01) -> dict[str, float]:
    """From slot masks (B,K,H,W): mean number of slots that win more than `min_fraction` of an image's pixels,
    and the mean pixel fraction of each image's largest slot (1.0 = one slot takes the whole image)."""
    labels = slot_masks.argmax(1).flatten(1)  # (B,HW)
    num_slots = slot_masks.shape[1]
    fractions = torch.stack([(labels == k).float().mean(1) for k in range(num_slots)], 1)  # (B,K)
    return {
        "slots_used": (fractions > min_fraction).float().sum(1).mean().item(),
        "largest_slot_fraction": fractions.max(1).values.mean().item(),
    }
